"""Outings ("sorties"): where the unit stands today, who is there. One outing is open at a time; every
session, questionnaire visit, appointment request, tablet loan and activity record made meanwhile belongs
to it (the store's triggers stamp them, see migrations/005_dashboard.sql)."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.services.clock import local_day
from kiosk.store import Store

PLACE_KINDS = ("market", "square", "school", "health_centre", "social_centre", "other")
INSEE_CODE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")  # Corsica: 2A/2B
POSTCODE = re.compile(r"^\d{5}$")  # Corsica's are 20xxx: digits only
MAX_TEXT = 80
MAX_MEDIATORS = 120


class OutingError(ValueError):
    """What the mediator must correct, as a list of field names."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


class AlreadyOpen(Exception):
    """An outing is already open: end it first."""


@dataclass(frozen=True)
class Outing:
    id: int
    place: str
    commune: str
    insee_code: str
    place_kind: str
    mediators: str
    started_at: float
    ended_at: float | None
    postcode: str = ""

    @property
    def open(self) -> bool:
        return self.ended_at is None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Outing:
        return cls(row["id"], row["place"], row["commune"], row["insee_code"], row["place_kind"], row["mediators"],
                   row["started_at"], row["ended_at"], row["postcode"])


@dataclass(frozen=True)
class Draft:
    place: str
    commune: str
    insee_code: str
    place_kind: str
    mediators: str
    postcode: str = ""


def _clean(text: str | None, limit: int) -> str:
    text = unicodedata.normalize("NFC", text or "")
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
    return " ".join(text.split())[:limit + 1]


def check_draft(place: str | None, commune: str | None, insee_code: str | None, place_kind: str | None,
                mediators: str | None, postcode: str | None = None) -> Draft:
    """The outing as typed, cleaned; raises OutingError naming every field to correct. The postcode is optional."""
    draft = Draft(_clean(place, MAX_TEXT), _clean(commune, MAX_TEXT), _clean(insee_code, 5).upper(),
                  place_kind or "", _clean(mediators, MAX_MEDIATORS), _clean(postcode, 5))
    problems = [name for name, ok in (
        ("place", 0 < len(draft.place) <= MAX_TEXT),
        ("commune", 0 < len(draft.commune) <= MAX_TEXT),
        ("insee_code", bool(INSEE_CODE.match(draft.insee_code))),
        ("place_kind", draft.place_kind in PLACE_KINDS),
        ("mediators", len(draft.mediators) <= MAX_MEDIATORS),
        ("postcode", not draft.postcode or bool(POSTCODE.match(draft.postcode))),
    ) if not ok]
    if problems:
        raise OutingError(problems)
    return draft


class OutingService:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def current(self) -> Outing | None:
        with self._store.read() as db:
            row = db.execute("SELECT * FROM outings WHERE ended_at IS NULL").fetchone()
        return Outing.from_row(row) if row else None

    def get(self, outing_id: int) -> Outing | None:
        with self._store.read() as db:
            row = db.execute("SELECT * FROM outings WHERE id = ?", (outing_id,)).fetchone()
        return Outing.from_row(row) if row else None

    def start(self, draft: Draft) -> Outing:
        with self._store.write() as db:
            if db.execute("SELECT 1 FROM outings WHERE ended_at IS NULL").fetchone():
                raise AlreadyOpen
            cursor = db.execute(
                "INSERT INTO outings (place, commune, insee_code, place_kind, mediators, started_at, postcode, boot) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT max(id) FROM clock_boots))",
                (draft.place, draft.commune, draft.insee_code, draft.place_kind, draft.mediators, self._clock(),
                 draft.postcode))
            row = db.execute("SELECT * FROM outings WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return Outing.from_row(row)

    def end(self, outing_id: int) -> bool:
        """End this outing if it is the open one; False when it was already ended (a double tap)."""
        with self._store.write() as db:
            return db.execute("UPDATE outings SET ended_at = ?, end_boot = (SELECT max(id) FROM clock_boots) "
                              "WHERE id = ? AND ended_at IS NULL", (self._clock(), outing_id)).rowcount > 0

    def recent(self, limit: int = 20) -> list[Outing]:
        with self._store.read() as db:
            rows = db.execute("SELECT * FROM outings ORDER BY started_at DESC, id DESC LIMIT ?", (limit,)).fetchall()
        return [Outing.from_row(row) for row in rows]

    def recent_places(self, limit: int = 5) -> list[Outing]:
        """The last outing at each of the most recent distinct places: "same place as last time"."""
        seen: set[tuple[str, str]] = set()
        places = []
        for outing in self.recent(100):
            key = (outing.place.casefold(), outing.insee_code)
            if key not in seen:
                seen.add(key)
                places.append(outing)
            if len(places) == limit:
                break
        return places

    def between(self, since_day: str, until_day: str) -> list[Outing]:
        """Outings started on days ``since_day``..``until_day`` (both included, the kit's local days)."""
        return [outing for outing in self.recent(10_000) if since_day <= local_day(outing.started_at) <= until_day]
