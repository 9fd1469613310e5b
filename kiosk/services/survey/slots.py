"""Appointment slots: a mediator publishes free times at a partner structure, a participant books one.

A slot is taken in one transaction by ``UPDATE ... WHERE booked IS NULL``: when two phones tap the same slot,
one gets it and the other is told it is taken (and offered the next). The booking keeps a first name, an
optional contact, the procedure theme and the page's language, never linked to questionnaire answers; the
slot (booked or not) is deleted ``survey.appointment_retention_days`` after its day (``survey.purge``).
Times are the kit's local time, stored as ``YYYY-MM-DDTHH:MM``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from kiosk.services.survey.guesses import GuessLimiter
from kiosk.services.survey.visits import claim_nonce, code_digest, day_of, new_code, normalise_code, was_deleted
from kiosk.store import Store

CODE_LENGTH = 8  # 31**8 ≈ 8.5e11, behind the guess limiter; kept for weeks, not a year
MAX_TEXT = 120
MAX_NAME = 40
MAX_CONTACT = 80


def N_(message: str) -> str:
    """Marks a message id for extraction (the portal's catalogue); translated where it is shown."""
    return message


MINUTES = (15, 20, 30, 45, 60, 90, 120)
OUTCOMES = ("done", "missed", "cancelled")

# The procedure a person comes for → what to bring (short lists, in plain words).
THEMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "papers": (N_("Identity papers, driving licence"),
               (N_("Your identity card, passport or residence permit"), N_("A proof of address"))),
    "family": (N_("Family allowances (CAF)"),
               (N_("Your CAF number"), N_("Your identity card"), N_("Your last payslips if you have any"))),
    "health": (N_("Health insurance (Ameli)"),
               (N_("Your carte Vitale"), N_("Your social security number"), N_("Your identity card"))),
    "work": (N_("Job seeking (France Travail)"),
             (N_("Your France Travail identifier"), N_("Your CV if you have one"), N_("Your identity card"))),
    "taxes": (N_("Taxes"),
              (N_("Your tax number (on a tax notice)"), N_("Your last tax notice"), N_("Your identity card"))),
    "other": (N_("Something else"), (N_("Your identity card"), N_("The letters or papers about your question"))),
}


class SlotError(ValueError):
    """The fields a person must correct."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


class Unavailable(Exception):
    """The slot cannot be booked: ``reason`` is ``taken``, ``gone`` (deleted) or ``past``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Draft:
    structure: str
    address: str
    commune: str
    directions: str
    starts: str
    minutes: int
    mediator: str


@dataclass(frozen=True)
class Slot:
    id: int
    structure: str
    address: str
    commune: str
    directions: str
    starts: str
    minutes: int
    mediator: str
    booked: str | None
    code: str | None
    first_name: str | None
    contact: str | None
    theme: str | None
    language: str | None
    outcome: str | None

    @property
    def day(self) -> str:
        return self.starts[:10]

    @property
    def time(self) -> str:
        return self.starts[11:16]

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.starts)


def _slot(row) -> Slot:
    return Slot(*(row[name] for name in Slot.__dataclass_fields__))


def clean(text: str | None, limit: int = MAX_TEXT) -> str | None:
    """One line of text without control characters, or None when it is too long or unreadable."""
    text = " ".join(unicodedata.normalize("NFC", text or "").split())
    if len(text) > limit or any(unicodedata.category(ch).startswith("C") for ch in text):
        return None
    return text


def local_minute(now: float) -> str:
    return datetime.fromtimestamp(now).strftime("%Y-%m-%dT%H:%M")


def check_slot(structure: str | None, address: str | None, commune: str | None, directions: str | None,
               day: str | None, time: str | None, minutes: str | None, mediator: str | None,
               now: float) -> Draft:
    """A slot a mediator typed, checked; raises SlotError naming each field to correct (a past time too)."""
    values = {"structure": clean(structure), "address": clean(address), "commune": clean(commune),
              "directions": clean(directions, 300), "mediator": clean(mediator, MAX_NAME)}
    problems = [name for name, value in values.items() if value is None]
    problems += [name for name in ("structure", "mediator") if name not in problems and not values[name]]
    starts = None
    try:
        starts = datetime.fromisoformat(f"{(day or '').strip()}T{(time or '').strip()}").strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        problems.append("when")
    if starts is not None and starts <= local_minute(now):
        problems.append("past")
    if not (minutes or "").isdigit() or int(minutes or 0) not in MINUTES:
        problems.append("minutes")
    if problems:
        raise SlotError(problems)
    return Draft(values["structure"] or "", values["address"] or "", values["commune"] or "",
                 values["directions"] or "", starts or "", int(minutes or 0), values["mediator"] or "")


