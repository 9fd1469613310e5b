"""The uplink service: the rate-limited internet check, the WAN data accounting, is_up(), the status text.

The internet check runs against a real HTTP server started here on 127.0.0.1. The WAN counters are read
from a temporary folder laid out like /sys/class/net (and once from the real ``lo``). Two things are
stand-ins: the default route (the host's routing table must not matter to these tests; the real netifaces
lookup is only asked not to fail) and, where a modem is shown, tests/stands/mmcli_stand.py as the mmcli
binary, since no test machine has a modem (see test_modem.py).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kiosk.adapters.interface_counters import CounterReading, InterfaceCounters
from kiosk.adapters.modem import ModemManagerCli, NoModem
from kiosk.adapters.reachability import DefaultRoute, HttpProbe, ProbeResult, default_interface
from kiosk.services.uplink import (
    UplinkConfig,
    UplinkService,
    UplinkStatus,
    as_dict,
    format_status,
    human_bytes,
    usage_delta,
)
from kiosk.settings import defaults
from kiosk.store import Store
from tests.conftest import ManualClock
from tests.support.system import unavailable

STAND = Path(__file__).resolve().parents[1] / "stands" / "mmcli_stand.py"
GB = 1_000_000_000
MB = 1_000_000


class CheckServer:
    """A real HTTP server answering the check URL with ``status``; counts the requests it gets."""

    def __init__(self) -> None:
        self.status = 204
        self.requests = 0
        self.arrived = threading.Event()
        self.hold: threading.Event | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                server.arrived.set()
                if server.hold is not None:
                    server.hold.wait(10)
                self.send_response(server.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/generate_204"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(10)
            self.running = False


@pytest.fixture
def server():
    check_server = CheckServer()
    yield check_server
    if check_server.hold is not None:
        check_server.hold.set()
    check_server.stop()


class FixedRoute:
    def __init__(self, interface: str | None = "wwan0") -> None:
        self.current = interface

    def interface(self) -> str | None:
        return self.current


class NoModems:
    def first_modem(self) -> NoModem:
        return NoModem("no modem found")


class SysClassNet:
    """A folder laid out like /sys/class/net, plus a boot id file, that tests write counters into."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.boot_id = root / "boot_id"
        self.boots = 0
        self.boot_id.write_text("11111111-2222-3333-4444-555555555555\n")

    def set(self, interface: str, rx: int, tx: int, ifindex: int = 4) -> None:
        statistics = self.root / "net" / interface / "statistics"
        statistics.mkdir(parents=True, exist_ok=True)
        (statistics / "rx_bytes").write_text(f"{rx}\n")
        (statistics / "tx_bytes").write_text(f"{tx}\n")
        (self.root / "net" / interface / "ifindex").write_text(f"{ifindex}\n")

    def reboot(self) -> None:
        self.boots += 1
        self.boot_id.write_text(f"{self.boots:08d}-8888-7777-6666-555555555555\n")

    def counters(self) -> InterfaceCounters:
        return InterfaceCounters(self.root / "net", self.boot_id)


@pytest.fixture
def sysfs(tmp_path: Path) -> SysClassNet:
    return SysClassNet(tmp_path / "sys")


def new_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "kiosk.db")
    store.upgrade()
    return store


def config(url: str = "http://127.0.0.1:9/generate_204", enabled: bool = True, check_minutes: int = 5,
           cap_bytes: int = 0, warn_percent: int = 80, wan: str = "wwan0") -> UplinkConfig:
    return UplinkConfig(wan_interface=wan, check_enabled=enabled, check_url=url, check_seconds=check_minutes * 60,
                        monthly_cap_bytes=cap_bytes, warn_percent=warn_percent, probe_timeout_s=5.0)


def service(store: Store, clock: ManualClock, *, cfg: UplinkConfig | None = None, route: FixedRoute | None = None,
            counters=None, modems=None, tz=UTC) -> UplinkService:
    cfg = cfg or config()
    return UplinkService(store, cfg, modems=modems or NoModems(), counters=counters or InterfaceCounters(),
                         probe=HttpProbe(cfg.check_url, cfg.probe_timeout_s), route=route or FixedRoute(),
                         clock=clock, local_timezone=tz, route_ttl_s=0.0)


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0, tz=UTC) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


# --- the probe and the default route (adapters) -------------------------------------------------


