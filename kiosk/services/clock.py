"""The kit's clock, and the records made while it was wrong.

How records get corrected (per-boot offsets):

1. Every boot is a row of ``clock_boots``, keyed by the kernel's boot id, with its *frame*: the wall clock
   minus the seconds since boot. While nobody sets the clock the frame does not move (both clocks tick
   together); when the clock is set — by a mediator's phone, the 4G network's time, NTP, anyone — the frame
   jumps by exactly the correction.
2. Every row worth correcting is stamped with the boot it was made in (by the store's triggers, or here).
3. When the frame moved by more than a few seconds, every row of *this* boot is shifted by that amount, in
   one transaction: outings, activity records, tablet loans and wipe jobs (times), internet sessions (start,
   end, last activity — so an open session keeps its remaining time instead of expiring at the jump), and
   the days of questionnaire visits and appointment requests. Rows of earlier boots are left alone: they
   were made with whatever clock that boot had, which was corrected (or not) during that boot.

A second correction in the same boot shifts the same rows again, which is right: every row of the boot was
made on the clock as it stood, so a refinement applies to all of them. Not corrected: the uplink's data per
day (bytes counted under the wrong day stay there) and tablets' status times.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from kiosk.adapters.clock import ClockError, check_epoch
from kiosk.store import Store

log = logging.getLogger("kiosk.clock")

Clock = Callable[[], float]
TOLERANCE_S = 5.0  # below this a frame change is drift or rounding, not a setting of the clock
NETWORK_TRUST_S = 300.0  # the 4G network's time is used by itself when the kit is further off than this
NETWORK_CACHE_S = 60.0


class BootClock(Protocol):
    def boot_id(self) -> str: ...

    def since_boot(self) -> float: ...


class FollowingBoot:
    """A boot clock that follows the wall clock given (tests' manual clock): no external setting is ever
    seen, but ``ClockService.set_time`` still corrects the rows."""

    def __init__(self, clock: Clock, boot_id: str = "this-process") -> None:
        self._clock = clock
        self._base = clock()
        self._boot_id = boot_id

    def boot_id(self) -> str:
        return self._boot_id

    def since_boot(self) -> float:
        return self._clock() - self._base


@dataclass(frozen=True)
class Boot:
    id: int
    boot_id: str
    frame: float
    first_seen: float
    corrected: float
    last_source: str | None
    last_set_at: float | None


def local_day(moment: float) -> str:
    return datetime.fromtimestamp(moment).date().isoformat()


def shift_day(day: str, delta: float, earliest: float, latest: float) -> str:
    """The day a row made on ``day`` (by the old clock, between ``earliest`` and ``latest``) really was on."""
    try:
        start = datetime.combine(date.fromisoformat(day), datetime.min.time()).timestamp()
    except ValueError:
        return day
    # The row was made this boot: clamp the day's middle into the boot's span to guess its moment best.
    guess = min(max(start + 43_200, earliest), max(earliest, latest))
    guess = min(max(guess, start), start + 86_399)
    return local_day(guess + delta)


# table, its timestamp columns (shifted in seconds), integer columns?, day columns
_TIMED = (
    ("activity_records", ("recorded_at",), False),
    ("tablet_loans", ("lent_at", "returned_at"), False),
    ("wipe_jobs", ("started_at", "ended_at"), False),
    ("access_sessions", ("started_at", "ends_at", "last_activity_at", "ended_at"), True),
)
_DAYS = (
    ("survey_visits", ("started_day", "updated_day", "completed_day")),
    ("appointment_follow_up", ("requested_day", "status_day")),
)


@dataclass(frozen=True)
class NetworkTime:
    moment: datetime
    read_at: float  # the kit's clock when it was read

    def offset(self, now: float) -> float:
        """Seconds to add to the kit's clock to match the network (as of ``now``)."""
        return self.moment.timestamp() + (now - self.read_at) - now


class ClockService:
    def __init__(self, store: Store, clock: Clock, boot: BootClock, setter: Callable[[float], None] | None,
                 network_time: Callable[[], datetime | None] | None = None,
                 monotonic: Clock = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._boot = boot
        self._setter = setter
        self._network_time = network_time
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._network: tuple[float, NetworkTime | None] | None = None
        self._network_tried_at = float("-inf")

    @property
    def can_set(self) -> bool:
        return self._setter is not None

    def now(self) -> float:
        return self._clock()

    def stamp(self) -> tuple[str, float]:
        """(this boot's id, seconds since boot): a moment no clock setting moves (login sessions use it)."""
        return self._boot.boot_id(), self._boot.since_boot()

    def _frame(self) -> tuple[str, float, float]:
        now = self._clock()
        return self._boot.boot_id(), now - self._boot.since_boot(), now

    def current_boot(self) -> Boot:
        """This boot's row, registered on first sight (``kiosk serve`` does it at start)."""
        boot_id, frame, now = self._frame()
        with self._store.read() as db:
            row = db.execute("SELECT * FROM clock_boots WHERE boot_id = ?", (boot_id,)).fetchone()
        if row is None:
            with self._store.write() as db:
                db.execute("INSERT OR IGNORE INTO clock_boots (boot_id, frame, first_seen) VALUES (?, ?, ?)",
                           (boot_id, frame, now))
                row = db.execute("SELECT * FROM clock_boots WHERE boot_id = ?", (boot_id,)).fetchone()
        return Boot(row["id"], row["boot_id"], row["frame"], row["first_seen"], row["corrected"], row["last_source"],
                    row["last_set_at"])

    def reconcile(self, source: str = "system") -> float:
        """Correct this boot's rows if the clock was set since we last looked; returns the shift applied."""
        boot = self.current_boot()
        boot_id, frame, now = self._frame()
        if abs(frame - boot.frame) < TOLERANCE_S:
            return 0.0  # the usual case: nothing set the clock, and no write transaction is taken
        with self._lock, self._store.write() as db:
            row = db.execute("SELECT id, frame FROM clock_boots WHERE boot_id = ?", (boot_id,)).fetchone()
            delta = frame - row["frame"]
            if abs(delta) < TOLERANCE_S:
                return 0.0
            self._shift(db, row["id"], delta, row["frame"], now - delta)
            db.execute("UPDATE clock_boots SET frame = ?, corrected = corrected + ?, last_source = ?, "
                       "last_set_at = ? WHERE id = ?", (frame, delta, source, now, row["id"]))
        log.warning("the clock moved by %+.0f s (%s): this boot's records corrected", delta, source)
        return delta

    def set_time(self, epoch: float, source: str) -> float:
        """Set the kit's clock to ``epoch`` (ClockError when it cannot be), then correct this boot's rows.

        Returns the correction in seconds; 0 when the clock was already within the tolerance.
        """
        if self._setter is None:
            raise ClockError("this kit does not set its clock (development mode: firewall backend none)")
        try:
            epoch = check_epoch(epoch)
        except ValueError as problem:
            raise ClockError(str(problem)) from None
        self.reconcile()  # an earlier, external setting is accounted for first
        boot = self.current_boot()
        before = self._clock()
        delta = epoch - before
        if abs(delta) < TOLERANCE_S:
            return 0.0
        self._setter(epoch)
        _, frame, now = self._frame()  # measured after the setting, so reconcile() sees nothing more to do
        with self._lock, self._store.write() as db:
            row = db.execute("SELECT id, frame FROM clock_boots WHERE id = ?", (boot.id,)).fetchone()
            self._shift(db, row["id"], delta, row["frame"], before)
            db.execute("UPDATE clock_boots SET frame = ?, corrected = corrected + ?, last_source = ?, "
                       "last_set_at = ? WHERE id = ?", (frame, delta, source, now, row["id"]))
        log.warning("clock set from %s by %+.0f s: this boot's records corrected", source, delta)
        return delta

    def _shift(self, db, boot: int, delta: float, earliest: float, latest: float) -> None:
        db.execute("UPDATE outings SET started_at = started_at + ? WHERE boot = ?", (delta, boot))
        db.execute("UPDATE outings SET ended_at = ended_at + ? WHERE end_boot = ? AND ended_at IS NOT NULL",
                   (delta, boot))
        for table, columns, integer in _TIMED:
            amount = round(delta) if integer else delta
            sets = ", ".join(f"{column} = {column} + ?" for column in columns)
            db.execute(f"UPDATE {table} SET {sets} WHERE boot = ?",  # noqa: S608 - constant names
                       (*([amount] * len(columns)), boot))
        rows = db.execute("SELECT id, recorded_at FROM activity_records WHERE boot = ?", (boot,)).fetchall()
        db.executemany("UPDATE activity_records SET day = ? WHERE id = ?",
                       [(local_day(row["recorded_at"]), row["id"]) for row in rows])
        for table, columns in _DAYS:
            rows = db.execute(f"SELECT id, {', '.join(columns)} FROM {table} WHERE boot = ?",  # noqa: S608
                              (boot,)).fetchall()
            updates = [(*(shift_day(row[column], delta, earliest, latest) if row[column] else None
                           for column in columns), row["id"]) for row in rows]
            sets = ", ".join(f"{column} = ?" for column in columns)
            db.executemany(f"UPDATE {table} SET {sets} WHERE id = ?", updates)  # noqa: S608
        db.execute("UPDATE survey_appointments SET created_day = (SELECT requested_day FROM appointment_follow_up f "
                   "WHERE f.appointment_id = survey_appointments.id) WHERE id IN (SELECT appointment_id FROM "
                   "appointment_follow_up WHERE boot = ? AND appointment_id IS NOT NULL)", (boot,))

    # --- the 4G network's time ------------------------------------------------------------------------

    def network(self) -> NetworkTime | None:
        """The time ModemManager reports, read at most once a minute (mmcli takes a moment)."""
        if self._network_time is None:
            return None
        tick = self._monotonic()
        with self._lock:
            cached = self._network
        if cached is not None and tick - cached[0] < NETWORK_CACHE_S:
            return cached[1]
        try:
            moment = self._network_time()
        except Exception:  # an adapter's surprise must not break the status page
            log.exception("reading the network time failed")
            moment = None
        result = NetworkTime(moment, self._clock()) if moment is not None else None
        with self._lock:
            self._network = (tick, result)
        return result

    def use_network_time_if_wrong(self) -> float:
        """Set the clock from the 4G network when the kit is clearly off (at most one try per 10 minutes)."""
        if self._setter is None or self._network_time is None:
            return 0.0
        network = self.network()
        now = self._clock()
        if network is None or abs(network.offset(now)) < NETWORK_TRUST_S:
            return 0.0
        tick = self._monotonic()
        with self._lock:
            if tick - self._network_tried_at < 600:
                return 0.0
            self._network_tried_at = tick
        try:
            return self.set_time(now + network.offset(now), "network")
        except ClockError as problem:
            log.warning("could not use the network's time: %s", problem)
            return 0.0


def epoch_from_local(text: str) -> float | None:
    """``2026-05-04T14:30`` (an <input type=datetime-local>, the kit's local time) → epoch, or None."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None or not 2000 <= moment.year <= 2100:
        return None
    return moment.timestamp()


def describe_offset(seconds: float) -> tuple[str, int]:
    """(unit, amount) rounded for a person: ("seconds", 40), ("minutes", 12), ("hours", 5), ("days", 400)."""
    value = abs(seconds)
    if value < 90:
        return "seconds", round(value)
    if value < 90 * 60:
        return "minutes", round(value / 60)
    if value < 36 * 3600:
        return "hours", round(value / 3600)
    return "days", round(value / 86400)


__all__ = ["Boot", "ClockError", "ClockService", "FollowingBoot", "NetworkTime", "describe_offset",
           "epoch_from_local", "local_day", "shift_day"]
