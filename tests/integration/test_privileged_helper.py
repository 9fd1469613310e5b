"""The narrow privileged path: the root helper changes the firewall for the unprivileged kiosk, and can do
nothing else. Runs the real helper and the real nft inside a network namespace of its own."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.adapters.firewall import Client, FirewallError, Grant, QuotaReading
from kiosk.adapters.privileged import PrivilegedFirewall
from tests.support.system import REPO, kiosk_command, need_binary, stop, unavailable

pytestmark = pytest.mark.system

CONFIG = """\
[portal]
listen = "10.42.0.1:8080"
[network]
lan_interface = "lan0"
wan_interface = "wan0"
[firewall]
backend = "nftables"
helper_socket = "{socket}"
"""


@pytest.fixture
def namespace() -> Iterator[str]:
    ip = need_binary("ip")
    need_binary("nft")
    if os.geteuid() != 0:
        unavailable("network namespaces need root")
    name = f"tk-priv-{os.getpid()}-{secrets.token_hex(2)}"
    subprocess.run([ip, "netns", "add", name], check=True, timeout=30)
    try:
        yield name
    finally:
        subprocess.run([ip, "netns", "delete", name], check=False, timeout=30)


def in_ns(namespace: str, *argv: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", namespace, *argv], capture_output=True, text=True, timeout=60,
                          check=False, **options)


@pytest.fixture
def helper(namespace: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    # The socket's folder must be reachable by `nobody` (pytest's tmp_path is private to root).
    run_dir = Path(tempfile.mkdtemp(prefix="tk-priv-"))
    run_dir.chmod(0o755)  # reachable by nobody, so that the uid check is what refuses it
    sock = run_dir / "privileged.sock"
    config = tmp_path / "kit.toml"
    config.write_text(CONFIG.format(socket=sock))
    rendered = tmp_path / "etc"
    result = subprocess.run(kiosk_command("--config", str(config), "network", "render", "--dest", str(rendered)),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    loaded = in_ns(namespace, "nft", "-f", str(rendered / "nftables.nft"))
    assert loaded.returncode == 0, loaded.stderr
    process = subprocess.Popen(["ip", "netns", "exec", namespace, *kiosk_command(
        "--config", str(config), "privileged", "serve", "--group", "nogroup")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_socket(sock, process)
        yield namespace, sock
    finally:
        stop(process)  # harmless when a test stopped it already
        shutil.rmtree(run_dir, ignore_errors=True)


def wait_for_socket(path: Path, process: subprocess.Popen) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise AssertionError(f"helper exited: {process.stdout.read() if process.stdout else ''}")
        if path.is_socket():
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)
    raise AssertionError("the helper's socket never appeared")


def ruleset(namespace: str) -> dict:
    return json.loads(in_ns(namespace, "nft", "-j", "list", "ruleset").stdout)


def elements(namespace: str, set_name: str) -> list:
    listing = json.loads(in_ns(namespace, "nft", "-j", "list", "set", "inet", "kiosk", set_name).stdout)
    return next(item["set"].get("elem", []) for item in listing["nftables"] if "set" in item)


def raw_request(sock: Path, payload: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(10)
        connection.connect(str(sock))
        connection.sendall(payload)
        connection.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    return json.loads(data)


def test_grant_revoke_and_counters_through_the_helper(helper):
    namespace, sock = helper
    firewall = PrivilegedFirewall(sock)
    firewall.grant(Grant(Client("10.42.0.23", "5a:11:22:33:44:55"), int(time.time()) + 600))
    [element] = elements(namespace, "allowed")
    assert element["elem"]["val"]["concat"] == ["5a:11:22:33:44:55", "10.42.0.23"]
    assert 590 <= element["elem"]["timeout"] <= 600
    assert firewall.counters() == {Client("10.42.0.23", "5a:11:22:33:44:55"): 0}
    firewall.revoke(Client("10.42.0.23", "5a:11:22:33:44:55"))
    assert elements(namespace, "allowed") == []
    firewall.revoke(Client("10.42.0.23", "5a:11:22:33:44:55"))  # twice is harmless


@pytest.mark.parametrize("payload", [
    b'{"op": "exec", "args": "nft flush ruleset"}\n',
    b'{"op": "grant", "args": {"ip": "10.42.0.5", "mac": "aa:bb:cc:dd:ee:ff } ; flush ruleset ; {"}}\n',
    b'{"op": "grant", "args": {"ip": "10.42.0.5\\nflush ruleset", "mac": "aa:bb:cc:dd:ee:ff"}}\n',
    b'{"op": "grant", "args": {"ip": "198.51.100.10", "mac": "aa:bb:cc:dd:ee:ff"}}\n',
    b'{"op": "grant", "args": {"ip": "10.42.0.5", "mac": "aa:bb:cc:dd:ee:ff", "file": "/etc/shadow"}}\n',
    b'{"op": "reconcile", "args": "flush ruleset"}\n',
    b'{"op": "revoke", "args": {"ip": "10.42.0.5", "mac": "aa:bb:cc:dd:ee:ff"}, "nft": "flush ruleset"}\n',
    b"flush ruleset\n",
    b"[" * 100_000 + b"\n",
    b'{"op": "grant", "args": {"ip": "10.42.0.5", "mac": "aa:bb:cc:dd:ee:ff\\n", "expires_at": null}}\n',
    b"\xff\xfe garbage",
])
def test_the_helper_refuses_anything_but_its_checked_operations(helper, payload):
    namespace, sock = helper
    before = ruleset(namespace)
    reply = raw_request(sock, payload)
    assert reply["ok"] is False
    assert reply["error"]
    assert ruleset(namespace) == before


def quota_objects(namespace: str) -> dict[str, dict]:
    return {item["quota"]["name"]: item["quota"] for item in ruleset(namespace)["nftables"] if "quota" in item}


def test_a_grant_with_a_byte_budget_gets_its_kernel_quota_through_the_helper(helper):
    namespace, sock = helper
    firewall = PrivilegedFirewall(sock)
    phone = Client("10.42.0.23", "5a:11:22:33:44:55")
    firewall.grant(Grant(phone, int(time.time()) + 600, quota_bytes=2_000_000))
    assert quota_objects(namespace)["q_10_42_0_23"]["bytes"] == 2_000_000
    assert firewall.quotas() == {"10.42.0.23": QuotaReading(0, 2_000_000)}
    # At a restart, the session's quota is made anew with what it has left.
    firewall.reconcile([Grant(phone, int(time.time()) + 600, quota_bytes=700_000)])
    assert firewall.quotas() == {"10.42.0.23": QuotaReading(0, 700_000)}
    firewall.revoke(phone)
    assert quota_objects(namespace) == {} and firewall.quotas() == {}


@pytest.mark.parametrize("budget", ["0", "-5", "true", "2.5", '"2000000"', "1000000000000000000"])
def test_a_malformed_byte_budget_is_refused_with_a_clear_error(helper, budget):
    namespace, sock = helper
    before = ruleset(namespace)
    payload = ('{"op": "grant", "args": {"ip": "10.42.0.5", "mac": "aa:bb:cc:dd:ee:ff", "expires_at": null, '
               f'"quota_bytes": {budget}}}}}\n').encode()
    reply = raw_request(sock, payload)
    assert reply == {"ok": False, "error": "quota_bytes must be a whole number of bytes from 1 to "
                                           "1000000000000000, or null"}
    assert ruleset(namespace) == before


def test_a_user_not_named_at_start_is_refused(helper):
    """The socket's group lets `nobody` connect; the helper still refuses it by its uid (SO_PEERCRED)."""
    namespace, sock = helper
    setpriv = need_binary("setpriv")
    # Debian's own python3, standard library only: the test's interpreter may sit in root's home.
    python = need_binary("/usr/bin/python3")
    # It writes a moment after connecting, as a busy caller may: it must still hear why it was refused.
    code = ("import socket, sys, time; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
            "time.sleep(0.3); s.sendall(b'{\"op\": \"grant\", \"args\": {\"ip\": \"10.42.0.9\", \"mac\": "
            "\"aa:bb:cc:dd:ee:09\", \"expires_at\": null}}\\n'); print(s.recv(4096).decode())")
    os.chmod(sock.parent, 0o755)  # noqa: S103 - let nobody reach the socket: the uid check must refuse it
    result = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--groups=65534", python, "-c", code,
                             str(sock)], capture_output=True, text=True, timeout=60, check=False)
    assert "user 65534 may not change the firewall" in result.stdout, result.stdout + result.stderr
    assert elements(namespace, "allowed") == []