def test_probe_answers_and_failures(server):
    probe = HttpProbe(server.url, timeout_s=5)
    assert probe.check() == ProbeResult(True, "HTTP 204")
    server.status = 200
    assert probe.check() == ProbeResult(True, "HTTP 200")
    server.status = 302  # someone else's captive portal: its login page is not the internet
    assert probe.check() == ProbeResult(False, "HTTP 302")
    server.status = 500
    assert probe.check() == ProbeResult(False, "HTTP 500")
    server.stop()
    assert probe.check() == ProbeResult(False, "connection refused")


def test_probe_gives_up_at_its_deadline():
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        probe = HttpProbe(f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout_s=0.3)
        assert probe.check() == ProbeResult(False, "timed out")


def test_probe_refuses_what_is_not_an_http_url():
    with pytest.raises(ValueError, match="not an http"):
        HttpProbe("")
    with pytest.raises(ValueError, match="not an http"):
        HttpProbe("ftp://example.org/")


def test_default_route_lookup():
    assert default_interface({"default": {2: ("192.0.2.1", "wwan0")}, 2: [("192.0.2.1", "wwan0", True)]}) == "wwan0"
    assert default_interface({"default": {10: ("fd00::1", "eth0")}}) is None  # IPv6 only: not the kit's way out
    assert default_interface({}) is None
    found = DefaultRoute().interface()  # the host's own table: only asked not to fail
    assert found is None or isinstance(found, str)


# --- the internet check -------------------------------------------------------------------------


def test_check_is_rate_limited_by_the_kit_clock(tmp_path, server):
    clock = ManualClock()
    uplink = service(new_store(tmp_path), clock, cfg=config(server.url, check_minutes=5))
    first = uplink.check_internet()
    assert (first.answered, first.detail, first.checked_at, first.interface) == (True, "HTTP 204", clock.now, "wwan0")
    assert server.requests == 1

    server.status = 500
    clock.advance(5 * 60 - 1)
    assert uplink.check_internet() == first  # cached: no request
    assert uplink.status().internet is True
    assert server.requests == 1

    clock.advance(1)
    failed = uplink.check_internet()
    assert (failed.answered, failed.detail) == (False, "HTTP 500")
    assert server.requests == 2

    server.stop()
    clock.advance(5 * 60)
    down = uplink.check_internet()
    assert (down.answered, down.detail) == (False, "connection refused")
    assert server.requests == 2


def test_the_last_check_is_shared_through_the_store(tmp_path, server):
    """The CLI and the portal are different processes: one request per period for the whole kit."""
    clock = ManualClock()
    store = new_store(tmp_path)
    service(store, clock, cfg=config(server.url)).check_internet()
    clock.advance(60)
    other = service(Store(tmp_path / "kiosk.db"), clock, cfg=config(server.url))
    assert other.check_internet().answered is True
    assert other.status().checked_at == clock.now - 60
    assert server.requests == 1


def test_a_new_default_route_is_checked_again(tmp_path, server):
    clock = ManualClock()
    route = FixedRoute("wwan0")
    uplink = service(new_store(tmp_path), clock, cfg=config(server.url), route=route)
    uplink.check_internet()
    route.current = "usb0"  # the mediator plugged in a phone to tether
    assert uplink.check_internet().interface == "usb0"
    assert server.requests == 2


def test_a_clock_set_backwards_does_not_freeze_the_answer(tmp_path, server):
    clock = ManualClock()
    uplink = service(new_store(tmp_path), clock, cfg=config(server.url))
    uplink.check_internet()
    clock.advance(-3600)  # NTP or the modem corrected a clock that ran ahead
    uplink.check_internet()
    assert server.requests == 2
    clock.advance(60)
    assert uplink.check_internet().checked_at == clock.now - 60  # and the new answer is kept
    assert service(Store(tmp_path / "kiosk.db"), clock, cfg=config(server.url)).check_internet().checked_at == \
        clock.now - 60
    assert server.requests == 2


def test_a_store_that_cannot_keep_the_check_still_limits_requests(tmp_path, server):
    clock = ManualClock()
    broken = Store(tmp_path / "never-upgraded.db")  # no uplink_check table: every read and write fails
    uplink = service(broken, clock, cfg=config(server.url))
    assert uplink.check_internet().answered is True
    clock.advance(60)
    assert uplink.check_internet().answered is True
    assert uplink.is_up() is True
    assert uplink.wait_for_background_check(10)
    assert server.requests == 1


