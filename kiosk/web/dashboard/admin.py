"""The kit's clock (compared with the mediator's phone, set from it or from the 4G network) and the data
protection page (what is kept, for how long, and "purge now")."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for

from kiosk.adapters.clock import ClockError
from kiosk.services.clock import epoch_from_local
from kiosk.web.dashboard.common import ctx, flash_message, page, tr
from kiosk.web.dashboard.formatting import offset

blueprint = Blueprint("admin", __name__)


@blueprint.get("/clock")
def clock():
    context = ctx()
    return page("dashboard/clock.html", boot=context.clock.current_boot(), network_time=context.clock.network(),
                can_set=context.clock.can_set)


def _phone_epoch() -> float | None:
    """The phone's time: read by the page's script (milliseconds), else as typed by the mediator."""
    millis = request.form.get("phone_ms", "").strip()
    if millis.isdigit() and len(millis) <= 15:
        return int(millis) / 1000
    return epoch_from_local(request.form.get("phone_local", "")[:40])


def _set(epoch: float | None, source: str):
    context = ctx()
    if epoch is None:
        flash_message("error", tr("Give the date and time shown on your phone."))
        return redirect(url_for("admin.clock"), code=303)
    try:
        delta = context.clock.set_time(epoch, source)
    except ClockError as problem:
        flash_message("error", tr("The clock was not changed: %(reason)s", reason=str(problem)))
        return redirect(url_for("admin.clock"), code=303)
    if delta:
        flash_message("ok", tr("Clock set (moved by %(offset)s); what was recorded since power-on is corrected.",
                               offset=offset(delta)))
    else:
        flash_message("ok", tr("The kit's clock was already right."))
    return redirect(url_for("admin.clock"), code=303)


@blueprint.post("/clock/phone")
def clock_from_phone():
    return _set(_phone_epoch(), "phone")


@blueprint.post("/clock/network")
def clock_from_network():
    context = ctx()
    network = context.clock.network()
    now = context.clock.now()
    return _set(now + network.offset(now) if network is not None else None, "network")


@blueprint.get("/privacy")
def privacy():
    context = ctx()
    return page("dashboard/privacy.html", kept=context.privacy.kept(), retention=context.privacy.retention)


@blueprint.post("/privacy/purge")
def privacy_purge():
    done = ctx().privacy.purge_now()
    flash_message("ok", tr("Purge done: %(count)s item(s) deleted or anonymised.", count=sum(done.values())))
    return redirect(url_for("admin.privacy"), code=303)
