"""The follow-up booklet's pages: open it with its code, see progress across visits, start a new visit in
it, delete it. The booklet page carries its QR code (drawn by segno) and its short code.
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, request, url_for
from markupsafe import Markup, escape
from werkzeug.exceptions import BadRequest

from kiosk.services.survey.booklet import Booklet, progress
from kiosk.services.survey.visits import Finished, TooManyTries, Visit, display_code
from kiosk.web.chart import bands_chart
from kiosk.web.survey import booklet_purpose
from kiosk.web.survey_common import (
    check_token,
    client_key,
    context,
    page,
    problem,
    text_of,
    token,
    too_many,
)

blueprint = Blueprint("booklet", __name__, url_prefix="/booklet")

OPEN = "booklet-open"


def _purpose(booklet: Booklet, action: str) -> str:
    return f"booklet-{action}:{booklet.id}"


def _see_other(endpoint: str, **values):
    return redirect(url_for(endpoint, lang=g.lang, **values), code=303)


def qr_svg(url: str, label: str) -> Markup:
    """The QR code of ``url`` as inline SVG (about 1.5 KB), black on white so any phone can scan it."""
    import segno  # here, not at the top: the portal process every phone probes need not hold it

    svg = segno.make(url, error="m", micro=False).svg_inline(scale=4, border=4, dark="#000", light="#fff",
                                                             svgclass="qr", lineclass=None, omitsize=True)
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1))  # noqa: S704


def _find(code: str) -> Booklet | tuple:
    try:
        booklet = context().services.booklets.find(code, client_key())
    except TooManyTries as held:
        return too_many(held)
    return booklet if booklet is not None else problem("unknown_booklet", 404)


@blueprint.get("")
def open_form():
    return page("booklet/open.html", open_token=token(OPEN))


@blueprint.post("/open")
def open_booklet():
    check_token(OPEN)
    try:
        booklet = context().services.booklets.find(request.form.get("code"), client_key())
    except TooManyTries as held:
        return too_many(held)
    if booklet is None:
        return page("booklet/open.html", status=404, open_token=token(OPEN), open_error=True,
                    lang_endpoint="booklet.open_form")
    return _see_other("booklet.show", code=booklet.code)


@blueprint.get("/<code>")
def show(code: str):
    found = _find(code)
    if not isinstance(found, Booklet):
        return found
    services = context().services
    entries = services.booklets.entries(found)
    questionnaire = services.library.default
    areas = [area.id for area in questionnaire.scored_areas]
    rows = progress(entries, areas)
    latest = entries[-1].results if entries else None
    chart = bands_chart([(text_of(questionnaire, questionnaire.area(area).title), latest.bands.get(area))
                         for area in areas], rtl=g.lang == "ar") if latest else None
    url = context().landing_url.rstrip("/") + url_for("booklet.show", code=found.code)
    procedures = questionnaire.with_role("procedures")
    return page("booklet/show.html", booklet=found, code=display_code(found.code), entries=entries, rows=rows,
                latest=latest, chart=chart, qr=qr_svg(url, display_code(found.code)), questionnaire=questionnaire,
                text_of=text_of, start_token=token(_purpose(found, "start")),
                area_title=lambda area_id: text_of(questionnaire, questionnaire.area(area_id).title)
                if any(a.id == area_id for a in questionnaire.areas) else area_id,
                procedure_title=lambda choice_id: text_of(questionnaire, procedures.choice(choice_id).text)
                if procedures and procedures.choice(choice_id) else "")


@blueprint.post("/<code>/start")
def start_visit(code: str):
    found = _find(code)
    if not isinstance(found, Booklet):
        return found
    posted = check_token(_purpose(found, "start"))
    services = context().services
    try:
        visit = services.visits.start(services.library.default, g.lang, nonce=posted, booklet_id=found.id,
                                      client=client_key())
    except Finished:
        return problem("unknown_code", 404)
    return _see_other("survey.code_page", code=visit.code)


@blueprint.get("/<code>/delete")
def confirm_delete(code: str):
    found = _find(code)
    if not isinstance(found, Booklet):
        return found
    return page("booklet/delete.html", booklet=found, code=display_code(found.code),
                delete_token=token(_purpose(found, "delete")))


@blueprint.post("/<code>/delete")
def delete(code: str):
    found = _find(code)
    if not isinstance(found, Booklet):
        return found
    check_token(_purpose(found, "delete"))
    if request.form.get("confirm") != "yes":
        return page("booklet/delete.html", status=422, booklet=found, code=display_code(found.code),
                    delete_token=token(_purpose(found, "delete")), confirm_error=True)
    context().services.booklets.delete(found)
    return _see_other("booklet.deleted")


@blueprint.get("/deleted")
def deleted():
    return page("booklet/deleted.html")


def _visit_for_booklet(code: str) -> Visit | tuple:
    services = context().services
    try:
        visit = services.visits.find(code, client_key())
    except TooManyTries as held:
        return too_many(held)
    if visit is None:
        return problem("unknown_code", 404)
    return visit


def _results_again(visit: Visit, **values):
    from kiosk.web.survey import _results_values  # shared page values; imported late to keep modules small

    questionnaire = context().services.visits.questionnaire_of(visit)
    return page("survey/results.html", status=values.pop("status", 200), booklet=None,
                booklet_token=token(booklet_purpose(visit)), **_results_values(visit, questionnaire), **values)


@blueprint.post("/from-visit/<code>")
def create_from_visit(code: str):
    """"Keep a booklet" on the results page: a new booklet holding this visit."""
    visit = _visit_for_booklet(code)
    if not isinstance(visit, Visit):
        return visit
    posted = check_token(booklet_purpose(visit))
    if not visit.completed:
        raise BadRequest("visit not complete")
    services = context().services
    if visit.booklet_id is not None:
        existing = services.booklets.get(visit.booklet_id)
        if existing is not None:
            return _see_other("booklet.show", code=existing.code)
    booklet = services.booklets.create(posted, visit, client=client_key())
    return _see_other("booklet.show", code=booklet.code)


@blueprint.post("/add-visit/<code>")
def add_visit(code: str):
    """"I already have a booklet": put this visit in the booklet whose code the person typed."""
    visit = _visit_for_booklet(code)
    if not isinstance(visit, Visit):
        return visit
    check_token(booklet_purpose(visit))
    if not visit.completed:
        raise BadRequest("visit not complete")
    services = context().services
    try:
        booklet = services.booklets.find(request.form.get("booklet_code"), client_key())
    except TooManyTries as held:
        return too_many(held)
    if booklet is None:
        return _results_again(visit, status=404, booklet_error=True, lang_endpoint="survey.results")
    services.booklets.attach(booklet, visit)
    return _see_other("booklet.show", code=booklet.code)
