"""The follow-up booklet ("livret de suivi"): a pseudonymous code the person keeps (on paper, as a QR
code), no name. Each completed visit linked to it adds its bands and goals; the booklet shows progress
across visits. The person deletes it, with everything in it, with the code alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiosk.services.survey.visits import (
    BOOKLET_LENGTH,
    GuessLimiter,
    Results,
    Visit,
    claim_nonce,
    code_digest,
    day_of,
    new_code,
    normalise_code,
    was_deleted,
)
from kiosk.store import Store


@dataclass(frozen=True)
class Booklet:
    id: int
    code: str
    created_day: str
    updated_day: str


@dataclass(frozen=True)
class Entry:
    """One completed visit in a booklet."""

    visit_id: int
    day: str
    results: Results


@dataclass(frozen=True)
class AreaProgress:
    area: str
    bands: list[int | None]  # one per entry, oldest first

    @property
    def change(self) -> int:
        """+1 up, -1 down, 0 same or unknown, between the last two visits that assessed the area."""
        known = [band for band in self.bands if band is not None]
        if len(known) < 2:
            return 0
        return (known[-1] > known[-2]) - (known[-1] < known[-2])


def progress(entries: list[Entry], areas: list[str]) -> list[AreaProgress]:
    return [AreaProgress(area, [entry.results.bands.get(area) for entry in entries]) for area in areas]


class BookletService:
    def __init__(self, store: Store, clock: Callable[[], float], limiter: GuessLimiter) -> None:
        self.store = store
        self.clock = clock
        self.limiter = limiter

    def create(self, nonce: str, visit: Visit | None = None, client: str | None = None) -> Booklet:
        """A new booklet (with this visit in it); the same nonce gives back the same booklet. The phone that
        created it (``client``) keeps access to it whatever it guesses afterwards."""
        now = self.clock()
        today = day_of(now)
        with self.store.write() as db:
            code = new_code(BOOKLET_LENGTH)
            while db.execute("SELECT 1 FROM survey_booklets WHERE code = ?", (code,)).fetchone():
                code = new_code(BOOKLET_LENGTH)
            earlier = claim_nonce(db, nonce, "booklet", code, now)
            if earlier is None:
                db.execute("INSERT INTO survey_booklets (code, created_day, updated_day) VALUES (?, ?, ?)",
                           (code, today, today))
                if visit is not None:
                    db.execute("UPDATE survey_visits SET booklet_id = last_insert_rowid() WHERE id = ?", (visit.id,))
            else:
                code = earlier
            row = db.execute("SELECT * FROM survey_booklets WHERE code = ?", (code,)).fetchone()
        if row is None:
            raise LookupError("booklet deleted since")
        if client is not None:
            self.limiter.remember(client, code)
        return Booklet(row["id"], row["code"], row["created_day"], row["updated_day"])

    def find(self, text: str | None, client: str) -> Booklet | None:
        """The booklet a code opens, or None (counted as a wrong guess). Raises TooManyTries."""
        return self.limiter.lookup(client, normalise_code(text, BOOKLET_LENGTH), self._by_code, self.was_deleted)

    def was_deleted(self, code: str) -> bool:
        """A booklet with this code existed and was deleted."""
        with self.store.read() as db:
            return was_deleted(db, code)

    def _by_code(self, code: str) -> Booklet | None:
        with self.store.read() as db:
            row = db.execute("SELECT * FROM survey_booklets WHERE code = ?", (code,)).fetchone()
        return None if row is None else Booklet(row["id"], row["code"], row["created_day"], row["updated_day"])

    def get(self, booklet_id: int) -> Booklet | None:
        with self.store.read() as db:
            row = db.execute("SELECT * FROM survey_booklets WHERE id = ?", (booklet_id,)).fetchone()
        return None if row is None else Booklet(row["id"], row["code"], row["created_day"], row["updated_day"])

    def attach(self, booklet: Booklet, visit: Visit) -> None:
        """Put a visit in the booklet (again: no change). A visit already in another booklet stays there."""
        today = day_of(self.clock())
        with self.store.write() as db:
            db.execute("UPDATE survey_visits SET booklet_id = ? WHERE id = ? AND booklet_id IS NULL",
                       (booklet.id, visit.id))
            db.execute("UPDATE survey_booklets SET updated_day = ? WHERE id = ?", (today, booklet.id))

    def entries(self, booklet: Booklet) -> list[Entry]:
        with self.store.read() as db:
            rows = db.execute("SELECT * FROM survey_visits WHERE booklet_id = ? AND results IS NOT NULL "
                              "ORDER BY completed_day, id", (booklet.id,)).fetchall()
        return [Entry(row["id"], row["completed_day"], Results.from_dict(Visit.from_row(row).results or {}))
                for row in rows]

    def delete(self, booklet: Booklet) -> None:
        """The booklet and every visit in it, with their answers (the store cascades)."""
        with self.store.write() as db:
            codes = [booklet.code] + [row["code"] for row in db.execute(
                "SELECT resume_code AS code FROM survey_visits WHERE booklet_id = ?", (booklet.id,))]
            db.executemany("INSERT OR IGNORE INTO deleted_codes (digest) VALUES (?)",
                           [(code_digest(code),) for code in codes])
            db.execute("DELETE FROM survey_booklets WHERE id = ?", (booklet.id,))
