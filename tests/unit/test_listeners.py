"""The kiosk's listening sockets: the dashboard may listen on the staff address before the adapter is in."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

import pytest

from kiosk.listeners import ListenError, bind_listener, split_listen
from tests.support.system import free_port, kiosk_command


def test_an_address_the_machine_does_not_hold_yet_can_be_listened_on():
    # 192.0.2.0/24 is documentation space: no interface here has it. Without IP_FREEBIND this bind fails with
    # "Cannot assign requested address", and the whole kiosk (portal included) would not start.
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("192.0.2.1", 0))
    sock = bind_listener("192.0.2.1:0")
    try:
        assert sock.getsockname()[0] == "192.0.2.1"
    finally:
        sock.close()


def test_a_local_listener_accepts_connections():
    sock = bind_listener("127.0.0.1:0")
    try:
        sock.listen(1)
        with socket.create_connection(sock.getsockname(), timeout=2):
            peer, _ = sock.accept()
            peer.close()
    finally:
        sock.close()


def test_a_port_in_use_or_a_name_is_a_plain_message():
    taken = bind_listener("127.0.0.1:0")
    taken.listen(1)
    try:
        with pytest.raises(ListenError, match=r"cannot listen on 127\.0\.0\.1:"):
            bind_listener(f"127.0.0.1:{taken.getsockname()[1]}")
    finally:
        taken.close()
    with pytest.raises(ListenError, match="not an address"):
        bind_listener("kit.local:8081")


def test_kiosk_serve_starts_before_the_dashboards_address_exists(tmp_path):
    """The staff adapter plugged in after boot: the portal must serve meanwhile."""
    portal_port, dashboard_port = free_port(), free_port()
    config = tmp_path / "kit.toml"
    config.write_text(f'[portal]\nlisten = "127.0.0.1:{portal_port}"\n'
                      f'[dashboard]\nlisten = "192.0.2.1:{dashboard_port}"\npassword_file = "{tmp_path / "pw"}"\n'
                      f'[store]\npath = "{tmp_path / "kiosk.db"}"\n')
    process = subprocess.Popen(kiosk_command("--config", str(config), "serve"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        answer = None
        while answer is None and time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{portal_port}/", timeout=2) as response:
                    answer = response.status
            except OSError:
                time.sleep(0.2)
        assert process.poll() is None, process.communicate()[0]
        assert answer == 200
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert f"dashboard on 192.0.2.1:{dashboard_port}" in output


def test_split_listen_handles_ipv6_brackets_and_localhost():
    assert split_listen("[::1]:8081") == ("::1", 8081)
    assert split_listen("10.42.1.1:8081") == ("10.42.1.1", 8081)
    assert split_listen("localhost:8081") == ("127.0.0.1", 8081)
