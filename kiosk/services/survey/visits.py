"""Questionnaire visits: start, save each answer as it is posted, resume with a short code, complete.

Privacy: a visit holds no IP or MAC address and no time of day, only days; it is keyed by a random
resume code that opens it for ``RESUME_DAYS`` after its last answer. Answers are deleted
``survey.answers_retention_days`` after their last update (a booklet's visits live as long as the booklet).
Every write is one synchronous transaction: when the page says "saved", it is on disk, whole.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from kiosk.services.survey import rules
from kiosk.services.survey.content import Item, Library, Questionnaire
from kiosk.services.survey.guesses import GuessLimiter, TooManyGuesses
from kiosk.store import Store

# No 0/O, 1/I/L: a code read aloud or copied from paper cannot be misread. 31 symbols.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RESUME_LENGTH = 6  # 31**6 ≈ 8.9e8, with guessing rate-limited
BOOKLET_LENGTH = 9  # 31**9 ≈ 2.6e13: kept for a year, so longer
RESUME_DAYS = 7
NONCE_DAYS = 2


class Tampered(ValueError):
    """A post the page could not have produced (unknown choice, out-of-range value…): refused whole."""


class Incomplete(ValueError):
    """The person sent the form without choosing: shown again with a message."""


class Finished(Exception):
    """The visit is complete: its answers can no longer change."""


class NotAsked(Exception):
    """The item is not (or no longer) on this visit's path."""


TooManyTries = TooManyGuesses  # this phone typed too many wrong codes (or the kit saw too many, and it typed one)


def day_of(now: float) -> str:
    """The kit's local day: the only date stored with answers."""
    return datetime.fromtimestamp(now).date().isoformat()


def days_before(now: float, days: int) -> str:
    return (date.fromisoformat(day_of(now)) - timedelta(days=days)).isoformat()


