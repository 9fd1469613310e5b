"""What the questionnaire's blueprints share: their context, page rendering, languages and problem pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from babel.dates import format_date
from flask import Flask, current_app, g, render_template, request
from markupsafe import Markup
from werkzeug.exceptions import BadRequest

from kiosk.runtime import Kit
from kiosk.services.survey.content import Questionnaire, Texts
from kiosk.services.survey.kit import SurveyServices
from kiosk.services.survey.visits import TooManyTries
from kiosk.web.csrf import CsrfTokens
from kiosk.web.gate import NO_STORE
from kiosk.web.i18n import LANGUAGES, N_, Catalogues

BAND_NAMES = (N_("Just starting"), N_("With help"), N_("On my own for the essentials"), N_("At ease"))
BAND_SHORT = (N_("Starting"), N_("With help"), N_("On my own"), N_("At ease"))


@dataclass
class SurveyContext:
    kit: Kit
    services: SurveyServices
    catalogues: Catalogues
    csrf: CsrfTokens
    landing_url: str


def context() -> SurveyContext:
    return current_app.extensions["kiosk.survey"]


def client_key() -> str:
    """Who is posting or guessing: the phone's address, used only in memory (CSRF, rate limits)."""
    return request.remote_addr or ""


def use_language(code: str) -> None:
    """Show this page in ``code`` (a visit's language) unless the link asked for one explicitly."""
    ctx = context()
    explicit = request.args.get("lang") or (request.form.get("lang") if request.method == "POST" else None)
    if explicit in LANGUAGES or code not in [language.code for language in ctx.catalogues.offered]:
        return
    g.lang = code
    g.translations = ctx.catalogues.get(code)


def token(purpose: str) -> str:
    return context().csrf.issue(purpose, client_key())


def check_token(purpose: str) -> str:
    """The posted token when it is valid for this purpose and phone; else a 400 "out of date" page."""
    posted = request.form.get("csrf_token")
    if not context().csrf.valid(posted, purpose, client_key()):
        raise BadRequest("expired or foreign form")
    return posted or ""


def text_of(questionnaire: Questionnaire, texts: Texts) -> str:
    return questionnaire.text(texts, g.lang)


def pictogram(name: str) -> Markup:
    # The kit's own files, checked at start (no script, no link): safe to inline.
    return Markup(context().services.library.pictograms.get(name, ""))  # noqa: S704


def day_label(day: str) -> str:
    """A stored day (YYYY-MM-DD) as the person reads dates, in the page's language."""
    try:
        return format_date(date.fromisoformat(day), format="medium", locale=g.lang)
    except (ValueError, TypeError):
        return day


def page(template: str, status: int = 200, **values) -> tuple[str, int, dict[str, str]]:
    return render_template(template, band_names=BAND_NAMES, band_short=BAND_SHORT, pictogram=pictogram,
                           day_label=day_label,
                           **values), status, dict(NO_STORE)


def problem(kind: str, status: int, **values) -> tuple[str, int, dict[str, str]]:
    """A page that explains what happened and where to go: unknown code, finished visit, too many tries."""
    return page("survey/problem.html", status=status, kind=kind, **values)


def too_many(held: TooManyTries) -> tuple[str, int, dict[str, str]]:
    """429 for the phone that typed too many wrong codes, saying how long to wait (also as Retry-After)."""
    body, status, headers = problem("too_many", 429, wait_minutes=held.minutes)
    return body, status, {**headers, "Retry-After": str(held.retry_after_s)}


def install(app: Flask, ctx: SurveyContext) -> None:
    app.extensions["kiosk.survey"] = ctx
