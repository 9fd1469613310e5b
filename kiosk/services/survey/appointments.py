"""Appointment requests: optional, with their own consent, separate from the questionnaire's.

A request holds a first name, a phone number or an e-mail address, the preferred partner structure and
time slot. It is never linked to answers or a booklet, never counted in statistics, and deleted
``survey.appointment_retention_days`` after it was made (see ``survey.purge``).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kiosk.services.survey.visits import Tampered, day_of
from kiosk.store import Store

SLOTS = ("morning", "afternoon", "any")
MAX_NAME = 40
MAX_CONTACT = 80
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{2,24}$")
_PHONE = re.compile(r"^\+?[0-9 .()-]{6,24}$")
RESEND_WINDOW_S = 15 * 60  # the same request again within this time is the same request (a reload, a double tap)


@dataclass(frozen=True)
class Appointment:
    id: int
    first_name: str
    contact: str
    structure: str
    slot: str
    language: str
    created_day: str


@dataclass(frozen=True)
class Request:
    first_name: str
    contact: str
    structure: str
    slot: str


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).strip()
    return " ".join(text.split())


def check_request(first_name: str, contact: str, structure: str, slot: str,
                  structures: Sequence[str]) -> tuple[Request, list[str]]:
    """The request and the fields the person must correct (``first_name``, ``contact``). Values a form
    cannot produce (an unknown structure or slot) raise Tampered."""
    if slot not in SLOTS:
        raise Tampered("unknown slot")
    if structures and structure not in structures:
        raise Tampered("unknown structure")
    if not structures and structure:
        raise Tampered("no structure to choose")
    name, reach = _clean(first_name), _clean(contact)
    problems: list[str] = []
    if not name or len(name) > MAX_NAME or any(unicodedata.category(ch).startswith("C") for ch in name):
        problems.append("first_name")
    digits = sum(ch.isdigit() for ch in reach)
    if not (len(reach) <= MAX_CONTACT and (_EMAIL.match(reach) or (_PHONE.match(reach) and 6 <= digits <= 15))):
        problems.append("contact")
    return Request(name, reach, structure, slot), problems


@dataclass(frozen=True)
class Stored:
    id: int
    merged: bool  # the same request was sent a moment ago: it was kept once


def same_request_key(request: Request) -> tuple[str, ...]:
    """What makes two requests the same: the name, how to reach the person (a phone number by its digits,
    however spaced), the structure and the slot. A corrected phone number makes a new request."""
    contact = request.contact.casefold() if "@" in request.contact else \
        ("+" if request.contact.startswith("+") else "") + "".join(ch for ch in request.contact if ch.isdigit())
    return (request.first_name.casefold(), contact, request.structure, request.slot)


class AppointmentService:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        # In memory only, for RESEND_WINDOW_S: which request each recent content was stored as.
        self._recent: dict[tuple[str, ...], tuple[int, float]] = {}
        self._lock = threading.Lock()

    def request(self, request: Request, language: str) -> Stored:
        """Store a request, unless the very same one was stored within RESEND_WINDOW_S (then it is merged)."""
        key = same_request_key(request)
        with self._lock:
            now = self.clock()
            self._recent = {k: v for k, v in self._recent.items() if 0 <= now - v[1] < RESEND_WINDOW_S}
            earlier = self._recent.get(key)
            if earlier is not None and self._exists(earlier[0]):
                return Stored(earlier[0], merged=True)
            with self.store.write() as db:
                cursor = db.execute(
                    "INSERT INTO survey_appointments (first_name, contact, structure, slot, language, created_day) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (request.first_name, request.contact, request.structure, request.slot, language, day_of(now)))
            stored = int(cursor.lastrowid or 0)
            self._recent[key] = (stored, now)
        return Stored(stored, merged=False)

    def _exists(self, appointment_id: int) -> bool:
        with self.store.read() as db:
            return db.execute("SELECT 1 FROM survey_appointments WHERE id = ?", (appointment_id,)).fetchone() \
                is not None

    def pending(self) -> list[Appointment]:
        """Every request still kept, oldest first (for the mediators' dashboard)."""
        with self.store.read() as db:
            rows = db.execute("SELECT * FROM survey_appointments ORDER BY created_day, id").fetchall()
        return [Appointment(row["id"], row["first_name"], row["contact"], row["structure"], row["slot"],
                            row["language"], row["created_day"]) for row in rows]

    def delete(self, appointment_id: int) -> bool:
        """A mediator has handled it (or the person asked): delete it now."""
        with self.store.write() as db:
            return db.execute("DELETE FROM survey_appointments WHERE id = ?", (appointment_id,)).rowcount > 0
