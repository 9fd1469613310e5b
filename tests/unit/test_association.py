"""Sessions bound to the Wi-Fi association: a phone that leaves loses its access at once, with reason
``left`` in the store and the connection log, and only a phone on the Wi-Fi now is granted.

The boundary: this kernel has no ``mac80211_hwsim`` (checked with ``modprobe -n mac80211_hwsim`` and
/lib/modules; the CI machines are the same), and Debian's wpa_supplicant is not installed, so no real
station can join a real radio here. Two things stand for it, and both run under CI=true (a missing hostapd
binary fails there, it is never skipped):
- tests/stands/hostapd_ctrl.py, a stand-in speaking hostapd's control-socket protocol (Unix datagram,
  ATTACH, the event lines hostapd sends, STA-FIRST/STA-NEXT), which drives the follower through joins
  and departures;
- a real hostapd with ``driver=none`` (a real control socket, no radio, so an empty station table): the
  stand-in is checked to answer byte for byte as it does, and the follower is run against it.
The firewall here is the ``none`` backend's ledger; tests/integration/test_association_e2e.py runs the
same departure and clone in network namespaces with the real nft ruleset, `kiosk serve` and
`kiosk network follow-hostapd`, after its control (the clone online when the follower does not run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from kiosk.adapters.firewall import Client, RecordingFirewall
from kiosk.adapters.hostapd_control import HostapdControl, parse_event, parse_station
from kiosk.runtime import Adapters, Kit
from kiosk.services import connections
from kiosk.services.access import GrantRefused
from kiosk.services.association import AssociationFollower
from tests.conftest import ManualClock, make_settings
from tests.stands.hostapd_ctrl import HostapdCtrlStand
from tests.support.system import need_binary, unavailable

PHONE = ("10.42.0.23", "5a:11:22:33:44:55")
OTHER = ("10.42.0.24", "5a:11:22:33:44:66")
THIRD = ("10.42.0.25", "5a:11:22:33:44:77")


@pytest.fixture
def short_dir():
    """Unix socket paths are limited to 108 bytes: pytest's tmp_path can be longer."""
    path = tempfile.mkdtemp(prefix="hapd-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def stand(short_dir):
    hostapd = HostapdCtrlStand(os.path.join(short_dir, "wlan0"))
    hostapd.start()
    yield hostapd
    hostapd.stop()


@pytest.fixture
def kit(tmp_path, short_dir):
    clock = ManualClock()
    settings = make_settings(tmp_path, network__hostapd_control=os.path.join(short_dir, "wlan0"),
                             network__hostapd_client_dir=short_dir)
    return Kit.open(settings, Adapters(clock=clock))


class Following:
    """The follower on its own thread, as ``kiosk network follow-hostapd`` runs it."""

    def __init__(self, kit: Kit, short_dir: str, resync: float = 60.0) -> None:
        path = kit.settings.network.hostapd_control
        self.follower = AssociationFollower(lambda: HostapdControl(path, short_dir), kit.access,
                                            retry_seconds=0.05, resync_seconds=resync)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.follower.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> AssociationFollower:
        self.thread.start()
        assert self.follower.connected.wait(5), "the follower never attached to hostapd"
        return self.follower

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.thread.join(5)


def wait_until(condition, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def open_macs(kit: Kit) -> set[str]:
    return {s.mac for s in kit.access.open_sessions()}


def ended(kit: Kit) -> dict[str, str]:
    with kit.store.read() as db:
        rows = db.execute("SELECT mac, end_reason FROM access_sessions WHERE ended_at IS NOT NULL").fetchall()
    return {row["mac"]: row["end_reason"] for row in rows}


def ledger(kit: Kit) -> set[Client]:
    firewall = kit.adapters.firewall
    assert isinstance(firewall, RecordingFirewall)
    return {grant.client for grant in firewall.ledger()}


def join_and_grant(kit: Kit, stand: HostapdCtrlStand, device: tuple[str, str]) -> None:
    stand.associate(device[1])
    kit.access.grant(device[0], device[1], "fr")


def test_a_phone_that_leaves_loses_its_access_with_reason_left(kit, stand, short_dir):
    join_and_grant(kit, stand, PHONE)
    join_and_grant(kit, stand, OTHER)
    with Following(kit, short_dir):
        kit.adapters.clock.advance(600)
        stand.disassociate(PHONE[1])
        assert wait_until(lambda: PHONE[1] not in open_macs(kit))
    assert ended(kit) == {PHONE[1]: "left"}
    assert ledger(kit) == {Client(*OTHER)}  # the other phone keeps its access
    log = connections.export_csv(kit.store, 0, 2_000_000_000).splitlines()
    departed = [line for line in log if PHONE[1] in line]
    assert len(departed) == 1 and departed[0].split(",")[5] == "left"
    assert departed[0].split(",")[3] == "2026-09-21T14:23:20Z"  # ended when it left, ten minutes in


def test_a_clone_of_a_departed_phone_gets_nothing_and_the_log_names_nobody_for_it(kit, stand, short_dir):
    join_and_grant(kit, stand, PHONE)
    with Following(kit, short_dir) as follower:
        stand.disassociate(PHONE[1])
        assert wait_until(lambda: not open_macs(kit))
        left_at = int(kit.adapters.clock())
        kit.adapters.clock.advance(300)
        heard = follower.messages
        stand.associate(PHONE[1])  # the clone: same MAC, and it takes the same IP
        assert wait_until(lambda: follower.messages > heard)  # the follower has read its AP-STA-CONNECTED
    clone = kit.access.state_of(*PHONE)
    assert not clone.authorised
    assert ledger(kit) == set()
    with kit.store.read() as db:
        rows = db.execute("SELECT ended_at, end_reason FROM access_sessions WHERE mac = ?", (PHONE[1],)).fetchall()
    assert [(row["ended_at"], row["end_reason"]) for row in rows] == [(left_at, "left")]
    # A lawful request about the clone's time finds no connection: nobody is named for its traffic.
    during_clone = connections.export_csv(kit.store, left_at + 1, left_at + 300).splitlines()
    assert during_clone == [",".join(connections.EXPORT_COLUMNS)]


def test_only_a_phone_on_the_wifi_now_is_granted(kit, stand):
    with pytest.raises(GrantRefused) as refused:
        kit.access.grant(*PHONE, "fr")
    assert refused.value.reason == GrantRefused.NOT_ASSOCIATED
    assert "not connected to the kit's Wi-Fi" in str(refused.value)
    stand.authenticate_only(PHONE[1])  # in hostapd's table, but never associated
    with pytest.raises(GrantRefused):
        kit.access.grant(*PHONE, "fr")
    with pytest.raises(GrantRefused):
        kit.access.grant(PHONE[0], None, "fr")  # no MAC known: the kit cannot tell
    assert kit.access.open_sessions() == [] and ledger(kit) == set()
    stand.associate(PHONE[1])
    assert kit.access.grant(*PHONE, "fr").mac == PHONE[1]


def test_while_hostapd_does_not_answer_no_grant_is_made(kit, stand):
    stand.associate(PHONE[1])
    stand.answering = False
    with pytest.raises(GrantRefused) as refused:
        kit.access.grant(*PHONE, "fr")
    assert refused.value.reason == GrantRefused.WIFI_UNAVAILABLE
    assert kit.access.open_sessions() == []


def test_a_grant_made_while_hostapd_is_not_running_ends_when_it_starts_without_the_phone(kit, stand, short_dir):
    stand.stop()  # no socket: hostapd is not running, so no phone is on the Wi-Fi to use a grant
    kit.access.grant(*OTHER, "fr", granted_by="mediator")
    kit.access.grant(*PHONE, "fr", granted_by="mediator")
    assert open_macs(kit) == {PHONE[1], OTHER[1]}
    stand.stations = {OTHER[1]: "[AUTH][ASSOC][AUTHORIZED]"}
    stand.start()
    with Following(kit, short_dir):
        assert wait_until(lambda: PHONE[1] not in open_macs(kit))
    assert ended(kit) == {PHONE[1]: "left"}
    assert open_macs(kit) == {OTHER[1]}


def test_the_portal_tells_a_phone_off_the_wifi_why_it_is_not_let_through(tmp_path, short_dir, stand):
    from kiosk import create_app
    from tests.conftest import FixedUplink

    settings = make_settings(tmp_path, network__hostapd_control=stand.path, network__hostapd_client_dir=short_dir)
    apps = create_app(settings, Adapters(uplink=FixedUplink(), clock=ManualClock()))
    (tmp_path / "leases").write_text(f"1999999999 {PHONE[1]} {PHONE[0]} phone *\n")
    phone = apps.portal.test_client()
    phone.environ_base["REMOTE_ADDR"] = PHONE[0]
    page = phone.get("http://10.42.0.1/?lang=fr").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    refused = phone.post("http://10.42.0.1/accept", data={"csrf_token": token, "accept": "yes", "lang": "fr"})
    assert refused.status_code == 403
    assert "n'est pas connecté à ce Wi-Fi" in refused.get_data(as_text=True)
    stand.associate(PHONE[1])
    token = refused.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    stand.answering = False  # hostapd there but busy: the phone is asked to wait
    busy = phone.post("http://10.42.0.1/accept", data={"csrf_token": token, "accept": "yes", "lang": "fr"})
    assert busy.status_code == 503 and "Le Wi-Fi redémarre" in busy.get_data(as_text=True)
    stand.answering = True
    token = busy.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    accepted = phone.post("http://10.42.0.1/accept", data={"csrf_token": token, "accept": "yes", "lang": "fr"})
    assert accepted.status_code == 303


@pytest.mark.parametrize("line", [
    b"<3>AP-STA-DISCONNECTED",
    b"<3>AP-STA-DISCONNECTED 5a:11:22:33:44",
    b"<3>AP-STA-DISCONNECTED 5a:11:22:33:44:55:66",
    b"<3>AP-STA-DISCONNECTED zz:11:22:33:44:55",
    b"<3>AP-STA-DISCONNECTED5a:11:22:33:44:55",
    b"AP-STA-DISCONNECTED 5a:11:22:33:44:55",  # no level: not an event line
    b"<3>AP-STA-DISCONNECTED \xff\xfe\x00",
    b"<3>AP-STA-DISCONNECTED " + b"a" * 4000,
])
def test_an_unreadable_event_is_logged_and_revokes_nobody(kit, stand, short_dir, line, caplog):
    join_and_grant(kit, stand, PHONE)
    with Following(kit, short_dir) as follower:
        stand.send_raw(line)
        assert wait_until(lambda: follower.malformed == 1)
        stand.disassociate(OTHER[1])  # then a real event still goes through
        stand.disassociate(PHONE[1])
        assert wait_until(lambda: not open_macs(kit))
    assert "unreadable station event" in caplog.text
    assert ended(kit) == {PHONE[1]: "left"}


def test_a_flood_of_events_for_unknown_phones_revokes_only_who_left(kit, stand, short_dir, caplog):
    join_and_grant(kit, stand, PHONE)
    join_and_grant(kit, stand, OTHER)
    # Faster than the kit reads them: like hostapd, the stand-in drops what does not fit in the kit's
    # queue, then detaches the kit without a word; the periodic re-read of the table still catches up.
    with Following(kit, short_dir, resync=0.5) as follower:
        for n in range(2000):
            mac = f"02:00:00:00:{n // 256:02x}:{n % 256:02x}"
            stand.send_event(f"AP-STA-CONNECTED {mac}")
            stand.send_event(f"AP-STA-DISCONNECTED {mac}")
            stand.send_event("AP-STA-DISCONNECTED not-a-mac")
        stand.disassociate(PHONE[1])
        assert wait_until(lambda: PHONE[1] not in open_macs(kit), 30)
        assert follower.connected.is_set()
        assert wait_until(lambda: len(stand.attached) == 1)  # attached again
    assert ended(kit) == {PHONE[1]: "left"}
    assert open_macs(kit) == {OTHER[1]}
    # The log says so without a line per bad event.
    assert 1 <= caplog.text.count("unreadable station event") <= 12


def test_hostapd_restarting_revokes_nobody_and_the_kit_catches_up_when_it_returns(kit, stand, short_dir):
    for device in (PHONE, OTHER, THIRD):
        join_and_grant(kit, stand, device)
    with Following(kit, short_dir) as follower:
        stand.stop()  # hostapd restarting: the socket file is gone, no event is sent
        assert wait_until(lambda: not follower.connected.is_set(), 10)
        failed = follower.failed_attaches
        assert wait_until(lambda: follower.failed_attaches >= failed + 3)  # several reconnection attempts meanwhile
        assert open_macs(kit) == {PHONE[1], OTHER[1], THIRD[1]}
        # It comes back: the phone and the third one rejoined, the other one is gone for good.
        stand.stations = {PHONE[1]: "[AUTH][ASSOC][AUTHORIZED]", THIRD[1]: "[AUTH][ASSOC][AUTHORIZED]"}
        stand.start()
        assert follower.connected.wait(5)
        assert wait_until(lambda: OTHER[1] not in open_macs(kit))
        assert "ATTACH" in stand.requests and "STA-FIRST" in stand.requests
    assert ended(kit) == {OTHER[1]: "left"}
    assert open_macs(kit) == {PHONE[1], THIRD[1]}


def test_a_phone_leaving_during_the_walk_of_the_table_does_not_cut_the_others(kit, stand, short_dir):
    for device in (PHONE, OTHER, THIRD):
        join_and_grant(kit, stand, device)
    # hostapd answers FAIL to STA-NEXT when the station it continues from has just left.
    stand.leave_during_walk = PHONE[1]
    with Following(kit, short_dir):
        assert wait_until(lambda: PHONE[1] not in open_macs(kit))
        assert wait_until(lambda: stand.requests.count("STA-FIRST") >= 2)  # the walk has started over
    assert ended(kit) == {PHONE[1]: "left"}
    assert open_macs(kit) == {OTHER[1], THIRD[1]}
    assert stand.requests.count("STA-FIRST") >= 2  # the walk started over


def test_event_lines_are_read_as_hostapd_writes_them():
    assert parse_event("<3>AP-STA-CONNECTED 5A:11:22:33:44:55").mac == "5a:11:22:33:44:55"
    assert parse_event("<3>AP-STA-CONNECTED 5a:11:22:33:44:55 keyid=guest").joined
    left = parse_event("<3>AP-STA-DISCONNECTED 5a:11:22:33:44:55 p2p_dev_addr=5a:11:22:33:44:56\n")
    assert left is not None and not left.joined and left.mac == "5a:11:22:33:44:55"
    assert parse_event("<3>AP-STA-POLL-OK 5a:11:22:33:44:55") is None
    assert parse_station("FAIL\n") is None and parse_station("") is None
    assert parse_station("5a:11:22:33:44:55\nflags=[AUTH]\n") == ("5a:11:22:33:44:55", False)


# -- the real hostapd (driver=none: a real control socket, no radio) --------------------------------

@pytest.fixture
def real_hostapd(short_dir):
    binary = need_binary("hostapd")
    if os.geteuid() != 0:
        unavailable("hostapd runs as root")  # a failure under CI=true, where tests run as root
    conf = Path(short_dir) / "hostapd.conf"
    conf.write_text(f"driver=none\ninterface=kiosktest0\nctrl_interface={short_dir}/ctrl\n")

    def start() -> subprocess.Popen:
        process = subprocess.Popen([binary, str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert wait_until(lambda: os.path.exists(f"{short_dir}/ctrl/kiosktest0")), process.stdout
        return process

    processes = [start()]
    yield f"{short_dir}/ctrl/kiosktest0", processes, start
    for process in processes:
        process.terminate()
        process.wait(5)


def test_the_stand_in_answers_as_the_real_hostapd_does(real_hostapd, short_dir):
    path, _, _ = real_hostapd
    stand = HostapdCtrlStand(os.path.join(short_dir, "stand"))
    stand.start()
    commands = ["PING", "ATTACH", "STA-FIRST", "STA-NEXT 02:00:00:00:00:01", "STA 02:00:00:00:00:01", "STA zz",
                "LIST-OF-NOTHING", "DETACH"]
    try:
        answers = []
        for socket_path in (path, stand.path):
            with HostapdControl(socket_path, short_dir) as control:
                answers.append([control.request(command) for command in commands])
    finally:
        stand.stop()
    assert answers[0] == answers[1]
    assert answers[0][:3] == ["PONG\n", "OK\n", ""]


def test_the_follower_follows_a_real_hostapd_through_a_restart(real_hostapd, tmp_path, short_dir):
    path, processes, start = real_hostapd
    settings = make_settings(tmp_path, network__hostapd_control=path, network__hostapd_client_dir=short_dir)
    kit = Kit.open(settings, Adapters(clock=ManualClock(), associated=lambda mac: True))
    kit.access.grant(*PHONE, "fr")  # granted while it was on the Wi-Fi
    with Following(kit, short_dir) as follower:
        # The real station table is empty (no radio): the phone is not there, its session ends.
        assert wait_until(lambda: not open_macs(kit))
        kit.access.grant(*OTHER, "fr")
        processes[0].terminate()
        processes[0].wait(5)
        assert wait_until(lambda: not follower.connected.is_set(), 10)
        assert open_macs(kit) == {OTHER[1]}  # nothing revoked while hostapd is away
        processes.append(start())
        assert follower.connected.wait(10)
        assert wait_until(lambda: not open_macs(kit))  # caught up from the (empty) table
    assert ended(kit) == {PHONE[1]: "left", OTHER[1]: "left"}


# -- the commands, as a mediator and systemd run them -----------------------------------------------

def _config(tmp_path: Path, control: str, client_dir: str) -> Path:
    leases = tmp_path / "leases"
    leases.write_text(f"1999999999 {PHONE[1]} {PHONE[0]} phone *\n")
    path = tmp_path / "kit.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "kiosk.db"}"\n[network]\ndhcp_leases = "{leases}"\n'
                    f'hostapd_control = "{control}"\nhostapd_client_dir = "{client_dir}"\n')
    return path


def test_a_mediator_cannot_let_through_a_device_that_is_not_on_the_wifi(tmp_path, stand, short_dir):
    from tests.support.system import kiosk_command

    config = _config(tmp_path, stand.path, short_dir)
    allow = kiosk_command("--config", str(config), "clients", "allow", "--mac", PHONE[1])
    refused = subprocess.run(allow, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 1
    assert f"not allowed: {PHONE[1]} is not connected to the kit's Wi-Fi now" in refused.stderr
    assert "Traceback" not in refused.stderr
    stand.associate(PHONE[1])
    allowed = subprocess.run(allow, capture_output=True, text=True, timeout=60, check=False)
    assert allowed.returncode == 0, allowed.stderr


def test_follow_hostapd_ends_a_departed_phones_session_and_stops_on_sigterm(tmp_path, stand, short_dir):
    import signal

    from tests.support.system import kiosk_command

    config = _config(tmp_path, stand.path, short_dir)
    kit = Kit.open(make_settings(tmp_path, network__hostapd_control=stand.path,
                                 network__hostapd_client_dir=short_dir))
    join_and_grant(kit, stand, PHONE)
    follower = subprocess.Popen(kiosk_command("--config", str(config), "network", "follow-hostapd"),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_until(lambda: bool(stand.attached), 30), "follow-hostapd never attached"
        stand.disassociate(PHONE[1])
        assert wait_until(lambda: not open_macs(kit), 10)
    finally:
        follower.send_signal(signal.SIGTERM)
        output, _ = follower.communicate(timeout=10)
    assert follower.returncode == 0, output
    assert ended(kit) == {PHONE[1]: "left"}
    assert "left the Wi-Fi" in output


def test_follow_hostapd_without_a_socket_to_follow_says_so_and_exits(tmp_path):
    from tests.support.system import kiosk_command

    config = tmp_path / "kit.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "kiosk.db"}"\n')
    result = subprocess.run(kiosk_command("--config", str(config), "network", "follow-hostapd"),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "the Wi-Fi is not followed" in result.stderr


def test_hostapd_lets_the_kiosks_group_on_its_socket_when_asked():
    from kiosk.adapters.hostapd import render
    from kiosk.adapters.netplan import NetworkPlan
    from kiosk.settings import defaults

    plain = render(NetworkPlan.from_settings(defaults()))
    assert "ctrl_interface=/run/hostapd\n" in plain and "ctrl_interface_group" not in plain
    followed = render(NetworkPlan.from_settings(defaults().replace(wifi__control_group="kiosk")))
    assert "ctrl_interface_group=kiosk\n" in followed


def test_a_phone_leaving_while_it_is_granted_is_not_left_with_a_session(tmp_path):
    """The follower sees the departure before the session exists; the grant's second look catches it."""
    answers = iter([True, False])
    kit = Kit.open(make_settings(tmp_path), Adapters(clock=ManualClock(), associated=lambda mac: next(answers)))
    with pytest.raises(GrantRefused):
        kit.access.grant(*PHONE, "fr")
    assert kit.access.open_sessions() == [] and ledger(kit) == set()
    assert ended(kit) == {PHONE[1]: "left"}


def test_hostapd_unreachable_right_after_a_grant_revokes_nobody(tmp_path):
    answers = iter([True])

    def associated(mac):
        try:
            return next(answers)
        except StopIteration:
            raise OSError("hostapd restarting") from None

    kit = Kit.open(make_settings(tmp_path), Adapters(clock=ManualClock(), associated=associated))
    assert kit.access.grant(*PHONE, "fr").mac == PHONE[1]
    assert open_macs(kit) == {PHONE[1]} and ledger(kit) == {Client(*PHONE)}


def test_a_revoke_the_firewall_refuses_is_retried_until_it_holds(tmp_path, stand, short_dir, caplog):
    from kiosk.adapters.firewall import FirewallError

    class RefusesOnce(RecordingFirewall):
        refused = 0

        def revoke(self, client):
            if not self.refused:
                self.refused += 1
                raise FirewallError("the privileged helper did not answer")
            super().revoke(client)

    settings = make_settings(tmp_path, network__hostapd_control=stand.path, network__hostapd_client_dir=short_dir)
    clock = ManualClock()
    kit = Kit.open(settings, Adapters(clock=clock))
    kit = Kit.open(settings, Adapters(clock=clock, firewall=RefusesOnce(kit.store, clock)))
    join_and_grant(kit, stand, PHONE)
    with Following(kit, short_dir):
        stand.disassociate(PHONE[1])
        assert wait_until(lambda: not open_macs(kit))
    assert kit.adapters.firewall.refused == 1 and "will retry" in caplog.text
    assert ended(kit) == {PHONE[1]: "left"} and ledger(kit) == set()
