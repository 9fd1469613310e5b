"""Appointment requests: optional, with their own consent, separate from the questionnaire's.

A request holds a first name, a phone number or an e-mail address, the preferred partner structure and
time slot. It is never linked to answers or a booklet, never counted in statistics, and deleted
``survey.appointment_retention_days`` after it was made (see ``survey.purge``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kiosk.services.survey import Tampered, claim_nonce, day_of
from kiosk.store import Store

SLOTS = ("morning", "afternoon", "any")
MAX_NAME = 40
MAX_CONTACT = 80
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{2,24}$")
_PHONE = re.compile(r"^\+?[0-9 .()-]{6,24}$")


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


class AppointmentService:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    def request(self, nonce: str, request: Request, language: str) -> int:
        """Store a request (once, however often the form is posted); returns its id."""
        now = self.clock()
        with self.store.write() as db:
            cursor = db.execute(
                "INSERT INTO survey_appointments (first_name, contact, structure, slot, language, created_day) "
                "SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM survey_requests WHERE nonce = ? "
                "AND kind = 'appointment')",
                (request.first_name, request.contact, request.structure, request.slot, language, day_of(now), nonce))
            earlier = claim_nonce(db, nonce, "appointment", str(cursor.lastrowid), now)
        return int(earlier) if earlier is not None else int(cursor.lastrowid or 0)

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
