"""The mediators' dashboard listener. Its pages come with the dashboard work; for now a health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from kiosk import __version__

blueprint = Blueprint("dashboard", __name__)


@blueprint.get("/healthz")
def health():
    kit = current_app.extensions["kiosk.kit"]
    return jsonify(status="ok", version=__version__, schema=kit.store.version(),
                   firewall=kit.adapters.firewall.name)
