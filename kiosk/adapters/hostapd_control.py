"""hostapd's control interface (``ctrl_interface``): which phones are associated with the participants'
Wi-Fi now, and the events saying one joined or left.

The protocol is hostapd's own (src/common/wpa_ctrl.c, hostapd/ctrl_iface.c): a Unix datagram socket per
interface (``/run/hostapd/wlan0``); the client binds a socket of its own so hostapd can answer, sends a
command per datagram and gets one datagram back. After ``ATTACH`` (reply ``OK``) hostapd also sends
unsolicited events, ``<3>AP-STA-CONNECTED 02:aa:..`` (``<level>`` then the text, sometimes with
``key=value`` fields after the MAC), which may arrive while a reply is awaited. ``STA-FIRST`` and
``STA-NEXT <mac>`` walk the station table: the MAC on the first line, then ``key=value`` lines; an empty
reply after the last one; ``FAIL`` when the MAC given to ``STA-NEXT`` is no longer in the table.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import socket
import tempfile
from collections import deque
from dataclasses import dataclass

_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_EVENT = re.compile(r"<(\d)>(AP-STA-CONNECTED|AP-STA-DISCONNECTED) (\S+)(?: .*)?")
REPLY_BYTES = 4096  # hostapd answers a STA request in at most a few hundred bytes
_counter = itertools.count()


class ControlError(OSError):
    """hostapd's socket is missing, refuses us, or does not answer: the message says which."""


@dataclass(frozen=True)
class StationEvent:
    joined: bool  # True: AP-STA-CONNECTED; False: AP-STA-DISCONNECTED
    mac: str


def parse_event(text: str) -> StationEvent | None:
    """A station event from one unsolicited message, or None for any other (or malformed) message."""
    match = _EVENT.fullmatch(text.strip())
    if match is None:
        return None
    mac = match.group(3).lower()
    if not _MAC.fullmatch(mac):
        return None
    return StationEvent(match.group(2) == "AP-STA-CONNECTED", mac)


def parse_station(reply: str) -> tuple[str, bool] | None:
    """``(mac, associated)`` from a STA/STA-FIRST/STA-NEXT reply; None for the end of the table or FAIL.

    hostapd's table also holds stations that only authenticated: ``flags=`` says ``[ASSOC]`` for the
    associated ones."""
    lines = reply.splitlines()
    if not lines or not _MAC.fullmatch(lines[0].strip().lower()):
        return None
    fields = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    flags = fields.get("flags")
    return lines[0].strip().lower(), flags is None or "[ASSOC]" in flags


class HostapdControl:
    """One client connection to hostapd's control socket of one interface."""

    def __init__(self, path: str, local_dir: str | None = None, timeout: float = 2.0) -> None:
        self.path = path
        self._local_dir = local_dir or tempfile.gettempdir()
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._local: str | None = None
        self._inode = 0
        self.events: deque[str] = deque(maxlen=1024)  # unsolicited messages received while awaiting a reply

    def open(self) -> None:
        self.close()
        local = os.path.join(self._local_dir, f"kiosk_ctrl_{os.getpid()}-{next(_counter)}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if os.path.exists(local):
                os.unlink(local)
            sock.bind(local)
            sock.connect(self.path)
            inode = os.stat(self.path).st_ino
        except OSError as problem:
            sock.close()
            if os.path.exists(local):
                os.unlink(local)
            raise ControlError(f"hostapd's control socket {self.path}: {problem.strerror or problem}") from None
        self._sock, self._local, self._inode = sock, local, inode

    def replaced(self) -> bool:
        """hostapd's socket file is gone or is a new one (hostapd restarted): this connection is dead."""
        try:
            return os.stat(self.path).st_ino != self._inode
        except OSError:
            return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._local is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._local)
            self._local = None

    def __enter__(self) -> HostapdControl:
        self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def fileno(self) -> int:
        if self._sock is None:
            raise ControlError("not connected to hostapd")
        return self._sock.fileno()

    def request(self, command: str) -> str:
        """Send one command and return hostapd's reply; events arriving meanwhile go to ``events``."""
        if self._sock is None:
            raise ControlError("not connected to hostapd")
        try:
            self._sock.settimeout(self._timeout)
            self._sock.send(command.encode("ascii"))
            while True:
                data = self._sock.recv(REPLY_BYTES)
                text = data.decode("utf-8", "replace")
                if text.startswith("<"):
                    self.events.append(text)
                    continue
                return text
        except TimeoutError:
            raise ControlError(f"hostapd did not answer {command.split()[0]} within {self._timeout:g} s") from None
        except OSError as problem:
            raise ControlError(f"hostapd's control socket {self.path}: {problem.strerror or problem}") from None

    def attach(self) -> None:
        reply = self.request("ATTACH")
        if reply.strip() != "OK":
            raise ControlError(f"hostapd refused ATTACH: {reply.strip()[:40]!r}")

    def ping(self) -> bool:
        try:
            return self.request("PING").strip() == "PONG"
        except ControlError:
            return False

    def receive(self, timeout: float) -> str | None:
        """The next unsolicited message, or None when nothing came within ``timeout``.

        Raises ControlError when the socket failed (hostapd gone)."""
        if self.events:
            return self.events.popleft()
        if self._sock is None:
            raise ControlError("not connected to hostapd")
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(REPLY_BYTES)
        except TimeoutError:
            return None
        except OSError as problem:
            raise ControlError(f"hostapd's control socket {self.path}: {problem.strerror or problem}") from None
        return data.decode("utf-8", "replace")

    def is_associated(self, mac: str) -> bool:
        """Whether hostapd has this MAC associated now (``STA <mac>``: FAIL when it does not know it)."""
        station = parse_station(self.request(f"STA {mac}"))
        return station is not None and station[1] and station[0] == mac.lower()

    def stations(self, attempts: int = 3, limit: int = 4096) -> set[str]:
        """Every associated MAC, walking STA-FIRST/STA-NEXT.

        STA-NEXT answers FAIL when the station it continues from left meanwhile; the walk then starts
        over. Raises ControlError when no complete walk could be made, so a caller never takes a partial
        list for the truth."""
        for _ in range(attempts):
            associated: set[str] = set()
            reply = self.request("STA-FIRST")
            for _ in range(limit):
                if not reply.strip():
                    return associated  # an empty reply: the end of the table
                station = parse_station(reply)
                if station is None:
                    break  # FAIL: the walk lost its place
                mac, is_associated = station
                if is_associated:
                    associated.add(mac)
                reply = self.request(f"STA-NEXT {mac}")
        raise ControlError("hostapd's station table changed during every walk; could not list it")
