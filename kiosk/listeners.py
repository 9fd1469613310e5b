"""The kiosk's listening sockets, bound before waitress takes them.

The dashboard listens on the kit's address on the mediators' network, which exists only once that
network's interface is up (a USB Wi-Fi adapter may be plugged in after boot). IP_FREEBIND lets the socket
bind to that address anyway, so a missing adapter never stops the portal from starting; the dashboard
answers as soon as the address appears.
"""

from __future__ import annotations

import socket
import sys

# Linux's value; Python's socket module names it only on some versions.
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)


class ListenError(OSError):
    """An address the kiosk cannot listen on, in one sentence."""


def split_listen(listen: str) -> tuple[str, int]:
    """``"10.42.1.1:8081"`` or ``"[::1]:8081"`` into host and port (``localhost`` is 127.0.0.1)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    return ("127.0.0.1" if host == "localhost" else host), int(port)


def bind_listener(listen: str) -> socket.socket:
    """A TCP socket bound to ``listen`` (not yet listening: waitress does that), even to an address this
    machine does not hold yet."""
    host, port = split_listen(listen)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_NUMERICHOST)[0]
    except socket.gaierror as error:
        raise ListenError(f"{listen}: not an address to listen on ({error.strerror})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if family == socket.AF_INET and sys.platform.startswith("linux"):  # the kit's networks are IPv4
            sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        sock.bind(address)
    except OSError as error:
        sock.close()
        raise ListenError(f"cannot listen on {listen}: {error.strerror or error}") from None
    return sock
