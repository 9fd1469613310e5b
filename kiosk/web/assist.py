"""Assist tickets: the proof that a logged-in mediator opened the questionnaire in mediator mode.

The dashboard issues a ticket (signed with the kit's own ``assist-ticket`` secret, under its own salt, so it
can never pass for a session cookie or a form token, nor they for it); the portal's questionnaire accepts it
until the end of the local day it was issued on. The ticket says nothing about who asked for it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta

from itsdangerous import BadData, URLSafeSerializer

from kiosk.services.secrets import get_or_create
from kiosk.store import Store

SECRET_NAME = "assist-ticket"  # noqa: S105 - the name of its row in kit_secrets, not a secret
SALT = "triporteur.assist-ticket.v1"
MAX_LENGTH = 200  # a real ticket is about 45 characters


def end_of_day(moment: float) -> int:
    """The epoch of the next local midnight after ``moment``."""
    tomorrow = datetime.fromtimestamp(moment).date() + timedelta(days=1)
    return int(datetime.combine(tomorrow, time()).timestamp())


class AssistTickets:
    def __init__(self, secret: str, clock: Callable[[], float]) -> None:
        self._serializer = URLSafeSerializer(secret, salt=SALT)
        self._clock = clock

    def issue(self) -> str:
        return self._serializer.dumps({"until": end_of_day(self._clock())})

    def valid(self, ticket: str | None) -> bool:
        """True for a ticket of this kit that has not expired; False for anything else, never an error."""
        if not ticket or len(ticket) > MAX_LENGTH:
            return False
        try:
            payload = self._serializer.loads(ticket)
        except (BadData, ValueError, TypeError, UnicodeError):
            return False
        until = payload.get("until") if isinstance(payload, dict) else None
        return isinstance(until, int) and not isinstance(until, bool) and self._clock() < until


def kit_tickets(store: Store, clock: Callable[[], float]) -> AssistTickets:
    """The tickets of this kit: the same stored secret for the dashboard (issues) and the portal (checks)."""
    return AssistTickets(get_or_create(store, SECRET_NAME), clock)
