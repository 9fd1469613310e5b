"""Booking an appointment slot on the portal (offline, no script): choose a time, give a first name (a contact
if the person wants), agree, and keep the confirmation (its page, QR code, .ics file and short code)."""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, request, url_for
from werkzeug.exceptions import BadRequest

from kiosk.services.mediation.outings import OutingService
from kiosk.services.survey.slots import MAX_CONTACT, MAX_NAME, THEMES, Slot, SlotService, Unavailable, clean
from kiosk.services.survey.slots_files import ics
from kiosk.services.survey.visits import TooManyTries, display_code
from kiosk.web.booklet import qr_svg
from kiosk.web.survey_common import check_token, client_key, context, page, token, too_many

blueprint = Blueprint("slots", __name__, url_prefix="/slots")

PURPOSE = "slots"
FIND = "slots-find"
SHOWN = 12  # the soonest slots offered on one page: enough choice, a light page


def _service() -> SlotService:
    return context().services.slots


def offered() -> list[Slot]:
    """The free slots in the order a participant sees them: today's outing's mediators and commune first."""
    kit = context().kit
    outing = OutingService(kit.store, kit.adapters.clock).current()
    mediators = [name.strip() for name in outing.mediators.split(",")] if outing else []
    return _service().free(mediators, outing.commune if outing else "")[:SHOWN]


def _choose(status: int = 200, values: dict | None = None, problems: tuple[str, ...] = (),
            unavailable: str | None = None):
    slots = offered()
    if not slots and status == 200:
        return redirect(url_for("appointment.form", lang=g.lang, request="1"), code=303)
    values = values or {}
    if unavailable or not values.get("slot"):
        values = {**values, "slot": str(slots[0].id) if slots else ""}  # the next one, chosen for the person
    return page("slots/choose.html", status=status, slots=slots, themes=THEMES, values=values, problems=problems,
                unavailable=unavailable, csrf_token=token(PURPOSE),
                retention_days=context().kit.settings.survey.appointment_retention_days)


@blueprint.get("")
def choose():
    return _choose()


@blueprint.post("")
def book():
    posted = check_token(PURPOSE)
    fields = {name: request.form.get(name, "") for name in ("slot", "theme", "first_name", "contact")}
    if any(len(value) > 200 for value in fields.values()) or fields["theme"] not in THEMES \
            or not fields["slot"].isdigit() or len(fields["slot"]) > 12:
        raise BadRequest("not a choice the form offers")
    name, contact = clean(fields["first_name"], MAX_NAME), clean(fields["contact"], MAX_CONTACT)
    problems = [field for field, value in (("first_name", name), ("contact", contact)) if value is None]
    if not name and "first_name" not in problems:
        problems.append("first_name")
    if request.form.get("consent") != "yes":
        problems.append("consent")
    if problems:
        return _choose(422, fields, tuple(problems))
    try:
        booked = _service().book(int(fields["slot"]), name or "", contact or "", fields["theme"], g.lang, posted)
    except Unavailable as refused:
        return _choose(409, fields, unavailable=refused.reason)
    _service().remember(client_key(), booked.code or "")
    return redirect(url_for("slots.confirmation", code=booked.code, lang=g.lang), code=303)


def _found(code: str) -> Slot | tuple:
    try:
        slot = _service().find(code, client_key())
    except TooManyTries as held:
        return too_many(held)
    return slot if slot is not None else _not_found(code)


def _not_found(code: str | None):
    return page("slots/find.html", status=404, find_token=token(FIND), find_error=True,
                cancelled=_service().was_cancelled(code))


@blueprint.get("/<code>")
def confirmation(code: str):
    slot = _found(code)
    if not isinstance(slot, Slot):
        return slot
    url = context().landing_url.rstrip("/") + url_for("slots.confirmation", code=slot.code)
    shown = display_code(slot.code or "")
    theme = THEMES.get(slot.theme or "", THEMES["other"])
    return page("slots/confirmation.html", slot=slot, code=shown, theme=theme, qr=qr_svg(url, shown))


@blueprint.get("/<code>/rendez-vous.ics")
def calendar(code: str):
    slot = _found(code)
    if not isinstance(slot, Slot):
        return slot
    summary = g.translations.gettext("Appointment at %(structure)s") % {"structure": slot.structure}
    body = ics([slot], request.host, context().kit.adapters.clock(), summary)
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": 'attachment; filename="rendez-vous.ics"', "Cache-Control": "no-store"})


@blueprint.get("/find")
def find_form():
    return page("slots/find.html", find_token=token(FIND))


@blueprint.post("/find")
def find():
    check_token(FIND)
    try:
        slot = _service().find(request.form.get("code"), client_key())
    except TooManyTries as held:
        return too_many(held)
    if slot is None:
        return _not_found(request.form.get("code"))
    return redirect(url_for("slots.confirmation", code=slot.code, lang=g.lang), code=303)
