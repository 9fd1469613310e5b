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
    # Bytes the firewall itself lets through from now on, both directions together; None: no limit.
    quota_bytes: int | None = None


@dataclass(frozen=True)
class QuotaReading:
    """A kernel quota as the firewall holds it: the budget it was given and what it has seen since."""

    used: int
    budget: int

    @property
    def exhausted(self) -> bool:
        """The firewall now drops the device's traffic."""
        return self.used >= self.budget


class Firewall(Protocol):
    name: str
    counts_traffic: bool  # False: counters() is always empty, so a missing element means nothing

    def grant(self, grant: Grant) -> None:
        """Let the client through until ``expires_at``."""

    def revoke(self, client: Client) -> None:
        """Make the client captive again."""

    def counters(self) -> dict[Client, int]:
        """Bytes forwarded per granted client since it was granted (absent: not counted)."""

    def quotas(self) -> dict[str, QuotaReading]:
        """The kernel quota of each granted IPv4 address that has one (MAC-only grants have none)."""

    def reconcile(self, grants: list[Grant]) -> None:
        """Make the firewall hold exactly these grants (used at start)."""

    def set_month_cap(self, budget: int | None) -> None:
        """The uplink's monthly cap for all participants' forwarded traffic together, made anew: ``budget``
        bytes from now (what is left of this month's cap); None: no cap."""

    def month_cap(self) -> QuotaReading | None:
        """The monthly cap's quota as the firewall holds it; None when it holds none."""


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
                "INSERT INTO firewall_ledger (ip, mac, expires_at, recorded_at, quota_bytes) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (ip, mac) DO UPDATE SET expires_at = excluded.expires_at, "
                "recorded_at = excluded.recorded_at, quota_bytes = excluded.quota_bytes",
                (client.ip or "", client.mac or "", grant.expires_at, int(self._clock()), _budget(grant)),
            )
        log.info("firewall(none): would allow %s until %s%s", client, grant.expires_at or "forever",
                 f", cut after {_budget(grant)} bytes" if _budget(grant) else "")

    def revoke(self, client: Client) -> None:
        with self._store.write() as db:
            db.execute("DELETE FROM firewall_ledger WHERE ip = ? AND mac = ?", (client.ip or "", client.mac or ""))
        log.info("firewall(none): would make %s captive again", client)

    def counters(self) -> dict[Client, int]:
        return {}

    def quotas(self) -> dict[str, QuotaReading]:
        """The budgets it would have given the kernel; nothing flows through this backend, so none is used."""
        return {grant.client.ip: QuotaReading(0, grant.quota_bytes) for grant in self.ledger()
                if grant.client.ip and grant.quota_bytes}

    def reconcile(self, grants: list[Grant]) -> None:
        with self._store.write() as db:
            db.execute("DELETE FROM firewall_ledger")
            db.executemany(
                "INSERT OR REPLACE INTO firewall_ledger (ip, mac, expires_at, recorded_at, quota_bytes) "
                "VALUES (?, ?, ?, ?, ?)",
                [(g.client.ip or "", g.client.mac or "", g.expires_at, int(self._clock()), _budget(g))
                 for g in grants],
            )
        log.info("firewall(none): would hold %d grant(s) after reconciling", len(grants))

    def set_month_cap(self, budget: int | None) -> None:
        with self._store.write() as db:
            db.execute("DELETE FROM firewall_month_cap")
            if budget is not None:
                db.execute("INSERT INTO firewall_month_cap (id, budget, set_at) VALUES (1, ?, ?)",
                           (budget, int(self._clock())))
        log.info("firewall(none): would %s", f"cut all participants after {budget} more bytes this month"
                 if budget is not None else "hold no monthly cap")

    def month_cap(self) -> QuotaReading | None:
        """The monthly budget it would have given the kernel; nothing flows through it, so none is used."""
        with self._store.read() as db:
            row = db.execute("SELECT budget FROM firewall_month_cap WHERE id = 1").fetchone()
        return QuotaReading(0, row["budget"]) if row is not None else None

    def ledger(self) -> list[Grant]:
        """What this backend currently records as let through."""
        with self._store.read() as db:
            rows = db.execute("SELECT ip, mac, expires_at, quota_bytes FROM firewall_ledger "
                              "ORDER BY ip, mac").fetchall()
        return [Grant(Client(row["ip"] or None, row["mac"] or None), row["expires_at"], row["quota_bytes"])
                for row in rows]


def _budget(grant: Grant) -> int | None:
    """The kernel quota a grant gets: only by IPv4 address, since the kit cannot tell a download's
    destination MAC in the forward hook (the Ethernet header is written after routing)."""
    return grant.quota_bytes if grant.client.ip is not None else None