def test_checks_disabled_send_nothing(tmp_path, server):
    clock = ManualClock()
    uplink = service(new_store(tmp_path), clock, cfg=config(server.url, enabled=False))
    assert uplink.check_internet() is None
    assert uplink.is_up() is True
    assert uplink.wait_for_background_check(5)
    status = uplink.status()
    assert (status.internet, status.checked_at, status.internet_detail) == (None, None, "checks disabled")
    assert "internet: not checked (checks disabled)" in format_status(status)
    assert server.requests == 0


def test_no_default_route_sends_nothing(tmp_path, server):
    clock = ManualClock()
    uplink = service(new_store(tmp_path), clock, cfg=config(server.url), route=FixedRoute(None))
    assert uplink.check_internet() is None
    assert uplink.is_up() is False
    status = uplink.status()
    assert (status.interface, status.internet, status.internet_detail) == (None, False, "no default route")
    assert server.requests == 0


def test_one_check_at_a_time_across_threads(tmp_path, server):
    clock = ManualClock()
    uplink = service(new_store(tmp_path), clock, cfg=config(server.url))
    server.hold = threading.Event()
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(uplink.check_internet())) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert server.arrived.wait(10)  # one request is in flight, the other threads queue behind it
    server.hold.set()
    for thread in threads:
        thread.join(10)
    assert len(answers) == 8 and len(set(answers)) == 1
    assert server.requests == 1


def test_is_up_never_waits_for_the_network(tmp_path, server):
    clock = ManualClock()
    uplink = service(new_store(tmp_path), clock, cfg=config(server.url))
    server.hold = threading.Event()
    assert uplink.is_up() is True  # never checked: a route is enough, and a check starts behind the scenes
    assert server.arrived.wait(10)
    assert uplink.is_up() is True  # still answers while the check hangs
    server.status = 500
    server.hold.set()
    assert uplink.wait_for_background_check(10)
    assert server.requests == 1
    assert uplink.is_up() is False  # the check failed
    assert server.requests == 1  # and it is fresh: nothing started

    server.hold = None
    server.status = 204
    clock.advance(5 * 60)
    assert uplink.is_up() is False  # stale failure: still down until the new check says otherwise
    assert uplink.wait_for_background_check(10)
    assert uplink.is_up() is True
    assert server.requests == 2


# --- data usage ---------------------------------------------------------------------------------


def test_counters_from_a_sysfs_folder(sysfs):
    sysfs.set("wwan0", 1500, 700, ifindex=5)
    reading = sysfs.counters().read("wwan0")
    assert reading == CounterReading("wwan0", 1500, 700, "11111111-2222-3333-4444-555555555555/5")
    assert reading.total == 2200
    assert sysfs.counters().read("usb0") is None
    assert sysfs.counters().read("../net/wwan0") is None
    (sysfs.root / "net" / "wwan0" / "statistics" / "rx_bytes").write_text("garbage\n")
    assert sysfs.counters().read("wwan0") is None


def test_usage_delta_rules():
    reading = CounterReading("wwan0", 500, 300, "boot/4")
    assert usage_delta(None, reading) == (500, 300)
    assert usage_delta(("boot/4", 200, 100), reading) == (300, 200)
    assert usage_delta(("boot/4", 900, 100), reading) == (500, 200)  # rx went back: counted from zero
    assert usage_delta(("other-boot/4", 100, 100), reading) == (500, 300)


def test_usage_grows_and_survives_a_restart_of_the_kit(tmp_path, sysfs):
    clock = ManualClock(at(2026, 5, 12, 9))
    store = new_store(tmp_path)
    uplink = service(store, clock, counters=sysfs.counters())
    sysfs.set("wwan0", 1000, 200)
    assert uplink.record_usage() == 1200  # first reading: this boot's traffic so far
    sysfs.set("wwan0", 5000, 1200)
    clock.advance(60)
    assert uplink.record_usage() == 5000
    assert uplink.record_usage() == 0  # nothing moved
    assert uplink.usage() == (6200, 6200)

    sysfs.set("wwan0", 8000, 1200)  # carried while the kit's process restarted
    restarted = service(Store(tmp_path / "kiosk.db"), clock, counters=sysfs.counters())
    assert restarted.record_usage() == 3000
    assert restarted.usage() == (9200, 9200)


