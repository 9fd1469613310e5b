"""The kit's anonymous activity per day: the contract the fleet report merges (``kiosk report export
--anonymous``, run by ``playbooks/collect.yml``; ``provisioning/fleet_report.py`` reads it).

Columns, in this order (the first four are those of the former ``triporteur-activity-export`` script, so
older fleet tooling keeps reading them; columns may be added at the end, never removed or reordered):

=====================  ==================================================================================
day                    the kit's local day, YYYY-MM-DD: its time zone (``/etc/localtime``, set from
                       ``kit_base_timezone``), as every day the kit stores and its dashboard reports use
                       (``clock.local_day``)
sessions               internet sessions started that day
data_bytes             the data they used
session_minutes        how long they lasted; a session counts on the day it started, an open one up to now
                       (never past the end it was granted: the kit closes it there)
accompaniments         activity records of that day
people_met             their participants (a workshop counts all of its people)
accompaniment_minutes  their durations
outings                outings started that day
questionnaires         questionnaires completed that day
appointments           appointment requests made that day (still counted once the request is purged)
tablet_loans           tablets lent that day
=====================  ==================================================================================

Only counts leave the kit: nothing per person or device, no time of day, no place, no theme (some reveal
a person's origin, REFERENCE §4). A day with nothing at all is left out.

The store is opened read-only (``open_read_only``): the export runs while ``kiosk serve`` writes, and must
not write to the SD card itself.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NoReturn

from kiosk.services.clock import local_day
from kiosk.services.mediation.activity import ActivityService
from kiosk.services.mediation.outings import OutingService
from kiosk.store import SCHEMA_VERSION, Store, StoreError

COLUMNS = ("day", "sessions", "data_bytes", "session_minutes", "accompaniments", "people_met",
           "accompaniment_minutes", "outings", "questionnaires", "appointments", "tablet_loans")
_FIRST_DAY, _LAST_DAY = "0000-00-00", "9999-99-99"  # open ends, for comparisons of YYYY-MM-DD strings


@dataclass
class DayCounts:
    day: str
    sessions: int = 0
    data_bytes: int = 0
    session_minutes: float = 0.0  # summed unrounded, rounded once in row()
    accompaniments: int = 0
    people_met: int = 0
    accompaniment_minutes: int = 0
    outings: int = 0
    questionnaires: int = 0
    appointments: int = 0
    tablet_loans: int = 0

    def row(self) -> tuple[str | int, ...]:
        day, *counts = astuple(self)
        return (day, *(round(count) for count in counts))


class ReadOnlyStore(Store):
    """The store, for reading only: no migration, no pragma that writes, ``query_only`` on."""

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if not self.path.is_file():
                raise StoreError(f"no store at {self.path}: the kit has recorded nothing yet")
            # While kiosk serve runs, its -wal and -shm files exist and a read-only reader shares them. Without
            # them, SQLite would create both (owned by whoever runs this: root would lock kiosk serve out); the
            # main file is then complete and nobody writes it, so it is read as immutable.
            wal = self.path.with_name(self.path.name + "-wal")
            uri = self.path.resolve().as_uri() + ("?mode=ro" if wal.exists() else "?mode=ro&immutable=1")
            try:
                connection = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10,
                                             check_same_thread=False)
                connection.row_factory = sqlite3.Row
                connection.execute("PRAGMA query_only = ON")
            except sqlite3.Error as problem:
                raise StoreError(f"cannot read the store at {self.path}: {problem}") from None
            self._local.connection = connection
        return connection

    def write(self) -> NoReturn:
        raise StoreError(f"the store at {self.path} is open for reading only")


def open_read_only(path: str | Path) -> ReadOnlyStore:
    """The store at ``path`` for reading, checked to have this software's schema (StoreError otherwise)."""
    store = ReadOnlyStore(path)
    version = store.version()
    if version < SCHEMA_VERSION:
        raise StoreError(f"the store at {store.path} has schema {version}, older than this kit's "
                         f"({SCHEMA_VERSION}): run `kiosk db upgrade` first")
    if version > SCHEMA_VERSION:
        raise StoreError(f"the store at {store.path} has schema {version}, newer than this kit knows "
                         f"({SCHEMA_VERSION}): update the kit's software")
    return store


def _midnight(day: date) -> float:
    """The epoch at which the kit's local ``day`` starts."""
    return datetime.combine(day, datetime.min.time()).timestamp()


def daily_counts(store: Store, now: float, since: str | None = None, until: str | None = None) -> list[DayCounts]:
    """Per-day counts for the local days ``since``..``until`` (YYYY-MM-DD, both included; None: no limit),
    oldest first, days with nothing left out."""
    first, last = since or _FIRST_DAY, until or _LAST_DAY
    lower = _midnight(date.fromisoformat(since)) if since else None
    upper = _midnight(date.fromisoformat(until) + timedelta(days=1)) if until else None
    days: dict[str, DayCounts] = {}

    def on(day: str) -> DayCounts:
        return days.setdefault(day, DayCounts(day))

    with store.read() as db:
        sessions = db.execute(
            "SELECT started_at, ended_at, ends_at, bytes_used FROM access_sessions "
            "WHERE (? IS NULL OR started_at >= ?) AND (? IS NULL OR started_at < ?)",
            (lower, lower, upper, upper)).fetchall()
        loans = db.execute("SELECT lent_at FROM tablet_loans WHERE (? IS NULL OR lent_at >= ?) "
                           "AND (? IS NULL OR lent_at < ?)", (lower, lower, upper, upper)).fetchall()
        completed = db.execute("SELECT completed_day, count(*) FROM survey_visits WHERE completed_day >= ? "
                               "AND completed_day <= ? GROUP BY completed_day", (first, last)).fetchall()
        requested = db.execute("SELECT requested_day, count(*) FROM appointment_follow_up WHERE requested_day >= ? "
                               "AND requested_day <= ? GROUP BY requested_day", (first, last)).fetchall()
    for session in sessions:
        end = session["ended_at"] if session["ended_at"] is not None else min(now, session["ends_at"])
        counts = on(local_day(session["started_at"]))
        counts.sessions += 1
        counts.data_bytes += session["bytes_used"]
        counts.session_minutes += max(0.0, end - session["started_at"]) / 60
    for loan in loans:
        on(local_day(loan["lent_at"])).tablet_loans += 1
    for day, count in completed:
        on(day).questionnaires += count
    for day, count in requested:
        on(day).appointments += count
    for record in ActivityService(store, lambda: now).between(first, last):
        counts = on(record.day)
        counts.accompaniments += 1
        counts.people_met += record.entry.participants
        counts.accompaniment_minutes += record.entry.duration_min
    for outing in OutingService(store, lambda: now).between(first, last):
        on(local_day(outing.started_at)).outings += 1
    return [days[day] for day in sorted(days)]


def to_csv(days: Iterable[DayCounts]) -> str:
    """The export's CSV: a header row of ``COLUMNS``, one row per day, plain commas and newlines."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(day.row() for day in days)
    return out.getvalue()
