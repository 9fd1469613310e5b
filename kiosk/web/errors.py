"""Friendly error pages: a person sees a short message and a way back, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from kiosk.adapters.firewall import FirewallError
from kiosk.store import StoreError
from kiosk.web.gate import NO_STORE

log = logging.getLogger("kiosk.web")


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def install(app: Flask, template: str = "portal/error.html") -> None:
    def render(status: int, reason: str):
        # Never cached: a phone that saw "page not found" before accepting must not keep seeing it.
        if _wants_json() or "translations" not in g:
            return jsonify(error=reason, status=status), status, NO_STORE
        return render_template(template, status=status, reason=reason), status, NO_STORE

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return render(error.code or 500, error.name)

    @app.errorhandler(StoreError)
    def store_error(error: StoreError):
        log.error("store: %s", error)
        return render(503, "storage")

    @app.errorhandler(FirewallError)
    def firewall_error(error: FirewallError):
        log.error("firewall: %s", error)
        return render(502, "firewall")

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return render(InternalServerError.code, "internal")
