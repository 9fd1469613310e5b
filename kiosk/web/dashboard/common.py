"""What every page of the dashboard shares: its context (the services it calls), rendering a page, a message
translated now and a flash message. This module imports none of the pages, so each of them imports it."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, render_template, session

from kiosk.runtime import Kit
from kiosk.services.auth import LoginLimiter, PasswordFile
from kiosk.services.clock import ClockService
from kiosk.services.mediation.activity import ActivityService
from kiosk.services.mediation.outings import OutingService
from kiosk.services.mediation.reports import ReportService
from kiosk.services.mediation.tablets import DashboardTablets
from kiosk.services.privacy import PrivacyService
from kiosk.services.status import StatusService
from kiosk.web.assist import AssistTickets
from kiosk.web.csrf import CsrfTokens
from kiosk.web.i18n import Catalogues


@dataclass
class DashboardContext:
    kit: Kit
    catalogues: Catalogues
    csrf: CsrfTokens
    passwords: PasswordFile
    limiter: LoginLimiter
    allowed_hosts: frozenset[str]
    session_seconds: int
    outings: OutingService
    activity: ActivityService
    reports: ReportService
    clock: ClockService
    status: StatusService
    tablets: DashboardTablets
    privacy: PrivacyService
    assist: AssistTickets


def ctx() -> DashboardContext:
    return current_app.extensions["kiosk.dashboard"]


def page(template: str, status: int = 200, **values):
    context = ctx()
    return render_template(template, outing=context.outings.current(), **values), status


def tr(message: str, **values: object) -> str:
    """A message translated now (for flash messages and plain-text answers)."""
    text = g.translations.gettext(message)
    return text % values if values else text


def flash_message(kind: str, message: str) -> None:
    session.setdefault("notes", [])
    session["notes"] = [*session["notes"][-3:], [kind, message]]
