"""Each participant address leaves the kit through its own block of NAT source ports.

Behind the 4G uplink every phone shares the kit's one public address. A lawful request names that address,
a source port and a time (décret 2021-1362 asks the operator to keep "source IP and port"): with a fixed
block of ports per LAN address, the connection log answers it without logging every connection. The
ruleset gives the blocks (kiosk/adapters/nftables.py) and each session records its own.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

PARTICIPANT_FIRST_PORT = 10_000
LAST_PORT = 65_535
PARTICIPANT_PORTS = LAST_PORT - PARTICIPANT_FIRST_PORT + 1
# The kit itself and the mediators' network leave through ports below every participant's block.
KIT_PORTS = "1024-9999"
# Ports are per destination, so a block this size still carries a phone's many parallel connections.
MIN_BLOCK = 128


@dataclass(frozen=True)
class PortBlock:
    first: int
    last: int

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


def participant_addresses(lan: ipaddress.IPv4Interface) -> list[ipaddress.IPv4Address]:
    """Every address a participant's device may use on the LAN: all hosts but the kit's own."""
    return [address for address in lan.network.hosts() if address != lan.ip]


def block_size(lan: ipaddress.IPv4Interface) -> int:
    return PARTICIPANT_PORTS // max(len(participant_addresses(lan)), 1)


def too_large(lan: ipaddress.IPv4Interface) -> str | None:
    """Why this LAN cannot give each address a block of at least MIN_BLOCK ports, or None."""
    # Counted without listing the hosts: a mistyped /8 must not build sixteen million addresses.
    if lan.network.num_addresses - 3 > PARTICIPANT_PORTS // MIN_BLOCK:  # a /24 fits (219 ports), a /23 not
        return (f"is too large: each participant address needs its own block of at least {MIN_BLOCK} NAT "
                "ports for the connection log; use a /24 or smaller")
    return None


def blocks(lan: ipaddress.IPv4Interface) -> list[tuple[ipaddress.IPv4Address, PortBlock]]:
    size = block_size(lan)
    return [(address, PortBlock(PARTICIPANT_FIRST_PORT + index * size, PARTICIPANT_FIRST_PORT + (index + 1) * size - 1))
            for index, address in enumerate(participant_addresses(lan))]


def block_for(lan: ipaddress.IPv4Interface, ip: str | None) -> PortBlock | None:
    """The block a LAN address leaves through, or None for an address that is not a participant's."""
    try:
        address = ipaddress.IPv4Address(ip or "")
    except ValueError:
        return None
    for candidate, block in blocks(lan):
        if candidate == address:
            return block
    return None