def test_a_caller_dripping_its_request_cannot_hold_the_helper():
    """The helper serves one caller at a time: a request that never ends is cut off at its deadline, even
    when bytes keep coming (a timeout per read would wait forever)."""
    import threading

    from kiosk.adapters.privileged import RequestError, _read_line

    helper_side, caller_side = socket.socketpair()
    stop_dripping = threading.Event()

    def drip() -> None:
        for _ in range(100):  # 10 s at most
            if stop_dripping.wait(0.1):
                break
            with contextlib.suppress(OSError):
                caller_side.sendall(b"x")
        caller_side.close()

    dripper = threading.Thread(target=drip)
    dripper.start()
    try:
        with pytest.raises(RequestError, match="too slow"):
            _read_line(helper_side, seconds=0.5)
        assert dripper.is_alive()  # cut off while the caller was still sending
    finally:
        stop_dripping.set()
        dripper.join(timeout=15)
        helper_side.close()


def test_helper_that_is_not_running_gives_a_clear_error(tmp_path):
    with pytest.raises(FirewallError, match=r"is `kiosk privileged serve` running as root\?"):
        PrivilegedFirewall(tmp_path / "absent.sock").grant(Grant(Client("10.42.0.2", "aa:bb:cc:dd:ee:02"), None))


def test_a_revoke_the_helper_cannot_do_is_retried_by_the_next_sweep(namespace, tmp_path):
    """The helper down when a mediator cuts a phone off: the session stays open in the store (the phone
    still has its element), the command says so, and once the helper is back the sweep closes it."""
    from kiosk.services.access import AccessService, Limits

    run_dir = Path(tempfile.mkdtemp(prefix="tk-priv-"))
    sock = run_dir / "privileged.sock"
    config = tmp_path / "kit.toml"
    config.write_text(CONFIG.format(socket=sock))
    rendered = tmp_path / "etc"
    subprocess.run(kiosk_command("--config", str(config), "network", "render", "--dest", str(rendered)),
                   capture_output=True, timeout=60, check=True)
    assert in_ns(namespace, "nft", "-f", str(rendered / "nftables.nft")).returncode == 0
    argv = ["ip", "netns", "exec", namespace, *kiosk_command("--config", str(config), "privileged", "serve")]

    def start_helper() -> subprocess.Popen:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_for_socket(sock, process)
        return process

    from kiosk.store import Store

    store = Store(tmp_path / "kiosk.db")
    store.upgrade()
    access = AccessService(store, PrivilegedFirewall(sock), Limits(3600, 1800, 0), [], time.time)
    helper = start_helper()
    try:
        access.grant("10.42.0.23", "5a:11:22:33:44:55", "fr")
        stop(helper)
        sock.unlink(missing_ok=True)
        with pytest.raises(FirewallError):
            access.revoke(ip="10.42.0.23")
        assert len(access.open_sessions()) == 1
        assert len(elements(namespace, "allowed")) == 1
        helper = start_helper()
        access.revoke(ip="10.42.0.23")
        assert access.open_sessions() == []
        assert elements(namespace, "allowed") == []
    finally:
        stop(helper)
        shutil.rmtree(run_dir, ignore_errors=True)


