"""Which MAC address sits behind a client IP: dnsmasq's lease file first, then the kernel's ARP table."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


def parse_leases(text: str) -> dict[str, str]:
    """dnsmasq lease lines: ``expiry mac ip hostname client-id`` → {ip: mac}."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and _MAC.fullmatch(fields[1].lower()):
            found[fields[2]] = fields[1].lower()
    return found


def parse_arp(text: str) -> dict[str, str]:
    """/proc/net/arp rows with a complete entry (flags 0x2) → {ip: mac}."""
    found: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        complete = len(fields) >= 4 and fields[2] != "0x0" and fields[3] != "00:00:00:00:00:00"
        if complete and _MAC.fullmatch(fields[3].lower()):
            found[fields[0]] = fields[3].lower()
    return found


class _CachedTable:
    """A parsed file, read again only when it changed (lease file) or when it is older than ``ttl_s``
    (/proc files have no useful modification time)."""

    def __init__(self, path: Path, parse: Callable[[str], dict[str, str]], ttl_s: float | None) -> None:
        self._path = path
        self._parse = parse
        self._ttl = ttl_s
        self._key: object = None
        self._table: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self) -> dict[str, str]:
        if self._ttl is not None:
            key: object = int(time.monotonic() / self._ttl)
        else:
            try:
                stat = self._path.stat()
                key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            except OSError:
                key = None
        with self._lock:
            if key != self._key or key is None:
                try:
                    text = self._path.read_text(encoding="ascii", errors="replace")
                except OSError:
                    text = ""
                self._table, self._key = self._parse(text), key
            return self._table


class NeighbourTable:
    """Looks up a client's MAC address from files the system keeps; never raises on a missing file."""

    def __init__(self, leases_file: str | Path, arp_file: str | Path = "/proc/net/arp",
                 arp_ttl_s: float = 1.0) -> None:
        self._leases = _CachedTable(Path(leases_file), parse_leases, None)
        self._arp = _CachedTable(Path(arp_file), parse_arp, arp_ttl_s)

    def mac_for(self, ip: str) -> str | None:
        # Tables are keyed by dotted IPv4 text, so any other text simply finds nothing.
        return self._leases.get().get(ip) or self._arp.get().get(ip)

    def ip_for(self, mac: str) -> str | None:
        for table in (self._leases.get(), self._arp.get()):
            for ip, known in table.items():
                if known == mac:
                    return ip
        return None
