"""Appointment requests as the mediators follow them up: to do, done or cancelled.

The request itself (first name, contact) is the questionnaire's, deleted on its own schedule
(``survey.appointment_retention_days``); its follow-up row, stamped by the store when the request is made,
keeps only the day, the outing and the outcome, so reports still count appointments after the purge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiosk.services.clock import local_day
from kiosk.services.survey.appointments import Appointment
from kiosk.store import Store

STATUSES = ("pending", "done", "cancelled")


@dataclass(frozen=True)
class FollowedUp:
    appointment: Appointment
    status: str
    status_day: str | None


class AppointmentFollowUp:
    def __init__(self, store: Store, pending: Callable[[], list[Appointment]], clock: Callable[[], float]) -> None:
        self._store = store
        self._pending = pending
        self._clock = clock

    def list(self) -> list[FollowedUp]:
        """Every request still kept: those to do first (oldest first), then the handled ones."""
        requests = self._pending()
        with self._store.read() as db:
            marks = {row["appointment_id"]: (row["status"], row["status_day"]) for row in db.execute(
                "SELECT appointment_id, status, status_day FROM appointment_follow_up "
                "WHERE appointment_id IS NOT NULL").fetchall()}
        items = [FollowedUp(request, *marks.get(request.id, ("pending", None))) for request in requests]
        return sorted(items, key=lambda item: (item.status != "pending", item.appointment.created_day,
                                               item.appointment.id))

    def mark(self, appointment_id: int, status: str) -> bool:
        """Done or cancelled (or back to do); False when the request no longer exists."""
        if status not in STATUSES:
            raise ValueError(status)
        today = local_day(self._clock())
        with self._store.write() as db:
            request = db.execute("SELECT created_day FROM survey_appointments WHERE id = ?",
                                 (appointment_id,)).fetchone()
            if request is None:
                return False
            db.execute("INSERT INTO appointment_follow_up (appointment_id, requested_day) VALUES (?, ?) "
                       "ON CONFLICT (appointment_id) DO NOTHING", (appointment_id, request["created_day"]))
            db.execute("UPDATE appointment_follow_up SET status = ?, status_day = ? WHERE appointment_id = ?",
                       (status, today if status != "pending" else None, appointment_id))
        return True