def test_usage_after_a_reboot_or_a_replugged_modem(tmp_path, sysfs):
    clock = ManualClock(at(2026, 5, 12, 9))
    uplink = service(new_store(tmp_path), clock, counters=sysfs.counters())
    sysfs.set("wwan0", 50_000, 10_000)
    uplink.record_usage()

    sysfs.reboot()
    sysfs.set("wwan0", 2_000, 500)  # lower than before: counted from zero
    assert uplink.record_usage() == 2_500

    sysfs.reboot()
    sysfs.set("wwan0", 90_000, 20_000)  # higher than before, yet a new boot: all of it is new traffic
    assert uplink.record_usage() == 110_000

    (sysfs.root / "net" / "wwan0").rename(sysfs.root / "gone")  # modem unplugged
    assert uplink.record_usage() == 0
    sysfs.set("wwan0", 3_000, 1_000, ifindex=9)  # plugged back: a new interface
    assert uplink.record_usage() == 4_000
    assert uplink.usage()[0] == 60_000 + 2_500 + 110_000 + 4_000


def test_usage_counts_local_days_and_calendar_months(tmp_path, sysfs):
    paris_summer = timezone(timedelta(hours=2))
    clock = ManualClock(at(2026, 6, 30, 23, 50, tz=paris_summer))
    uplink = service(new_store(tmp_path), clock, counters=sysfs.counters(), tz=paris_summer)
    sysfs.set("wwan0", 1_000, 0)
    uplink.record_usage()
    assert uplink.usage() == (1_000, 1_000)

    clock.now = at(2026, 6, 30, 22, 5)  # 00:05 on 1 July in Paris, still 30 June in UTC
    sysfs.set("wwan0", 1_300, 0)
    uplink.record_usage()
    assert uplink.usage() == (300, 300)  # a new day and a new month
    assert uplink.usage(at(2026, 6, 30, 12, tz=paris_summer)) == (1_000, 1_000)

    clock.now = at(2026, 7, 2, 10, tz=paris_summer)
    sysfs.set("wwan0", 1_700, 0)
    uplink.record_usage()
    assert uplink.usage() == (400, 700)


def test_real_loopback_traffic_is_counted(tmp_path):
    if InterfaceCounters().read("lo") is None:
        unavailable("no /sys/class/net/lo here: the real interface counters cannot be read")
    clock = ManualClock()
    uplink = service(new_store(tmp_path), clock, cfg=config(wan="lo"), counters=InterfaceCounters())
    uplink.record_usage()
    payload = b"x" * 3_000_000
    with socket.create_server(("127.0.0.1", 0)) as listener:
        sender = socket.create_connection(listener.getsockname())
        receiver, _ = listener.accept()
        with sender, receiver:
            sender.sendall(payload)
            sender.shutdown(socket.SHUT_WR)
            received = 0
            while chunk := receiver.recv(1 << 16):
                received += len(chunk)
    assert received == len(payload)
    # On lo every byte is both sent and received; the kernel also counts headers (and others' traffic).
    assert uplink.record_usage() >= 2 * len(payload)


# --- status, its text and its JSON --------------------------------------------------------------


