"""The firewall port: how the kit lets a participant's device through, and reads what it used.

Backends: ``none`` (records grants in the store and logs what it would do; no traffic is enforced or
counted) and ``nftables`` (kiosk.adapters.nftables, or through the privileged helper).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from kiosk.store import Store

log = logging.getLogger("kiosk.firewall")


class FirewallError(Exception):
    """The firewall could not be changed; the message says why in one line."""


@dataclass(frozen=True, order=True)
class Client:
    """A device as the firewall sees it: an IPv4 address, a MAC address, or both."""

    ip: str | None = None
    mac: str | None = None

    def __post_init__(self) -> None:
        if self.ip is None and self.mac is None:
            raise ValueError("a client needs an IP or a MAC address")

    def __str__(self) -> str:
        return " ".join(part for part in (self.mac, self.ip) if part)


@dataclass(frozen=True)
class Grant:
    client: Client
    expires_at: int | None  # epoch seconds; None for trusted devices, which never expire


class Firewall(Protocol):
    name: str
    counts_traffic: bool  # False: counters() is always empty, so a missing element means nothing

    def grant(self, grant: Grant) -> None:
        """Let the client through until ``expires_at``."""

    def revoke(self, client: Client) -> None:
        """Make the client captive again."""

    def counters(self) -> dict[Client, int]:
        """Bytes forwarded per granted client since it was granted (absent: not counted)."""

    def reconcile(self, grants: list[Grant]) -> None:
        """Make the firewall hold exactly these grants (used at start)."""


class RecordingFirewall:
    """The ``none`` backend: a ledger in the store and a log line per effect it would have."""

    name = "none"
    counts_traffic = False

    def __init__(self, store: Store, clock) -> None:
        self._store = store
        self._clock = clock

    def grant(self, grant: Grant) -> None:
        client = grant.client
        with self._store.write() as db:
            db.execute(
                "INSERT INTO firewall_ledger (ip, mac, expires_at, recorded_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (ip, mac) DO UPDATE SET expires_at = excluded.expires_at, "
                "recorded_at = excluded.recorded_at",
                (client.ip or "", client.mac or "", grant.expires_at, int(self._clock())),
            )
        log.info("firewall(none): would allow %s until %s", client, grant.expires_at or "forever")

    def revoke(self, client: Client) -> None:
        with self._store.write() as db:
            db.execute("DELETE FROM firewall_ledger WHERE ip = ? AND mac = ?", (client.ip or "", client.mac or ""))
        log.info("firewall(none): would make %s captive again", client)

    def counters(self) -> dict[Client, int]:
        return {}

    def reconcile(self, grants: list[Grant]) -> None:
        with self._store.write() as db:
            db.execute("DELETE FROM firewall_ledger")
            db.executemany(
                "INSERT OR REPLACE INTO firewall_ledger (ip, mac, expires_at, recorded_at) VALUES (?, ?, ?, ?)",
                [(g.client.ip or "", g.client.mac or "", g.expires_at, int(self._clock())) for g in grants],
            )
        log.info("firewall(none): would hold %d grant(s) after reconciling", len(grants))

    def ledger(self) -> list[Grant]:
        """What this backend currently records as let through."""
        with self._store.read() as db:
            rows = db.execute("SELECT ip, mac, expires_at FROM firewall_ledger ORDER BY ip, mac").fetchall()
        return [Grant(Client(row["ip"] or None, row["mac"] or None), row["expires_at"]) for row in rows]
