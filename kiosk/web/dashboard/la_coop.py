"""Re-typing records into La Coop de la médiation numérique: La Coop has no activity import, so the dashboard
shows each record, or all the records of an outing, field after field in the order of La Coop's activity
form and with that form's labels (kiosk.services.mediation.la_coop_form)."""

from __future__ import annotations

from flask import Blueprint, abort

from kiosk.services.mediation.la_coop_form import form_fields
from kiosk.web.dashboard.common import ctx, page

blueprint = Blueprint("la_coop", __name__, url_prefix="/la-coop")


@blueprint.get("/record/<int:record_id>")
def record(record_id: int):
    context = ctx()
    found = context.activity.get(record_id)
    if found is None:
        abort(404)
    outing = context.outings.get(found.outing_id) if found.outing_id else None
    return page("dashboard/la_coop.html", sheets=[(found, form_fields(found, outing))], of_outing=outing,
                single=True)


@blueprint.get("/outing/<int:outing_id>")
def outing(outing_id: int):
    context = ctx()
    found = context.outings.get(outing_id)
    if found is None:
        abort(404)
    records = context.activity.between("", "", outing_id=outing_id)
    return page("dashboard/la_coop.html", sheets=[(item, form_fields(item, found)) for item in records],
                of_outing=found, single=False)
