"""The kiosk's listening sockets: the dashboard may listen on the staff address before the adapter is in."""

from __future__ import annotations

import socket

import pytest

from kiosk.listeners import ListenError, bind_listener, split_listen


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


def test_split_listen_handles_ipv6_brackets():
    assert split_listen("[::1]:8081") == ("::1", 8081)
    assert split_listen("10.42.1.1:8081") == ("10.42.1.1", 8081)
