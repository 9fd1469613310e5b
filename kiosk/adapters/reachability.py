"""Is there a way out: the interface carrying the IPv4 default route, and whether a URL answers."""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import netifaces

SUCCESS_STATUSES = (200, 204)


def default_interface(gateways: Mapping[Any, Any]) -> str | None:
    """netifaces.gateways() → the interface of the IPv4 default route, or None."""
    entry = gateways.get("default", {}).get(netifaces.AF_INET)
    if not entry or len(entry) < 2:
        return None
    return entry[1] or None


class DefaultRoute:
    """The interface of the IPv4 default route, or None when there is none or its link is down.

    A 4G dongle pulled out, or a modem that lost its carrier, often leaves the route in place (marked
    linkdown): the carrier flag tells at once, at no data cost, without waiting for the next check.
    """

    def __init__(self, sys_class_net: str | Path = "/sys/class/net") -> None:
        self._sys = Path(sys_class_net)

    def interface(self) -> str | None:
        try:
            interface = default_interface(netifaces.gateways())
        except OSError:
            return None
        if interface is None or not self._has_carrier(interface):
            return None
        return interface

    def _has_carrier(self, interface: str) -> bool:
        try:
            return (self._sys / interface / "carrier").read_text().strip() != "0"
        except OSError:
            return True  # no carrier file (some virtual links): trust the route


@dataclass(frozen=True)
class ProbeResult:
    answered: bool
    detail: str  # "HTTP 204", "HTTP 500", "timed out", "connection refused"…


def judge(status: int) -> ProbeResult:
    # A redirect is not followed: on a network behind someone else's captive portal it leads to a
    # 200 login page, which must not count as the internet answering.
    return ProbeResult(status in SUCCESS_STATUSES, f"HTTP {status}")


def describe(problem: BaseException) -> str:
    if isinstance(problem, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(problem, socket.gaierror):
        return "name not resolved"
    if isinstance(problem, ConnectionRefusedError):
        return "connection refused"
    if isinstance(problem, ConnectionResetError):
        return "connection reset"
    if isinstance(problem, ssl.SSLError):
        return "TLS error"
    if isinstance(problem, http.client.HTTPException):
        return "not an HTTP answer"
    if isinstance(problem, OSError) and problem.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "network unreachable"
    return f"failed: {problem.__class__.__name__}"


class HttpProbe:
    """One GET of ``url``, bounded by ``timeout_s`` in total.

    The socket timeout does not cover name resolution, and a 4G link that is "connected" but passes no
    data makes the resolver wait 10 s or more; so the request runs in its own thread and is given up
    after the deadline (that thread ends on its own when the resolver does).
    """

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout_s

    def check(self) -> ProbeResult:
        outcome: list[ProbeResult] = []
        done = threading.Event()

        def run() -> None:
            try:
                outcome.append(self._request())
            except Exception as problem:  # every failure is an answer: "no internet"
                outcome.append(ProbeResult(False, describe(problem)))
            finally:
                done.set()

        threading.Thread(target=run, name="uplink-probe", daemon=True).start()
        if not done.wait(self._timeout):
            return ProbeResult(False, "timed out")
        return outcome[0]

    def _request(self) -> ProbeResult:
        connection: http.client.HTTPConnection
        if self._https:
            connection = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout)
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            connection.request("GET", self._target, headers={
                "User-Agent": "triporteur-kit uplink check", "Cache-Control": "no-cache", "Connection": "close"})
            response = connection.getresponse()
            response.read(4096)
            return judge(response.status)
        finally:
            connection.close()
