"""Which MAC address sits behind a client IP: dnsmasq's lease file first, then the kernel's ARP table."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def parse_leases(text: str) -> dict[str, str]:
    """dnsmasq lease lines: ``expiry mac ip hostname client-id`` → {ip: mac}."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and _MAC.match(fields[1].lower()):
            found[fields[2]] = fields[1].lower()
    return found


def parse_arp(text: str) -> dict[str, str]:
    """/proc/net/arp rows with a complete entry (flags 0x2) → {ip: mac}."""
    found: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        complete = len(fields) >= 4 and fields[2] != "0x0" and fields[3] != "00:00:00:00:00:00"
        if complete and _MAC.match(fields[3].lower()):
            found[fields[0]] = fields[3].lower()
    return found


class NeighbourTable:
    """Looks up a client's MAC address from files the system keeps; never raises on a missing file."""

    def __init__(self, leases_file: str | Path, arp_file: str | Path = "/proc/net/arp") -> None:
        self._leases_file = Path(leases_file)
        self._arp_file = Path(arp_file)

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text(encoding="ascii", errors="replace")
        except OSError:
            return ""

    def mac_for(self, ip: str) -> str | None:
        try:
            if ipaddress.ip_address(ip).version != 4:
                return None
        except ValueError:
            return None
        mac = parse_leases(self._read(self._leases_file)).get(ip)
        return mac or parse_arp(self._read(self._arp_file)).get(ip)

    def ip_for(self, mac: str) -> str | None:
        for table in (parse_leases(self._read(self._leases_file)), parse_arp(self._read(self._arp_file))):
            for ip, known in table.items():
                if known == mac:
                    return ip
        return None
