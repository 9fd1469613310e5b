"""Asking for a follow-up appointment: optional, with its own consent, never linked to the answers."""

from __future__ import annotations

from flask import Blueprint, g, redirect, request, url_for
from werkzeug.exceptions import BadRequest

from kiosk.services.survey.appointments import check_request
from kiosk.services.survey.visits import Tampered
from kiosk.web.i18n import N_
from kiosk.web.survey_common import check_token, context, page, token

blueprint = Blueprint("appointment", __name__, url_prefix="/appointment")

PURPOSE = "appointment"
SLOT_NAMES = {"morning": N_("In the morning"), "afternoon": N_("In the afternoon"), "any": N_("Any time")}


def _form(status: int = 200, problems: tuple[str, ...] = (), values: dict | None = None):
    settings = context().kit.settings.survey
    return page("appointment/form.html", status=status, structures=settings.partner_structures,
                slots=SLOT_NAMES, retention_days=settings.appointment_retention_days, problems=problems,
                values=values or {"slot": "any"}, csrf_token=token(PURPOSE))


@blueprint.get("")
def form():
    if request.args.get("request") != "1" and context().services.slots.free():
        return redirect(url_for("slots.choose", lang=g.lang), code=303)  # slots published: book one directly
    return _form()


@blueprint.post("")
def submit():
    check_token(PURPOSE)
    fields = {name: request.form.get(name, "") for name in ("first_name", "contact", "structure", "slot")}
    if any(len(value) > 200 for value in fields.values()):
        raise BadRequest("oversized field")
    try:
        checked, problems = check_request(fields["first_name"], fields["contact"], fields["structure"],
                                          fields["slot"], context().kit.settings.survey.partner_structures)
    except Tampered:
        raise BadRequest("not a choice the form offers") from None
    if request.form.get("consent") != "yes":
        problems.append("consent")
    if problems:
        return _form(422, tuple(problems), fields)
    stored = context().services.appointments.request(checked, g.lang)
    return redirect(url_for("appointment.done", lang=g.lang, **({"merged": "1"} if stored.merged else {})), code=303)


@blueprint.get("/done")
def done():
    return page("appointment/done.html", retention_days=context().kit.settings.survey.appointment_retention_days,
                merged=request.args.get("merged") == "1")