def order_for(slots: Iterable[Slot], mediators: Iterable[str], commune: str) -> list[Slot]:
    """Today's outing's mediators' slots first, then those in the outing's commune, each soonest first."""
    names = {name.casefold() for name in mediators if name}
    here = commune.casefold()
    return sorted(slots, key=lambda slot: (slot.mediator.casefold() not in names,
                                           not here or slot.commune.casefold() != here, slot.starts, slot.id))


class SlotService:
    def __init__(self, store: Store, clock: Callable[[], float], limiter: GuessLimiter) -> None:
        self.store = store
        self.clock = clock
        self.limiter = limiter

    def publish(self, draft: Draft) -> int:
        with self.store.write() as db:
            cursor = db.execute(
                "INSERT INTO appointment_slots (structure, address, commune, directions, starts, minutes, mediator) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (draft.structure, draft.address, draft.commune, draft.directions,
                                                 draft.starts, draft.minutes, draft.mediator))
        return int(cursor.lastrowid or 0)

    def publish_all(self, drafts: list[Draft]) -> int:
        """Every draft in one transaction: all published or none."""
        with self.store.write() as db:
            db.executemany(
                "INSERT INTO appointment_slots (structure, address, commune, directions, starts, minutes, mediator) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", [(d.structure, d.address, d.commune, d.directions, d.starts,
                                                  d.minutes, d.mediator) for d in drafts])
        return len(drafts)

    def delete(self, slot_id: int) -> bool:
        """Withdraw a free slot; a booked one stays (someone counts on it: cancel the booking first)."""
        with self.store.write() as db:
            return db.execute("DELETE FROM appointment_slots WHERE id = ? AND booked IS NULL",
                              (slot_id,)).rowcount > 0

    def get(self, slot_id: int) -> Slot | None:
        with self.store.read() as db:
            row = db.execute("SELECT * FROM appointment_slots WHERE id = ?", (slot_id,)).fetchone()
        return None if row is None else _slot(row)

    def upcoming(self) -> list[Slot]:
        """Every slot not yet begun, booked or not, soonest first (the mediators' list)."""
        with self.store.read() as db:
            rows = db.execute("SELECT * FROM appointment_slots WHERE starts > ? ORDER BY starts, id",
                              (local_minute(self.clock()),)).fetchall()
        return [_slot(row) for row in rows]

    def free(self, mediators: Iterable[str] = (), commune: str = "") -> list[Slot]:
        """The slots a participant can book now, in the order they are offered."""
        return order_for([slot for slot in self.upcoming() if slot.booked is None], mediators, commune)

    def book(self, slot_id: int, first_name: str, contact: str, theme: str, language: str, nonce: str) -> Slot:
        """Take the slot for this person, atomically; the same nonce (a double tap) gives back the same
        booking. Raises Unavailable."""
        now = self.clock()
        with self.store.write() as db:
            code = new_code(CODE_LENGTH)
            while db.execute("SELECT 1 FROM appointment_slots WHERE code = ?", (code,)).fetchone():
                code = new_code(CODE_LENGTH)
            earlier = db.execute("SELECT result FROM survey_requests WHERE nonce = ? AND kind = 'slot'",
                                 (nonce,)).fetchone()
            if earlier is not None:
                row = db.execute("SELECT * FROM appointment_slots WHERE code = ?", (earlier["result"],)).fetchone()
                if row is not None:
                    return _slot(row)
            taken = db.execute(
                "UPDATE appointment_slots SET booked = ?, code = ?, first_name = ?, contact = ?, theme = ?, "
                "language = ? WHERE id = ? AND booked IS NULL AND starts > ?",
                (day_of(now), code, first_name, contact, theme, language, slot_id, local_minute(now))).rowcount
            if not taken:
                row = db.execute("SELECT starts FROM appointment_slots WHERE id = ?", (slot_id,)).fetchone()
                raise Unavailable("gone" if row is None else "past" if row["starts"] <= local_minute(now)
                                  else "taken")
            if earlier is None:
                claim_nonce(db, nonce, "slot", code, now)
            row = db.execute("SELECT * FROM appointment_slots WHERE id = ?", (slot_id,)).fetchone()
        return _slot(row)

    def find(self, text: str | None, client: str) -> Slot | None:
        """The booking a code opens, or None (counted as a wrong guess). Raises TooManyTries."""
        return self.limiter.lookup(client, normalise_code(text, CODE_LENGTH), self._by_code, self._cancelled)

    def was_cancelled(self, text: str | None) -> bool:
        """This code was a booking that a mediator cancelled (its digest only is kept, in ``deleted_codes``)."""
        code = normalise_code(text, CODE_LENGTH)
        return code is not None and self._cancelled(code)

    def _cancelled(self, code: str) -> bool:
        with self.store.read() as db:
            return was_deleted(db, code)

    def remember(self, client: str, code: str) -> None:
        self.limiter.remember(client, code)

    def _by_code(self, code: str) -> Slot | None:
        with self.store.read() as db:
            row = db.execute("SELECT * FROM appointment_slots WHERE code = ?", (code,)).fetchone()
        return None if row is None else _slot(row)

    def on_day(self, day: str) -> dict[str, list[Slot]]:
        """The day's slots per structure (booked and free), in time order."""
        with self.store.read() as db:
            rows = db.execute("SELECT * FROM appointment_slots WHERE substr(starts, 1, 10) = ? "
                              "ORDER BY structure, starts, id", (day,)).fetchall()
        grouped: dict[str, list[Slot]] = {}
        for row in rows:
            grouped.setdefault(row["structure"], []).append(_slot(row))
        return grouped

    def of_structure(self, structure: str) -> list[Slot]:
        with self.store.read() as db:
            rows = db.execute("SELECT * FROM appointment_slots WHERE structure = ? ORDER BY starts, id",
                              (structure,)).fetchall()
        return [_slot(row) for row in rows]

    def structures(self) -> list[str]:
        with self.store.read() as db:
            return [row[0] for row in db.execute("SELECT DISTINCT structure FROM appointment_slots ORDER BY 1")]

    def mark(self, slot_id: int, outcome: str) -> bool:
        """Done or missed; cancelled frees the slot (the booking is erased, the time bookable again)."""
        if outcome not in OUTCOMES:
            raise ValueError(outcome)
        with self.store.write() as db:
            if outcome == "cancelled":
                # The person's code then reads "cancelled", not "unknown", and is not counted as a guess.
                db.execute("INSERT OR IGNORE INTO deleted_codes (digest) SELECT ? FROM appointment_slots "
                           "WHERE id = ? AND code IS NOT NULL", (code_digest(self._code_of(db, slot_id)), slot_id))
                sql = ("UPDATE appointment_slots SET booked = NULL, code = NULL, first_name = NULL, contact = NULL, "
                       "theme = NULL, language = NULL, outcome = NULL WHERE id = ? AND booked IS NOT NULL")
                return db.execute(sql, (slot_id,)).rowcount > 0
            return db.execute("UPDATE appointment_slots SET outcome = ? WHERE id = ? AND booked IS NOT NULL",
                              (outcome, slot_id)).rowcount > 0

    @staticmethod
    def _code_of(db, slot_id: int) -> str:
        row = db.execute("SELECT code FROM appointment_slots WHERE id = ?", (slot_id,)).fetchone()
        return (row["code"] if row is not None else None) or ""

    def counts(self, since: str, until: str) -> dict[str, int]:
        """How many slots were published, booked, done and missed between two days (counts only)."""
        with self.store.read() as db:
            row = db.execute(
                "SELECT COUNT(*) AS published, COUNT(booked) AS booked, "
                "SUM(outcome = 'done') AS done, SUM(outcome = 'missed') AS missed FROM appointment_slots "
                "WHERE substr(starts, 1, 10) BETWEEN ? AND ?", (since, until)).fetchone()
        return {key: int(row[key] or 0) for key in ("published", "booked", "done", "missed")}