def new_code(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalise_code(text: str | None, length: int) -> str | None:
    """What a person typed (spaces, dashes, lower case) → the code, or None when it cannot be one."""
    if not text or len(text) > 4 * length:
        return None
    cleaned = "".join(ch for ch in text.upper() if ch not in " -._\t")
    if len(cleaned) != length or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def display_code(code: str) -> str:
    return "-".join(code[i:i + 3] for i in range(0, len(code), 3))


@dataclass(frozen=True)
class Visit:
    id: int
    code: str | None
    questionnaire: str
    version: int
    language: str
    assisted: bool
    outing_id: int | None
    booklet_id: int | None
    started_day: str
    updated_day: str
    completed_day: str | None
    results: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Visit:
        return cls(row["id"], row["resume_code"], row["questionnaire"], row["version"], row["language"],
                   bool(row["assisted"]), row["outing_id"], row["booklet_id"], row["started_day"],
                   row["updated_day"], row["completed_day"], json.loads(row["results"]) if row["results"] else None)

    @property
    def completed(self) -> bool:
        return self.completed_day is not None


@dataclass(frozen=True)
class Results:
    questionnaire: str
    version: int
    bands: dict[str, int | None]
    flags: list[rules.Flag]
    steps: list[rules.Step]

    def as_json(self) -> str:
        return json.dumps({"questionnaire": self.questionnaire, "version": self.version, "bands": self.bands,
                           "flags": [[f.challenge, f.rating, f.area] for f in self.flags],
                           "steps": [[s.kind, s.area, s.procedure] for s in self.steps]}, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Results:
        return cls(data["questionnaire"], data["version"], dict(data["bands"]),
                   [rules.Flag(*flag) for flag in data["flags"]], [rules.Step(*step) for step in data["steps"]])


def compute_results(questionnaire: Questionnaire, answers: rules.Answers) -> Results:
    return Results(questionnaire.id, questionnaire.version, rules.bands(questionnaire, answers),
                   rules.flags(questionnaire, answers), rules.next_steps(questionnaire, answers))


def parse_answer(item: Item, values: Sequence[str], not_understood: bool) -> rules.AnswerValue:
    """The posted form → the stored value. ``values`` are every ``answer`` field sent."""
    if not_understood:
        return None
    if any(len(value) > 64 for value in values):
        raise Tampered("oversized value")
    if item.kind == "multiple":
        if not values:
            raise Incomplete("choose")
        if len(set(values)) != len(values) or any(item.choice(value) is None for value in values):
            raise Tampered("unknown or repeated choice")
        chosen = [choice for choice in item.choices if choice.id in values]
        if len(chosen) > 1 and any(choice.exclusive for choice in chosen):
            raise Incomplete("exclusive")
        return tuple(choice.id for choice in chosen)
    if not values:
        raise Incomplete("choose")
    if len(values) > 1:
        raise Tampered("several values for a one-answer question")
    value = values[0]
    if item.kind == "rating":
        if value not in ("0", "1", "2", "3"):
            raise Tampered("level out of range")
        return int(value)
    if item.choice(value) is None:
        raise Tampered("unknown choice")
    return value


def _encode(value: rules.AnswerValue) -> str | None:
    return None if value is None else json.dumps(list(value) if isinstance(value, tuple) else value)


def _decode(text: str | None) -> rules.AnswerValue:
    if text is None:
        return None
    value = json.loads(text)
    return tuple(value) if isinstance(value, list) else value


def claim_nonce(db, nonce: str, kind: str, result: str, now: float) -> str | None:
    """Inside a write: the result of the first request that carried this nonce, or None if this is it."""
    row = db.execute("SELECT result FROM survey_requests WHERE nonce = ? AND kind = ?", (nonce, kind)).fetchone()
    if row is not None:
        return row["result"]
    db.execute("INSERT INTO survey_requests (nonce, kind, result, day) VALUES (?, ?, ?, ?)",
               (nonce, kind, result, day_of(now)))
    return None


def code_digest(code: str) -> str:
    """What is kept of a deleted booklet's or visit's code: enough to recognise it, not to read it back."""
    return hashlib.sha256(code.encode()).hexdigest()


def was_deleted(db: sqlite3.Connection, code: str) -> bool:
    return db.execute("SELECT 1 FROM deleted_codes WHERE digest = ?", (code_digest(code),)).fetchone() is not None


class SurveyService:
    def __init__(self, store: Store, library: Library, clock: Callable[[], float],
                 limiter: GuessLimiter | None = None) -> None:
        self.store = store
        self.library = library
        self.clock = clock
        self.limiter = limiter or GuessLimiter(clock)

    def questionnaire_of(self, visit: Visit) -> Questionnaire | None:
        return self.library.get(visit.questionnaire)

    def start(self, questionnaire: Questionnaire, language: str, nonce: str, assisted: bool = False,
              booklet_id: int | None = None, outing_id: int | None = None, client: str | None = None) -> Visit:
        """A new visit; the same nonce (a form posted twice) gives back the same visit. The phone that started
        it (``client``) keeps access to it whatever it guesses afterwards."""
        now = self.clock()
        today = day_of(now)
        with self.store.write() as db:
            code = new_code(RESUME_LENGTH)
            while db.execute("SELECT 1 FROM survey_visits WHERE resume_code = ?", (code,)).fetchone():
                code = new_code(RESUME_LENGTH)
            earlier = claim_nonce(db, nonce, "start", code, now)
            if earlier is None:
                db.execute(
                    "INSERT INTO survey_visits (resume_code, questionnaire, version, language, assisted, outing_id, "
                    "booklet_id, started_day, updated_day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (code, questionnaire.id, questionnaire.version, language, int(assisted), outing_id, booklet_id,
                     today, today))
                if booklet_id is not None:
                    db.execute("UPDATE survey_booklets SET updated_day = ? WHERE id = ?", (today, booklet_id))
            else:
                code = earlier
            row = db.execute("SELECT * FROM survey_visits WHERE resume_code = ?", (code,)).fetchone()
        if row is None:  # the first request's visit has expired since
            raise Finished
        if client is not None:
            self.limiter.remember(client, code)
        return Visit.from_row(row)

    def find(self, text: str | None, client: str) -> Visit | None:
        """The visit a resume code opens, or None (counted as a wrong guess). Raises TooManyTries."""
        return self.limiter.lookup(client, normalise_code(text, RESUME_LENGTH), self._by_code, self._existed)

    def _existed(self, code: str) -> bool:
        """A visit with this code expired or was deleted with its booklet: opening it again is no guess."""
        with self.store.read() as db:
            return db.execute("SELECT 1 FROM survey_visits WHERE resume_code = ?", (code,)).fetchone() is not None \
                or was_deleted(db, code)

    def _by_code(self, code: str) -> Visit | None:
        with self.store.read() as db:
            row = db.execute("SELECT * FROM survey_visits WHERE resume_code = ? AND updated_day >= ?",
                             (code, days_before(self.clock(), RESUME_DAYS))).fetchone()
        return None if row is None else Visit.from_row(row)

    def visit(self, visit_id: int) -> Visit | None:
        with self.store.read() as db:
            row = db.execute("SELECT * FROM survey_visits WHERE id = ?", (visit_id,)).fetchone()
        return None if row is None else Visit.from_row(row)

    def answers(self, visit_id: int) -> dict[str, rules.AnswerValue]:
        with self.store.read() as db:
            rows = db.execute("SELECT item, value FROM survey_answers WHERE visit_id = ?", (visit_id,)).fetchall()
        return {row["item"]: _decode(row["value"]) for row in rows}

    def answer(self, visit: Visit, item_id: str, value: rules.AnswerValue, language: str) -> Visit:
        """Save one answer, atomically; completes the visit when it was the last. Posting the same answer
        again changes nothing; answering a complete visit or an item off its path is refused."""
        questionnaire = self.questionnaire_of(visit)
        if questionnaire is None or questionnaire.item(item_id) is None:
            raise NotAsked
        today = day_of(self.clock())
        with self.store.write() as db:
            row = db.execute("SELECT * FROM survey_visits WHERE id = ?", (visit.id,)).fetchone()
            if row is None:
                raise NotAsked
            if row["completed_day"] is not None:
                raise Finished
            answers = {r["item"]: _decode(r["value"]) for r in db.execute(
                "SELECT item, value FROM survey_answers WHERE visit_id = ?", (visit.id,))}
            if item_id not in rules.path(questionnaire, answers):
                raise NotAsked
            answers[item_id] = value
            db.execute("INSERT INTO survey_answers (visit_id, item, value) VALUES (?, ?, ?) "
                       "ON CONFLICT (visit_id, item) DO UPDATE SET value = excluded.value",
                       (visit.id, item_id, _encode(value)))
            completed = rules.current(questionnaire, answers) is None
            results = compute_results(questionnaire, answers).as_json() if completed else None
            db.execute("UPDATE survey_visits SET updated_day = ?, language = ?, completed_day = ?, results = ? "
                       "WHERE id = ?", (today, language, today if completed else None, results, visit.id))
            if completed and row["booklet_id"] is not None:
                db.execute("UPDATE survey_booklets SET updated_day = ? WHERE id = ?", (today, row["booklet_id"]))
            row = db.execute("SELECT * FROM survey_visits WHERE id = ?", (visit.id,)).fetchone()
        return Visit.from_row(row)

    def results(self, visit: Visit) -> Results | None:
        """The snapshot taken when the visit completed (it survives content changes), else None."""
        return Results.from_dict(visit.results) if visit.results else None


def purge(store: Store, now: float, settings) -> dict[str, int]:
    """Delete what has outlived its retention; call it daily (the housekeeping thread does).

    - visits without a booklet, ``survey.answers_retention_days`` after their last update (answers go with them);
    - booklets (with their visits), the same period after their last update;
    - appointment requests, ``survey.appointment_retention_days`` after they were made;
    - appointment slots, the same period after the slot's day (a booked one keeps only its counts);
    - resume codes ``RESUME_DAYS`` after the visit's last update (the visit itself stays, anonymous);
    - the tokens that make double posts count once, after ``NONCE_DAYS``.
    """
    survey = settings.survey
    answers_cutoff = days_before(now, survey.answers_retention_days)
    appointments_cutoff = days_before(now, survey.appointment_retention_days)
    with store.write() as db:
        counts = {
            "visits": db.execute("DELETE FROM survey_visits WHERE booklet_id IS NULL AND updated_day < ?",
                                 (answers_cutoff,)).rowcount,
            "booklets": db.execute("DELETE FROM survey_booklets WHERE updated_day < ?", (answers_cutoff,)).rowcount,
            "appointments": db.execute("DELETE FROM survey_appointments WHERE created_day < ?",
                                       (days_before(now, survey.appointment_retention_days),)).rowcount,
            # A booked slot past its time loses the person (name, contact, theme, code) but stays counted.
            "slots": db.execute("DELETE FROM appointment_slots WHERE booked IS NULL AND substr(starts, 1, 10) < ?",
                                (appointments_cutoff,)).rowcount
            + db.execute("UPDATE appointment_slots SET first_name = NULL, contact = NULL, theme = NULL, code = NULL, "
                         "language = NULL WHERE booked IS NOT NULL AND first_name IS NOT NULL "
                         "AND substr(starts, 1, 10) < ?", (appointments_cutoff,)).rowcount,
            "resume_codes": db.execute("UPDATE survey_visits SET resume_code = NULL WHERE resume_code IS NOT NULL "
                                       "AND updated_day < ?", (days_before(now, RESUME_DAYS),)).rowcount,
        }
        db.execute("DELETE FROM survey_requests WHERE day < ?", (days_before(now, NONCE_DAYS),))
    return counts
