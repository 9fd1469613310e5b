"""Access sessions: who may reach the internet, until when, and with how much data.

A session row is also the legal connection log (device identifier, IP, start, end, bytes; never URLs),
kept ``connections.retention_days`` after it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.adapters.firewall import Client, Firewall, Grant
from kiosk.store import Store, StoreError

log = logging.getLogger("kiosk.access")

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limits:
    session_seconds: int
    idle_seconds: int
    quota_bytes: int  # 0: no limit

    @classmethod
    def from_settings(cls, settings) -> Limits:
        return cls(
            session_seconds=settings.access.session_minutes * 60,
            idle_seconds=settings.access.idle_minutes * 60,
            quota_bytes=settings.access.quota_mb * 1_000_000,
        )


@dataclass(frozen=True)
class Session:
    id: int
    ip: str | None
    mac: str | None
    language: str
    granted_by: str
    started_at: int
    ends_at: int
    idle_timeout_s: int
    quota_bytes: int
    bytes_base: int  # bytes counted before the firewall was last rebuilt (its counters restart at 0)
    bytes_used: int
    last_activity_at: int
    ended_at: int | None
    end_reason: str | None

    @property
    def client(self) -> Client:
        return Client(self.ip, self.mac)

    def seconds_remaining(self, now: float) -> int:
        return max(0, int(self.ends_at - now))

    def minutes_remaining(self, now: float) -> int:
        """Rounded up, so a fresh two-hour session reads "120 minutes", not 119."""
        return -(-self.seconds_remaining(now) // 60)

    def bytes_remaining(self) -> int | None:
        if not self.quota_bytes:
            return None
        return max(0, self.quota_bytes - self.bytes_used)


@dataclass(frozen=True)
class ClientState:
    """What the kit knows of a device making a request."""

    ip: str | None
    mac: str | None
    session: Session | None
    trusted: bool

    @property
    def authorised(self) -> bool:
        return self.trusted or self.session is not None


_COLUMNS = ("id, ip, mac, language, granted_by, started_at, ends_at, idle_timeout_s, quota_bytes, "
            "bytes_base, bytes_used, last_activity_at, ended_at, end_reason")


def _session(row) -> Session:
    return Session(**dict(zip(row.keys(), row, strict=True)))


class AccessService:
    def __init__(self, store: Store, firewall: Firewall, limits: Limits, trusted_macs: list[str],
                 clock: Clock) -> None:
        self._store = store
        self._firewall = firewall
        self._limits = limits
        self._trusted = frozenset(mac.lower() for mac in trusted_macs)
        self._clock = clock

    @property
    def limits(self) -> Limits:
        return self._limits

    def _now(self) -> int:
        return int(self._clock())

    def is_trusted(self, mac: str | None) -> bool:
        return mac is not None and mac.lower() in self._trusted

    def open_session_for(self, ip: str | None, mac: str | None) -> Session | None:
        """The open session of this device. A session tied to a MAC only matches that MAC, so an IP
        handed to another phone by DHCP does not inherit someone else's access."""
        with self._store.read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM access_sessions WHERE ended_at IS NULL "  # noqa: S608 - constant columns
                "AND ((mac IS NOT NULL AND mac = ?) OR (ip IS NOT NULL AND ip = ?)) ORDER BY id DESC",
                (mac, ip),
            ).fetchall()
        now = self._now()
        for row in rows:
            session = _session(row)
            if session.mac and mac and session.mac != mac:
                continue
            if session.mac and not mac and session.ip != ip:
                continue
            if session.ends_at <= now:
                continue
            return session
        return None

    def state_of(self, ip: str | None, mac: str | None) -> ClientState:
        return ClientState(ip, mac, self.open_session_for(ip, mac), self.is_trusted(mac))

    def grant(self, ip: str | None, mac: str | None, language: str, granted_by: str = "portal") -> Session:
        """Open a session (or return the open one: accepting twice grants once)."""
        existing = self.open_session_for(ip, mac)
        if existing is not None:
            return existing
        now = self._now()
        limits = self._limits
        client = Client(ip, mac)
        ends_at = now + limits.session_seconds
        # Firewall first: if it refuses, nothing is recorded; if the store then fails, the grant is undone.
        self._firewall.grant(Grant(client, ends_at))
        try:
            with self._store.write() as db:
                cursor = db.execute(
                    "INSERT INTO access_sessions (ip, mac, language, granted_by, started_at, ends_at, "
                    "idle_timeout_s, quota_bytes, last_activity_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (ip, mac, language, granted_by, now, ends_at, limits.idle_seconds, limits.quota_bytes, now),
                )
                row = db.execute(f"SELECT {_COLUMNS} FROM access_sessions WHERE id = ?",  # noqa: S608
                                 (cursor.lastrowid,)).fetchone()
        except StoreError:
            self._firewall.revoke(client)
            raise
        session = _session(row)
        log.info("granted %s until %s (by %s)", session.client, session.ends_at, granted_by)
        return session

    def touch(self, session: Session) -> None:
        """The device talked to the kit: it is not idle."""
        now = self._now()
        if now - session.last_activity_at < 30:
            return  # spare the SD card: at most one write per device every 30 s
        with self._store.write() as db:
            db.execute("UPDATE access_sessions SET last_activity_at = ? WHERE id = ? AND ended_at IS NULL",
                       (now, session.id))

    def revoke(self, ip: str | None = None, mac: str | None = None, reason: str = "revoked") -> int:
        """End every open session matching the IP or MAC; returns how many ended."""
        with self._store.read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM access_sessions WHERE ended_at IS NULL "  # noqa: S608
                "AND ((? IS NOT NULL AND ip = ?) OR (? IS NOT NULL AND mac = ?))",
                (ip, ip, mac, mac),
            ).fetchall()
        sessions = [_session(row) for row in rows]
        self._end(sessions, reason)
        return len(sessions)

    def _end(self, sessions: list[Session], reason: str) -> None:
        if not sessions:
            return
        now = self._now()
        with self._store.write() as db:
            db.executemany(
                "UPDATE access_sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
                [(min(now, s.ends_at) if reason == "expired" else now, reason, s.id) for s in sessions],
            )
        for session in sessions:
            if not self.is_trusted(session.mac):
                self._firewall.revoke(session.client)
            log.info("session %d of %s ended: %s", session.id, session.client, reason)

    def open_sessions(self) -> list[Session]:
        with self._store.read() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM access_sessions "  # noqa: S608
                              "WHERE ended_at IS NULL ORDER BY started_at").fetchall()
        return [_session(row) for row in rows]

    def sweep(self) -> dict[str, int]:
        """Read the firewall's counters, then end sessions past their time, idle, or over quota.

        Returns how many sessions ended for each reason.
        """
        now = self._now()
        counters = self._firewall.counters()
        ended: dict[str, list[Session]] = {"expired": [], "idle": [], "quota": []}
        updates = []
        for session in self.open_sessions():
            counted = counters.get(session.client)
            bytes_used, last_activity = session.bytes_used, session.last_activity_at
            if counted is not None and session.bytes_base + counted > bytes_used:
                bytes_used, last_activity = session.bytes_base + counted, now
            if bytes_used != session.bytes_used or last_activity != session.last_activity_at:
                updates.append((bytes_used, last_activity, session.id))
            if session.ends_at <= now:
                ended["expired"].append(session)
            elif session.quota_bytes and bytes_used >= session.quota_bytes:
                ended["quota"].append(session)
            elif now - last_activity >= session.idle_timeout_s:
                ended["idle"].append(session)
        if updates:
            with self._store.write() as db:
                db.executemany("UPDATE access_sessions SET bytes_used = ?, last_activity_at = ? WHERE id = ?",
                               updates)
        for reason, sessions in ended.items():
            self._end(sessions, reason)
        return {reason: len(sessions) for reason, sessions in ended.items()}

    def reconcile(self) -> int:
        """At start: end what expired while the kit was off, then make the firewall match the store.

        Counters restart from zero in a fresh firewall, so what was used so far becomes the base.
        """
        self.sweep()
        with self._store.write() as db:
            db.execute("UPDATE access_sessions SET bytes_base = bytes_used WHERE ended_at IS NULL")
        grants = [Grant(s.client, s.ends_at) for s in self.open_sessions()]
        grants += [Grant(Client(None, mac), None) for mac in sorted(self._trusted)]
        self._firewall.reconcile(grants)
        return len(grants)
