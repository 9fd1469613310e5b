"""Access sessions: who may reach the internet, until when, and with how much data.

A session row is also the legal connection log (device identifier, IP, start, end, bytes; never URLs),
kept ``connections.retention_days`` after it ends.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

from kiosk.adapters.firewall import Client, Firewall, FirewallError, Grant, QuotaReading
from kiosk.store import Store, StoreError

log = logging.getLogger("kiosk.access")

Clock = Callable[[], float]
NatPorts = Callable[[str | None], str | None]
# Is this MAC on the Wi-Fi now: None when nothing can tell (hostapd not running); OSError when it cannot say.
Associated = Callable[[str], bool | None]


class MonthCap(Protocol):
    """The uplink's monthly cap as the store counts it (kiosk.services.uplink.UplinkService)."""

    def cap_month(self) -> str:
        """This month by the kit's clock: "2026-12"."""

    def cap_left(self) -> int | None:
        """The bytes left of this month's cap, with what the uplink carried until now (None: no cap)."""

# Held while the firewall and the store are brought in line, by every process (web, CLI).
FIREWALL_LOCK = "firewall"
CAP = "cap"  # the end reason of sessions cut by the uplink's monthly cap


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
    nat_ports: str | None  # the block of NAT source ports its address used ("10219-10437"), for the log

    @property
    def client(self) -> Client:
        return Client(self.ip, self.mac)

    def seconds_remaining(self, now: float) -> int:
        return max(0, int(self.ends_at - now))

    def minutes_remaining(self, now: float) -> int:
        """Rounded up, so a fresh two-hour session reads "120 minutes", not 119."""
        return -(-self.seconds_remaining(now) // 60)

    def kernel_budget(self) -> int | None:
        """What the firewall's own quota lets through from its (re)grant: the quota less what was counted
        before the firewall's counters last restarted (never 0, which nft would read as no budget)."""
        if not self.quota_bytes:
            return None
        return max(1, self.quota_bytes - self.bytes_base)

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
            "bytes_base, bytes_used, last_activity_at, ended_at, end_reason, nat_ports")


def _session(row) -> Session:
    return Session(**dict(zip(row.keys(), row, strict=True)))