def test_a_sweep_running_while_a_mediator_denies_does_not_put_the_phone_back(helper, tmp_path):
    """The web process sweeps every few seconds; a mediator's `clients deny` runs in another process. A
    sweep that looks between the deny's firewall change and its record must not restore the element.

    Two services on two store connections stand for the two processes; the sweep is started from inside
    the deny's revoke, the one moment the race can happen, so the test does not depend on luck."""
    import threading

    from kiosk.services.access import AccessService, Limits
    from kiosk.store import Store

    namespace, sock = helper
    Store(tmp_path / "kiosk.db").upgrade()
    web = AccessService(Store(tmp_path / "kiosk.db"), PrivilegedFirewall(sock), Limits(3600, 1800, 0), [],
                        time.time)
    sweeps: list[threading.Thread] = []

    class SweepDuringRevoke(PrivilegedFirewall):
        def revoke(self, client: Client) -> None:
            super().revoke(client)
            sweep = threading.Thread(target=web.sweep)
            sweep.start()
            sweep.join(timeout=2)  # a sweep free to finish here would restore the element
            sweeps.append(sweep)

    cli = AccessService(Store(tmp_path / "kiosk.db"), SweepDuringRevoke(sock), Limits(3600, 1800, 0), [],
                        time.time)
    cli.grant("10.42.0.23", "5a:11:22:33:44:55", "fr")
    assert len(elements(namespace, "allowed")) == 1
    assert cli.revoke(ip="10.42.0.23") == 1
    for sweep in sweeps:
        sweep.join(timeout=30)
        assert not sweep.is_alive()
    assert elements(namespace, "allowed") == []
    assert web.open_sessions() == []


