"""The dashboard's field work: the outing, activity records in three taps, and the lists (appointment
requests, tablets, participants' internet sessions) and the link that opens the questionnaire in mediator mode.
Every change is a form post answered by a redirect."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, request, url_for

from kiosk.adapters.firewall import FirewallError
from kiosk.services.mediation import activity as vocabulary
from kiosk.services.mediation.activity import Incomplete, Tampered, check_entry
from kiosk.services.mediation.appointment_follow_up import AppointmentFollowUp
from kiosk.services.mediation.outings import PLACE_KINDS, AlreadyOpen, OutingError, check_draft
from kiosk.services.mediation.tablets import TabletActionError
from kiosk.services.status import tablet_lines
from kiosk.web.booklet import qr_svg
from kiosk.web.dashboard.common import ctx, flash_message, page, tr
from kiosk.web.portal import landing_url

blueprint = Blueprint("work", __name__)


# --- the outing ------------------------------------------------------------------------------------------

@blueprint.get("/outing")
def outing():
    context = ctx()
    values: dict[str, str] = {"place_kind": "market"}
    source = request.args.get("from", "")
    if source.isdigit() and len(source) < 12:
        earlier = context.outings.get(int(source))
        if earlier is not None:
            values = {"place": earlier.place, "commune": earlier.commune, "insee_code": earlier.insee_code,
                      "place_kind": earlier.place_kind, "mediators": earlier.mediators, "postcode": earlier.postcode}
    return page("dashboard/outing.html", values=values, problems=[], places=context.outings.recent_places())


@blueprint.post("/outing/start")
def outing_start():
    context = ctx()
    form = request.form
    values = {name: form.get(name, "") for name in ("place", "commune", "insee_code", "place_kind", "mediators",
                                                         "postcode")}
    try:
        draft = check_draft(**values)
        context.outings.start(draft)
    except OutingError as problem:
        if values["place_kind"] not in PLACE_KINDS:
            abort(400)  # the form offers only these
        return page("dashboard/outing.html", 422, values=values, problems=problem.fields,
                    places=context.outings.recent_places())
    except AlreadyOpen:
        flash_message("error", tr("An outing is already open: end it first."))
        return redirect(url_for("work.outing"), code=303)
    flash_message("ok", tr("Outing started at %(place)s.", place=draft.place))
    return redirect(url_for("dashboard.status"), code=303)


@blueprint.post("/outing/end")
def outing_end():
    context = ctx()
    current = context.outings.current()
    if current is None or request.form.get("outing") != str(current.id):
        flash_message("error", tr("This outing was already ended."))
        return redirect(url_for("work.outing"), code=303)
    context.outings.end(current.id)
    flash_message("ok", tr("Outing ended. Here is its report."))
    return redirect(url_for("reports.report", kind="outing", key=current.id), code=303)


# --- activity records ------------------------------------------------------------------------------------

def _form_values() -> dict[str, object]:
    form = request.form
    return {"kind": form.get("kind"), "duration": form.get("duration"), "themes": form.getlist("themes"),
            "procedure_themes": form.getlist("procedure_themes"), "participants": form.get("participants"),
            "material": form.getlist("material"), "autonomy": form.get("autonomy"),
            "workshop_level": form.get("workshop_level"), "referral": form.get("referral"),
            "workshop_title": form.get("workshop_title"), "gender": form.get("gender"),
            "age_band": form.get("age_band"), "social_status": form.get("social_status"),
            "group_counts": {code: form.get(f"count_{code}") for codes in vocabulary.GROUP_LISTS for code in codes
                             if f"count_{code}" in form}}


@blueprint.get("/activity")
def activity():
    """Tap 1: the kind. Then the form: tap 2, a theme; tap 3, save (everything else has a default)."""
    context = ctx()
    kind = request.args.get("kind")
    outing = context.outings.current()
    recent = context.activity.recent(outing.id if outing else None, limit=5)
    if kind is None:
        return page("dashboard/activity_kind.html", recent=recent)
    if kind not in vocabulary.KINDS:
        abort(404)
    values = {"kind": kind, "duration": str(vocabulary.DEFAULT_DURATION[kind]), "themes": [],
              "procedure_themes": [], "participants": "1", "material": []}
    return page("dashboard/activity_form.html", values=values, problems=[], vocabulary=vocabulary, recent=recent)


@blueprint.post("/activity")
def activity_save():
    context = ctx()
    values = _form_values()
    try:
        entry = check_entry(values["kind"], values["duration"], values["themes"], values["procedure_themes"],
                            participants=values["participants"], material=values["material"],
                            autonomy=values["autonomy"], workshop_level=values["workshop_level"],
                            referral=values["referral"],
                            workshop_title=values["workshop_title"], gender=values["gender"],
                            age_band=values["age_band"], social_status=values["social_status"],
                            group_counts=values["group_counts"])
    except Tampered:
        abort(400)
    except Incomplete as problem:
        outing = context.outings.current()
        return page("dashboard/activity_form.html", 422, values=values, problems=problem.fields,
                    vocabulary=vocabulary, recent=context.activity.recent(outing.id if outing else None, limit=5))
    record = context.activity.record(entry)
    flash_message("ok", tr("Recorded."))
    return redirect(url_for("work.activity", saved=record.id), code=303)


@blueprint.post("/activity/<int:record_id>/delete")
def activity_delete(record_id: int):
    if ctx().activity.delete(record_id):
        flash_message("ok", tr("Record removed."))
    else:
        flash_message("error", tr("Only today's records can be removed."))
    return redirect(url_for("work.activity"), code=303)


# --- appointment requests --------------------------------------------------------------------------------

def _follow_up() -> AppointmentFollowUp:
    context = ctx()
    return AppointmentFollowUp(context.kit.store, context.kit.survey.appointments.pending, context.clock.now)


@blueprint.get("/appointments")
def appointments():
    settings = ctx().kit.settings
    return page("dashboard/appointments.html", items=_follow_up().list(),
                retention_days=settings.survey.appointment_retention_days)


@blueprint.post("/appointments/<int:appointment_id>/<status>")
def appointment_mark(appointment_id: int, status: str):
    if status not in ("done", "cancelled", "pending"):
        abort(404)
    if not _follow_up().mark(appointment_id, status):
        flash_message("error", tr("This request no longer exists."))
    return redirect(url_for("work.appointments"), code=303)


# --- tablets ---------------------------------------------------------------------------------------------

@blueprint.get("/tablets")
def tablets():
    context = ctx()
    lines = tablet_lines(context.kit.store)
    busy = context.tablets.busy()
    working = bool(busy) or any(line.status == "wiping" or line.reason.startswith("being prepared")
                                for line in lines)
    return page("dashboard/tablets.html", lines=lines, busy=busy, refresh=2 if working else 20)


@blueprint.post("/tablets/<name>/<action>")
def tablet_action(name: str, action: str):
    service = ctx().tablets
    try:
        if action == "lend":
            service.lend(name, accept_partial=request.form.get("accept_partial") == "yes")
            flash_message("ok", tr("%(name)s: being prepared for a participant.", name=name))
        elif action == "return":
            service.give_back(name)
            flash_message("ok", tr("%(name)s: returned, the wipe has started.", name=name))
        elif action == "wipe":
            service.wipe(name)
            flash_message("ok", tr("%(name)s: the wipe has started.", name=name))
        else:
            abort(404)
    except TabletActionError as problem:
        flash_message("error", tr("%(name)s: not done (%(reason)s).", name=name, reason=str(problem)))
    return redirect(url_for("work.tablets"), code=303)


# --- the questionnaire in mediator mode -----------------------------------------------------------------

def assisted_questionnaire_url() -> str:
    """The portal's questionnaire with a fresh assist ticket: only a logged-in mediator reaches this."""
    context = ctx()
    return f"{landing_url(context.kit.settings)}questionnaire?{urlencode({'assist': context.assist.issue()})}"


@blueprint.get("/questionnaire")
def assisted_questionnaire():
    url = assisted_questionnaire_url()
    return page("dashboard/assisted.html", url=url,
                qr=qr_svg(url, tr("QR code of the questionnaire in mediator mode")))


# --- participants' internet sessions ---------------------------------------------------------------------

@blueprint.get("/sessions")
def sessions():
    context = ctx()
    return page("dashboard/sessions.html", sessions=context.kit.access.open_sessions(), now=context.clock.now())


@blueprint.post("/sessions/<int:session_id>/revoke")
def session_revoke(session_id: int):
    access = ctx().kit.access
    session = next((s for s in access.open_sessions() if s.id == session_id), None)
    if session is None:
        flash_message("error", tr("This session had already ended."))
        return redirect(url_for("work.sessions"), code=303)
    try:
        access.revoke(mac=session.mac) if session.mac else access.revoke(ip=session.ip)
    except FirewallError:
        flash_message("error", tr("The kit could not cut this device off; it will try again in a moment."))
    else:
        flash_message("ok", tr("Internet access ended for this device."))
    return redirect(url_for("work.sessions"), code=303)