class GrantRefused(Exception):
    """No session opened, for a reason the portal tells the participant (``reason``) in one sentence."""

    NOT_ASSOCIATED = "not-associated"
    WIFI_UNAVAILABLE = "wifi-unavailable"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class AccessService:
    def __init__(self, store: Store, firewall: Firewall, limits: Limits, trusted_macs: list[str],
                 clock: Clock, trusted_networks: tuple[str, ...] = (),
                 nat_ports: NatPorts = lambda ip: None,
                 associated: Associated | None = None, month_cap: MonthCap | None = None) -> None:
        self._store = store
        self._firewall = firewall
        self._limits = limits
        self._trusted = frozenset(mac.lower() for mac in trusted_macs)
        self._clock = clock
        self._nat_ports = nat_ports
        # Whether a MAC is on the participants' Wi-Fi now (hostapd); None when the kit does not follow it.
        self._associated = associated
        # The mediators' network: its devices never see the portal.
        self._trusted_networks = tuple(ipaddress.ip_network(net, strict=False) for net in trusted_networks)
        self._month_cap = month_cap
        self._cap_month: str | None = None  # the month whose cap the firewall holds, once this process set it
        self._cap_budget: int | None = None
        self._cap_spent = False
        self._holding = threading.local()

    @contextmanager
    def _firewall_lock(self) -> Iterator[None]:
        """The store's firewall lock, entered again freely by the thread that holds it (an flock taken
        through a second file descriptor would wait for the first, in the same thread, for ever)."""
        if getattr(self._holding, "lock", False):
            yield
            return
        with self._store.exclusive(FIREWALL_LOCK):
            self._holding.lock = True
            try:
                yield
            finally:
                self._holding.lock = False

    @property
    def month_cap_spent(self) -> bool:
        """The firewall's monthly quota was spent at this process's last sweep: the uplink's own count may
        not say so yet (it is read once a minute), and a session opened now would get nothing."""
        return self._cap_spent

    @property
    def limits(self) -> Limits:
        return self._limits

    def _now(self) -> int:
        return int(self._clock())

    def is_trusted(self, mac: str | None) -> bool:
        return mac is not None and mac.lower() in self._trusted

    def _find_open(self, db, ip: str | None, mac: str | None, now: int) -> Session | None:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM access_sessions WHERE ended_at IS NULL "  # noqa: S608 - constant columns
            "AND ((mac IS NOT NULL AND mac = ?) OR (ip IS NOT NULL AND ip = ?)) ORDER BY id DESC",
            (mac, ip),
        ).fetchall()
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

    def open_session_for(self, ip: str | None, mac: str | None) -> Session | None:
        """The open session of this device. A session tied to a MAC only matches that MAC, so an IP
        handed to another phone by DHCP does not inherit someone else's access."""
        with self._store.read() as db:
            return self._find_open(db, ip, mac, self._now())

    def state_of(self, ip: str | None, mac: str | None) -> ClientState:
        return ClientState(ip, mac, self.open_session_for(ip, mac), self.is_trusted(mac) or self._on_staff(ip))

    def _on_staff(self, ip: str | None) -> bool:
        if not ip or not self._trusted_networks:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self._trusted_networks)

    def grant(self, ip: str | None, mac: str | None, language: str, granted_by: str = "portal") -> Session:
        """Open a session, or return the open one: accepting twice grants once.

        The firewall element is (re)applied every time, since the table may have been reloaded since.
        When the kit follows the Wi-Fi, only a MAC associated now is granted (GrantRefused otherwise).
        """
        self._require_associated(mac)
        now = self._now()
        limits = self._limits
        # The session row and its firewall element appear together under the firewall lock, so a sweep
        # (which holds it while it reads the counters) never sees a session whose element is not there yet.
        with self._firewall_lock():
            with self._store.write() as db:  # BEGIN IMMEDIATE: one grant at a time, so a double tap grants once
                session = self._find_open(db, ip, mac, now)
                fresh = session is None
                if fresh:
                    # Expired but not yet swept: end them now, so the next sweep does not revoke the element
                    # this grant is about to add for the same device.
                    db.execute("UPDATE access_sessions SET ended_at = ends_at, end_reason = 'expired' "
                               "WHERE ended_at IS NULL AND ends_at <= ? AND (mac = ? OR (mac IS NULL AND ip = ?))",
                               (now, mac, ip))
                    cursor = db.execute(
                        "INSERT INTO access_sessions (ip, mac, language, granted_by, started_at, ends_at, "
                        "idle_timeout_s, quota_bytes, last_activity_at, nat_ports) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (ip, mac, language, granted_by, now, now + limits.session_seconds, limits.idle_seconds,
                         limits.quota_bytes, now, self._nat_ports(ip)),
                    )
                    session = _session(db.execute(f"SELECT {_COLUMNS} FROM access_sessions "  # noqa: S608
                                                  "WHERE id = ?", (cursor.lastrowid,)).fetchone())
            try:
                self._firewall.grant(Grant(session.client, session.ends_at, session.kernel_budget()))
            except FirewallError:
                if fresh:  # nothing was opened: leave no trace of a session that never was
                    with self._store.write() as db:
                        db.execute("DELETE FROM access_sessions WHERE id = ?", (session.id,))
                raise
        if fresh:
            log.info("granted %s until %s (by %s)", session.client, session.ends_at, granted_by)
        try:
            # It may have left between the check and the grant, before the follower could see a session.
            self._require_associated(mac)
        except GrantRefused as refused:
            if refused.reason != GrantRefused.NOT_ASSOCIATED:
                return session  # hostapd cannot be asked now: the follower settles it when it is back
            self.revoke(mac=mac, reason="left")
            raise
        return session

    def _require_associated(self, mac: str | None) -> None:
        if self._associated is None or self.is_trusted(mac):
            return
        if mac is None:
            raise GrantRefused(GrantRefused.NOT_ASSOCIATED,
                               "the kit does not know this device's MAC address, so cannot tell it is on its Wi-Fi")
        try:
            present = self._associated(mac)
        except OSError as problem:
            log.warning("could not ask hostapd about %s: %s", mac, problem)
            raise GrantRefused(GrantRefused.WIFI_UNAVAILABLE,
                               "the Wi-Fi is restarting; try again in a moment") from None
        if present is None:
            log.info("hostapd is not running: %s granted unchecked (ended at catch-up unless associated)", mac)
        elif not present:
            raise GrantRefused(GrantRefused.NOT_ASSOCIATED, f"{mac} is not connected to the kit's Wi-Fi now")

    def touch(self, session: Session) -> None:
        """The device talked to the kit: it is not idle. Best effort: a full disk must not break pages."""
        now = self._now()
        if now - session.last_activity_at < 30:
            return  # spare the SD card: at most one write per device every 30 s
        try:
            with self._store.write() as db:
                db.execute("UPDATE access_sessions SET last_activity_at = ? WHERE id = ? AND ended_at IS NULL",
                           (now, session.id))
        except StoreError as problem:
            log.warning("could not record activity: %s", problem)

    def revoke(self, ip: str | None = None, mac: str | None = None, reason: str = "revoked") -> int:
        """End every open session matching the IP or MAC; returns how many ended. Raises FirewallError
        (after ending what could be ended) when the firewall refused to close one."""
        with self._store.read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM access_sessions WHERE ended_at IS NULL "  # noqa: S608
                "AND ((? IS NOT NULL AND ip = ?) OR (? IS NOT NULL AND mac = ?))",
                (ip, ip, mac, mac),
            ).fetchall()
        sessions = [_session(row) for row in rows]
        ended, failure = self._end(sessions, reason)
        if failure is not None:
            raise failure
        return len(ended)

    def _end(self, sessions: list[Session], reason: str) -> tuple[list[Session], FirewallError | None]:
        """Close each session in the firewall first, then record it as ended. A session the firewall
        could not close stays open in the store, so the next sweep tries again.

        Under the store's ``firewall`` lock, like ``grant`` and ``_restore``: a sweep in the web process
        cannot put back a session a mediator is ending from the command line."""
        if not sessions:
            return [], None
        now = self._now()
        ending = {session.id for session in sessions}
        ended: list[Session] = []
        failure: FirewallError | None = None
        with self._firewall_lock():
            still_open = [s for s in self.open_sessions() if s.id not in ending]
            for session in sessions:
                shared = any(other.client == session.client for other in still_open)
                if not self.is_trusted(session.mac) and not shared:
                    try:
                        self._firewall.revoke(session.client)
                    except FirewallError as problem:
                        log.error("could not close session %d of %s: %s", session.id, session.client, problem)
                        failure = problem
                        continue
                ended.append(session)
            if ended:
                with self._store.write() as db:
                    db.executemany(
                        "UPDATE access_sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
                        [(min(now, s.ends_at) if reason == "expired" else now, reason, s.id) for s in ended],
                    )
        for session in ended:
            log.info("session %d of %s ended: %s", session.id, session.client, reason)
        return ended, failure

    def _still_open(self, session: Session) -> bool:
        with self._store.read() as db:
            return db.execute("SELECT 1 FROM access_sessions WHERE id = ? AND ended_at IS NULL",
                              (session.id,)).fetchone() is not None

    def open_sessions(self) -> list[Session]:
        with self._store.read() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM access_sessions "  # noqa: S608
                              "WHERE ended_at IS NULL ORDER BY started_at").fetchall()
        return [_session(row) for row in rows]

    def sweep(self) -> dict[str, int]:
        """Read the firewall's counters, then end sessions past their time, cut by the monthly cap, idle,
        or over quota.

        The kernel enforces the quotas by itself (its packets are already dropped): the sweep records it.
        A MAC-only grant has no kernel quota, so for it the counters decide. The whole round holds the
        firewall lock, so a grant cannot slip in between the counters read and the decisions. Returns how
        many sessions ended for each reason.
        """
        with self._firewall_lock():
            now = self._now()
            counters = self._firewall.counters()
            quotas = self._firewall.quotas()
            month_cap = self._keep_month_cap()
            capped = self._cap_spent = month_cap is not None and month_cap.exhausted
            ended: dict[str, list[Session]] = {"expired": [], CAP: [], "idle": [], "quota": []}
            updates = []
            lost = []
            for session in self.open_sessions():
                counted = counters.get(session.client)
                if counted is None and self._firewall.counts_traffic and session.ends_at > now:
                    lost.append(session)
                bytes_used, last_activity = session.bytes_used, session.last_activity_at
                if counted is not None and session.bytes_base + counted > bytes_used:
                    bytes_used, last_activity = session.bytes_base + counted, now
                if bytes_used != session.bytes_used or last_activity != session.last_activity_at:
                    updates.append((bytes_used, last_activity, session.id))
                if session.ends_at <= now:
                    ended["expired"].append(session)
                elif capped:
                    ended[CAP].append(session)
                elif session.quota_bytes and (bytes_used >= session.quota_bytes or self._cut(quotas, session)):
                    ended["quota"].append(session)
                elif now - last_activity >= session.idle_timeout_s:
                    ended["idle"].append(session)
            if updates:
                with self._store.write() as db:
                    db.executemany("UPDATE access_sessions SET bytes_used = ?, last_activity_at = ? WHERE id = ?",
                                   updates)
            for reason, sessions in ended.items():
                ended[reason], _ = self._end(sessions, reason)
            self._restore(lost, ended)
        return {reason: len(sessions) for reason, sessions in ended.items()}

    def _keep_month_cap(self, anew: bool = False) -> QuotaReading | None:
        """Give the firewall what is left of this month's uplink cap when the month turns (by the kit's
        clock), when its quota went missing (the table was reloaded), or ``anew``; returns what it holds."""
        if self._month_cap is None:
            return None
        month = self._month_cap.cap_month()
        if not anew and month == self._cap_month:
            if self._cap_budget is None:
                return None  # no cap, and the firewall was told so this month
            held = self._firewall.month_cap()
            if held is not None:
                return held
        left = self._month_cap.cap_left()
        budget = None if left is None else max(1, left)  # 0 would read as no budget: 1 byte cuts at once
        try:
            self._firewall.set_month_cap(budget)
        except FirewallError as problem:
            log.error("could not give the firewall this month's cap: %s", problem)
            return None
        if budget is not None:
            log.info("monthly cap for %s: %d bytes left for the participants", month, budget)
        self._cap_month, self._cap_budget = month, budget
        return None if budget is None else QuotaReading(0, budget)

    @staticmethod
    def _cut(quotas: dict, session: Session) -> bool:
        reading = quotas.get(session.ip) if session.ip else None
        return reading is not None and reading.exhausted

    def _restore(self, lost: list[Session], ended: dict[str, list[Session]]) -> None:
        """Elements missing from the firewall (its table was reloaded while the kit ran): grant them
        again, and count from the bytes used so far since their counters restart at zero."""
        gone = {session.id for sessions in ended.values() for session in sessions}
        for session in (s for s in lost if s.id not in gone):
            with self._firewall_lock():
                if not self._still_open(session):  # a mediator ended it since the sweep looked
                    continue
                budget = replace(session, bytes_base=session.bytes_used).kernel_budget()
                try:
                    self._firewall.grant(Grant(session.client, session.ends_at, budget))
                except FirewallError as problem:
                    log.error("could not restore session %d of %s: %s", session.id, session.client, problem)
                    continue
                with self._store.write() as db:
                    db.execute("UPDATE access_sessions SET bytes_base = bytes_used WHERE id = ?", (session.id,))
            log.warning("session %d of %s was missing from the firewall: restored", session.id, session.client)

    def reconcile(self) -> int:
        """At start: end what expired while the kit was off, then make the firewall match the store.

        Counters restart from zero in a fresh firewall, so what was used so far becomes the base, and each
        kernel quota is made for the bytes its session has left; so is the monthly cap's, for what the
        store says is left of this month's.
        """
        with self._firewall_lock():
            self._keep_month_cap(anew=True)
        self.sweep()
        with self._store.write() as db:
            db.execute("UPDATE access_sessions SET bytes_base = bytes_used WHERE ended_at IS NULL")
        grants = [Grant(s.client, s.ends_at, s.kernel_budget()) for s in self.open_sessions()]
        grants += [Grant(Client(None, mac), None) for mac in sorted(self._trusted)]
        self._firewall.reconcile(grants)
        return len(grants)