def test_a_sweep_reading_the_counters_just_before_a_grant_does_not_take_the_new_session_for_lost(
        helper, tmp_path, caplog):
    """The sweep reads the firewall's counters, then the store's open sessions. A grant landing between
    the two must not look like a session missing from the firewall ("restored", its bytes reset).

    The grant (the portal, another store connection) is started from inside the sweep's counters read, the
    one moment the race can happen, and given two seconds to finish there."""
    import logging
    import threading

    from kiosk.services.access import AccessService, Limits
    from kiosk.store import Store

    namespace, sock = helper
    Store(tmp_path / "kiosk.db").upgrade()
    portal = AccessService(Store(tmp_path / "kiosk.db"), PrivilegedFirewall(sock), Limits(3600, 1800, 0), [],
                           time.time)
    grants: list[threading.Thread] = []

    class GrantDuringCounters(PrivilegedFirewall):
        def counters(self) -> dict[Client, int]:
            read = super().counters()
            if not grants:
                grant = threading.Thread(target=portal.grant, args=("10.42.0.23", "5a:11:22:33:44:55", "fr"))
                grant.start()
                grant.join(timeout=2)  # a grant free to finish here is one the sweep would take for lost
                grants.append(grant)
            return read

    web = AccessService(Store(tmp_path / "kiosk.db"), GrantDuringCounters(sock), Limits(3600, 1800, 0), [],
                        time.time)
    with caplog.at_level(logging.WARNING, logger="kiosk.access"):
        web.sweep()
        grants[0].join(timeout=30)
    assert not grants[0].is_alive()
    assert "missing from the firewall" not in caplog.text
    assert [(s.ip, s.bytes_base) for s in web.open_sessions()] == [("10.42.0.23", 0)]
    assert len(elements(namespace, "allowed")) == 1


# --- the monthly cap: one quota for all participants, set by the kit ------------------------------------

def test_the_monthly_cap_is_set_read_and_removed_through_the_helper(helper):
    namespace, sock = helper
    firewall = PrivilegedFirewall(sock)
    assert firewall.month_cap() is None
    firewall.set_month_cap(3_000_000)
    assert quota_objects(namespace)["month_cap"]["bytes"] == 3_000_000
    assert firewall.month_cap() == QuotaReading(0, 3_000_000)
    firewall.set_month_cap(1_000_000)  # anew: counting from zero with the new budget
    assert firewall.month_cap() == QuotaReading(0, 1_000_000)
    firewall.set_month_cap(None)
    assert firewall.month_cap() is None and "month_cap" not in quota_objects(namespace)
    firewall.set_month_cap(None)  # no cap twice is no error


@pytest.mark.parametrize("args", ['{"bytes": 0}', '{"bytes": -1}', '{"bytes": true}', '{"bytes": "3000000"}',
                                  '{"bytes": 2.5}', '{"bytes": 1000000000000000000}', '{}', '[3000000]', 'null',
                                  '{"bytes": 3000000, "name": "q_10_42_0_23"}'])