@pytest.fixture
def stand_mmcli(monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("MMCLI_STAND_SCENARIO", "quectel-orange")
    return ModemManagerCli(str(STAND))


def test_status_text_and_json(tmp_path, server, sysfs, stand_mmcli):
    clock = ManualClock(at(2026, 5, 20, 10))
    store = new_store(tmp_path)
    with store.write() as db:
        db.execute("INSERT INTO uplink_usage (day, rx_bytes, tx_bytes) VALUES ('2026-05-02', ?, ?)",
                   (2_900 * MB, 180 * MB))
    uplink = service(store, clock, cfg=config(server.url, cap_bytes=20 * GB), counters=sysfs.counters(),
                     modems=stand_mmcli)
    sysfs.set("wwan0", 100 * MB, 20 * MB)
    uplink.record_usage()
    uplink.check_internet()
    clock.advance(130)

    status = uplink.status()
    assert server.requests == 1
    assert (status.today_bytes, status.month_bytes, status.cap_percent) == (120 * MB, 3_200 * MB, 16)
    assert not status.cap_warning and not status.cap_exceeded
    assert format_status(status) == "\n".join([
        "uplink: wwan0 (default route)",
        "internet: answers (HTTP 204, checked 2 min ago)",
        "modem: Quectel EC25 — Orange F, LTE, signal 71%, connected",
        "data: today 120 MB, this month 3.2 GB of 20 GB (16%)",
    ])
    document = json.loads(json.dumps(as_dict(status)))
    assert document["internet"] == {"enabled": True, "answers": True, "checked_at": clock.now - 130,
                                    "detail": "HTTP 204"}
    assert document["modem"]["operator_code"] == "20801"
    assert document["modem"]["access_technologies"] == ["lte"]
    assert document["data"] == {"today_bytes": 120 * MB, "month_bytes": 3_200 * MB, "monthly_cap_bytes": 20 * GB,
                                "cap_percent": 16, "warn_percent": 80, "cap_warning": False,
                                "cap_exceeded": False}


def make_status(**changes) -> UplinkStatus:
    values = dict(now=1_000_000.0, interface="wwan0", wan_interface="wwan0", checks_enabled=True, internet=False,
                  checked_at=1_000_000.0 - 30, internet_detail="timed out", modem=None,
                  modem_reason="ModemManager is not running", today_bytes=0, month_bytes=0, monthly_cap_bytes=0,
                  warn_percent=80)
    values.update(changes)
    return UplinkStatus(**values)


def test_status_text_when_things_go_wrong():
    text = format_status(make_status(interface="usb0", month_bytes=17 * GB, monthly_cap_bytes=20 * GB))
    assert text.splitlines() == [
        "uplink: usb0 (default route; network.wan_interface is wwan0, whose data is counted)",
        "internet: does not answer (timed out, checked just now)",
        "modem: none (ModemManager is not running)",
        "data: today 0 B, this month 17 GB of 20 GB (85%)",
        "warning: 85% of the monthly data cap used (warning from 80%)",
    ]
    over = make_status(interface=None, internet=False, checked_at=None, internet_detail="no default route",
                       month_bytes=20 * GB, monthly_cap_bytes=20 * GB)
    assert over.cap_warning and over.cap_exceeded
    assert format_status(over).splitlines()[0] == "uplink: none (no default route: only the kit's own services work)"
    assert format_status(over).splitlines()[1] == "internet: does not answer (no default route)"
    assert format_status(over).splitlines()[-1] == "warning: the monthly data cap is used up"
    never = make_status(internet=None, checked_at=None, internet_detail="not checked yet", today_bytes=5 * MB,
                        month_bytes=5 * MB)
    assert format_status(never).splitlines()[1:] == [
        "internet: not checked (not checked yet)",
        "modem: none (ModemManager is not running)",
        "data: today 5 MB, this month 5 MB (no monthly cap)",
    ]


def test_cap_thresholds():
    assert not make_status(month_bytes=79 * MB, monthly_cap_bytes=100 * MB).cap_warning
    assert make_status(month_bytes=80 * MB, monthly_cap_bytes=100 * MB).cap_warning
    assert not make_status(month_bytes=100 * MB - 1, monthly_cap_bytes=100 * MB).cap_exceeded
    assert make_status(month_bytes=100 * MB, monthly_cap_bytes=100 * MB).cap_exceeded
    no_cap = make_status(month_bytes=10 * GB)
    assert (no_cap.cap_percent, no_cap.cap_warning, no_cap.cap_exceeded) == (None, False, False)


def test_human_bytes():
    assert [human_bytes(n) for n in (0, 999, 1_000, 120 * MB, 3_200 * MB, 20 * GB, 9_960_000)] == \
        ["0 B", "999 B", "1 kB", "120 MB", "3.2 GB", "20 GB", "10 MB"]


def test_config_from_settings():
    settings = defaults().replace(uplink__monthly_cap_mb=20_000, uplink__check_minutes=10)
    cfg = UplinkConfig.from_settings(settings)
    assert (cfg.wan_interface, cfg.check_enabled, cfg.check_seconds, cfg.monthly_cap_bytes, cfg.warn_percent) == \
        ("wwan0", True, 600, 20 * GB, 80)
    assert not UplinkConfig.from_settings(defaults().replace(uplink__check_url="")).check_enabled
    assert not UplinkConfig.from_settings(defaults().replace(uplink__check_enabled=False)).check_enabled


def test_built_from_settings_without_checks_sends_nothing(tmp_path):
    settings = defaults().replace(uplink__check_enabled=False, uplink__mmcli=str(tmp_path / "no-mmcli"))
    uplink = UplinkService.from_settings(new_store(tmp_path), settings, clock=ManualClock())
    assert not uplink.checks_enabled
    status = uplink.status()
    assert status.internet is None
    assert status.modem_reason == f"mmcli is not installed ({tmp_path / 'no-mmcli'} not found)"


def test_waiting_for_no_background_check_returns_at_once(tmp_path):
    assert service(new_store(tmp_path), ManualClock()).wait_for_background_check(5)
