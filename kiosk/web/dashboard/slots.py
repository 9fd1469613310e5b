"""Appointment slots in the dashboard: publish free times at a partner structure, list and delete them, the
day's bookings per structure (done, missed, cancelled), a structure's export (CSV, iCalendar) and the import
of a planning file. Every change is a form post (CSRF-checked by the dashboard's guard) answered by a redirect."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, redirect, request, url_for

from kiosk.services.clock import local_day
from kiosk.services.survey.slots import MINUTES, OUTCOMES, SlotError, SlotService, check_slot
from kiosk.services.survey.slots_files import ImportProblems, export_csv, ics, read_csv, read_ics
from kiosk.web.dashboard.common import ctx, flash_message, page, tr
from kiosk.web.i18n import N_

blueprint = Blueprint("slots_admin", __name__, url_prefix="/slots")

FIELDS = ("structure", "address", "commune", "directions", "day", "time", "minutes", "mediator")
MAX_IMPORT_BYTES = 60 * 1024
THEME_NAMES = {"papers": N_("Identity papers, driving licence"), "family": N_("Family allowances (CAF)"),
               "health": N_("Health insurance (Ameli)"), "work": N_("Job seeking (France Travail)"),
               "taxes": N_("Taxes"), "other": N_("Something else")}


def problem_text(code: str) -> str:
    texts = {"structure": tr("the structure is missing or too long"), "address": tr("the address is too long"),
             "commune": tr("the commune is too long"), "directions": tr("the directions are too long"),
             "when": tr("the day or time cannot be read (YYYY-MM-DD and HH:MM)"),
             "past": tr("this time is already past"),
             "minutes": tr("the length must be 15, 20, 30, 45, 60, 90 or 120 minutes"),
             "mediator": tr("the mediator's first name is missing or too long"),
             "encoding": tr("the file is not UTF-8 text"), "columns": tr("columns are missing"),
             "cells": tr("more cells than columns"), "too_many": tr("too many rows"),
             "empty": tr("no slot in the file")}
    return texts.get(code, code)


def _service() -> SlotService:
    return ctx().kit.survey.slots


def _index(status: int = 200, values: dict | None = None, problems: tuple[str, ...] = (),
           import_problems: ImportProblems | None = None):
    context = ctx()
    outing = context.outings.current()
    defaults = {"minutes": "30", "day": local_day(context.clock.now()),
                "mediator": (outing.mediators.split(",")[0].strip() if outing else ""),
                "commune": outing.commune if outing else ""}
    return page("dashboard/slots.html", status, slots=_service().upcoming(), values=values or defaults,
                problems=problems, minutes=MINUTES, structures=context.kit.settings.survey.partner_structures,
                known=_service().structures(), import_problems=import_problems, problem_text=problem_text)


@blueprint.get("")
def index():
    return _index()


@blueprint.post("")
def publish():
    values = {name: request.form.get(name, "") for name in FIELDS}
    try:
        draft = check_slot(**values, now=ctx().clock.now())
    except SlotError as problem:
        return _index(422, values, tuple(problem.fields))
    _service().publish(draft)
    flash_message("ok", tr("Slot published: %(structure)s, %(day)s at %(time)s.", structure=draft.structure,
                           day=values["day"], time=draft.starts[11:]))
    return redirect(url_for("slots_admin.index"), code=303)


@blueprint.post("/<int:slot_id>/delete")
def delete(slot_id: int):
    slot = _service().get(slot_id)
    if slot is not None and slot.booked:
        flash_message("error", tr("This slot is booked: cancel the booking first (today's bookings)."))
    elif not _service().delete(slot_id):
        flash_message("error", tr("This slot no longer exists."))
    else:
        flash_message("ok", tr("Slot deleted."))
    return redirect(url_for("slots_admin.index"), code=303)


@blueprint.post("/import")
def import_planning():
    upload = request.files.get("planning")
    data = upload.read(MAX_IMPORT_BYTES + 1) if upload else b""
    if not data:
        flash_message("error", tr("Choose a planning file (CSV or iCalendar) first."))
        return redirect(url_for("slots_admin.index"), code=303)
    try:
        if len(data) > MAX_IMPORT_BYTES:
            raise ImportProblems([(0, ["too_many"])])
        if data.lstrip().upper().startswith(b"BEGIN:VCALENDAR"):
            form = request.form
            drafts = read_ics(data, form.get("structure", ""), form.get("commune", ""), form.get("mediator", ""),
                              ctx().clock.now())
        else:
            drafts = read_csv(data, ctx().clock.now())
    except ImportProblems as problems:
        return _index(422, import_problems=problems)
    count = _service().publish_all(drafts)
    flash_message("ok", tr("%(count)s slots imported.", count=count))
    return redirect(url_for("slots_admin.index"), code=303)


def _day() -> str:
    asked = request.args.get("day", "")
    try:
        return date.fromisoformat(asked).isoformat() if asked else local_day(ctx().clock.now())
    except ValueError:
        abort(404)


@blueprint.get("/day")
def day():
    chosen = _day()
    return page("dashboard/slots_day.html", day=chosen, grouped=_service().on_day(chosen),
                theme_names=THEME_NAMES)


@blueprint.post("/<int:slot_id>/<outcome>")
def mark(slot_id: int, outcome: str):
    if outcome not in OUTCOMES:
        abort(404)
    slot = _service().get(slot_id)
    if slot is None or not _service().mark(slot_id, outcome):
        flash_message("error", tr("This booking no longer exists."))
    elif outcome == "cancelled":
        flash_message("ok", tr("Booking cancelled: the slot can be booked again."))
    return redirect(url_for("slots_admin.day", day=slot.day if slot else None), code=303)


def _structure_slots():
    structure = request.args.get("structure", "")
    if structure not in _service().structures():
        abort(404)
    return structure, _service().of_structure(structure)


@blueprint.get("/export.csv")
def export_structure_csv():
    _, slots = _structure_slots()
    return Response(export_csv(slots), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="rendez-vous.csv"'})


@blueprint.get("/export.ics")
def export_structure_ics():
    structure, slots = _structure_slots()
    body = ics([slot for slot in slots if slot.booked], request.host, ctx().clock.now(),
               tr("Appointment at %(structure)s", structure=structure))
    return Response(body, mimetype="text/calendar",
                    headers={"Content-Disposition": 'attachment; filename="rendez-vous.ics"'})