def test_a_malformed_monthly_cap_is_refused_with_one_clear_sentence(helper, args):
    namespace, sock = helper
    before = ruleset(namespace)
    reply = raw_request(sock, f'{{"op": "set_month_cap", "args": {args}}}\n'.encode())
    assert reply == {"ok": False, "error": "set_month_cap takes {bytes}: a whole number of bytes from 1 to "
                                           "1000000000000000, or null for no cap"}
    assert ruleset(namespace) == before


# --- set_clock: the one other thing the helper does ------------------------------------------------------

@pytest.mark.parametrize("payload", [
    b'{"op": "set_clock", "args": {"epoch": "1790000000"}}\n',
    b'{"op": "set_clock", "args": {"epoch": 0}}\n',
    b'{"op": "set_clock", "args": {"epoch": 1600000000}}\n',
    b'{"op": "set_clock", "args": {"epoch": 99999999999}}\n',
    b'{"op": "set_clock", "args": {"epoch": NaN}}\n',
    b'{"op": "set_clock", "args": {"epoch": Infinity}}\n',
    b'{"op": "set_clock", "args": {"epoch": true}}\n',
    b'{"op": "set_clock", "args": {"epoch": null}}\n',
    b'{"op": "set_clock", "args": {"epoch": 1790000000, "command": "date -s 1970"}}\n',
    b'{"op": "set_clock", "args": [1790000000]}\n',
    b'{"op": "set_clock"}\n',
    b'{"op": "set_clock", "args": {"epoch": 1790000000}, "tz": "UTC"}\n',
])
def test_set_clock_refuses_anything_but_a_sane_epoch(helper, payload):
    """Refused before any effect: the test machine's clock is never touched (there is no namespace for it)."""
    namespace, sock = helper
    before = ruleset(namespace)
    wall = time.time()
    reply = raw_request(sock, payload)
    assert reply["ok"] is False and reply["error"]
    assert ruleset(namespace) == before
    assert abs(time.time() - wall) < 30


def test_set_clock_with_a_sane_epoch_reaches_the_clock_setter(tmp_path):
    """The accepted path, over the real socket and protocol, with a setter that records instead of setting the
    machine's clock (a shared test machine's clock must not move)."""
    import threading

    from kiosk.adapters.clock import ClockError
    from kiosk.adapters.privileged import PrivilegedClock, PrivilegedServer, handle

    calls: list[float] = []
    assert handle(None, {"op": "set_clock", "args": {"epoch": 1_790_000_000.5}}, set_clock=calls.append) is None
    assert calls == [1_790_000_000.5]

    sock = tmp_path / "helper.sock"
    server = PrivilegedServer(sock, None, {os.getuid()}, set_clock=calls.append)
    server.bind()
    worker = threading.Thread(target=lambda: [server.serve_one() for _ in range(2)], daemon=True)
    worker.start()
    try:
        PrivilegedClock(sock)(1_790_000_123)
        with pytest.raises(FirewallError, match="between"):  # the helper checks again, whatever the client sent
            PrivilegedClock(sock)._helper._call("set_clock", {"epoch": 12})
        with pytest.raises(ClockError):
            PrivilegedClock(sock)(12)  # refused by the client before it is sent
    finally:
        worker.join(10)
        server.close()
    assert calls == [1_790_000_000.5, 1_790_000_123.0]


def test_set_clock_without_the_helper_gives_a_clear_error(tmp_path):
    from kiosk.adapters.clock import ClockError
    from kiosk.adapters.privileged import PrivilegedClock

    with pytest.raises(ClockError, match=r"is `kiosk privileged serve` running as root\?"):
        PrivilegedClock(tmp_path / "absent.sock")(1_790_000_000)


def test_a_kit_in_a_test_namespace_knows_it_and_leaves_the_clock_alone(namespace):
    """Only the predicate is run in the namespace: the setter itself is never called by a test."""
    code = "from kiosk.adapters.clock import in_test_namespace; print(in_test_namespace())"
    inside = in_ns(namespace, sys.executable, "-c", code, cwd=str(REPO))
    assert inside.stdout.strip() == "True", inside.stderr
    from kiosk.adapters.clock import in_test_namespace

    assert in_test_namespace() is False
