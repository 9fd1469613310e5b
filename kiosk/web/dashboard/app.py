"""The mediators' dashboard: its own listener (``dashboard.listen``), every page behind a login but /login.

Guards, in this order, on every request: the Host must be the listen host or one of
``dashboard.allowed_hosts`` (a DNS-rebinding page cannot drive a mediator's browser against the kit); a
session (Flask's signed cookie, HttpOnly, SameSite=Strict) that is of this boot, younger than
``dashboard.session_minutes`` and made with the current password; a CSRF token on every POST, the login
form's included. Pages are server-rendered and phone-sized; the only script reads the phone's clock.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, Flask, current_app, g, jsonify, redirect, request, session, url_for
from werkzeug.exceptions import BadRequest, HTTPException

from kiosk import __version__, probes
from kiosk.adapters.clock import SystemClock, set_system_clock
from kiosk.adapters.health import Health
from kiosk.adapters.modem import ModemManagerCli
from kiosk.adapters.privileged import PrivilegedClock
from kiosk.runtime import Kit
from kiosk.services.auth import LoginLimiter, PasswordFile, TooManyAttempts
from kiosk.services.clock import ClockService, FollowingBoot
from kiosk.services.mediation.activity import ActivityService
from kiosk.services.mediation.outings import OutingService
from kiosk.services.mediation.reports import ReportService
from kiosk.services.mediation.tablets import DashboardTablets
from kiosk.services.privacy import PrivacyService
from kiosk.services.secrets import get_or_create
from kiosk.services.status import StatusService
from kiosk.store import StoreError
from kiosk.web import errors
from kiosk.web.assist import kit_tickets
from kiosk.web.csrf import CsrfTokens
from kiosk.web.dashboard import admin, formatting, la_coop, reports, slots, work
from kiosk.web.dashboard.common import DashboardContext, ctx, page
from kiosk.web.i18n import LANGUAGES, Catalogues

blueprint = Blueprint("dashboard", __name__)

DOMAIN = "dashboard"
LANGUAGES_OFFERED = ["fr", "en"]  # French is the mediators' language; English is the message ids
CSRF_PURPOSE = "dashboard"
COOKIE = "triporteur_dashboard"
PUBLIC_ENDPOINTS = frozenset({"dashboard.login", "dashboard.health", "static"})
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                    "Cache-Control": "no-store"}


def allowed_hosts(settings) -> frozenset[str]:
    listen_host = probes.bare_host(settings.dashboard.listen.rpartition(":")[0])
    hosts = {probes.bare_host(host) for host in settings.dashboard.allowed_hosts}
    if listen_host not in ("0.0.0.0", "[::]"):  # noqa: S104 - a wildcard is not a name a browser sends
        hosts.add(listen_host)
    return frozenset(hosts)


def _clock_setter(kit: Kit) -> Callable[[float], None] | None:
    """Directly as root, through the privileged helper otherwise; never on a development setup (backend none),
    where the kit is someone's computer."""
    if kit.settings.firewall.backend == "none":
        return None
    return set_system_clock if os.geteuid() == 0 else PrivilegedClock(kit.settings.firewall.helper_socket)


def build_context(kit: Kit) -> DashboardContext:
    settings, store, clock = kit.settings, kit.store, kit.adapters.clock
    real_clock = clock is time.time
    outings = OutingService(store, clock)
    activity = ActivityService(store, clock)

    def survey_summary(since: str, until: str, outing_id: int | None):
        from kiosk.services.survey.stats import summary

        return summary(store, kit.survey.library, since, until, outing_id)

    modem = ModemManagerCli(settings.uplink.mmcli)
    clock_service = ClockService(store, clock, SystemClock() if real_clock else FollowingBoot(clock),
                                 _clock_setter(kit), modem.network_time if real_clock else None)
    return DashboardContext(
        kit=kit,
        catalogues=Catalogues(LANGUAGES_OFFERED, "fr", domain=DOMAIN),
        csrf=CsrfTokens(get_or_create(store, "dashboard-csrf"), clock, max_age_s=12 * 3600),
        passwords=PasswordFile(settings.dashboard.password_file),
        limiter=LoginLimiter(clock, store),
        allowed_hosts=allowed_hosts(settings),
        session_seconds=settings.dashboard.session_minutes * 60,
        outings=outings,
        activity=activity,
        reports=ReportService(store, outings, activity, clock, survey_summary),
        clock=clock_service,
        status=StatusService(store, kit.access, kit.uplink, Health(), Path(settings.network.dhcp_leases), clock),
        tablets=DashboardTablets(settings, store, clock),
        privacy=PrivacyService(settings, store, activity, clock),
        assist=kit_tickets(store, clock),
    )


# --- request guards -------------------------------------------------------------------------------------

def _client_key() -> str:
    return session.get("sid") or f"anon:{request.remote_addr or ''}"


def csrf_token() -> str:
    return ctx().csrf.issue(CSRF_PURPOSE, _client_key())


def logged_in() -> bool:
    context = ctx()
    sid, boot, since = session.get("sid"), session.get("boot"), session.get("t")
    if not isinstance(sid, str) or not isinstance(since, int | float):
        return False
    stored = context.passwords.read()
    if stored is None or session.get("pw") != stored.fingerprint:
        return False
    boot_id, since_boot = context.clock.stamp()
    return boot == boot_id and 0 <= since_boot - since < context.session_seconds


def _guard():
    context = ctx()
    g.nonce = secrets.token_urlsafe(12)
    g.lang = context.catalogues.choose(None, request.accept_languages)
    g.translations = context.catalogues.get(g.lang)
    if probes.bare_host(request.environ.get("HTTP_HOST", "")) not in context.allowed_hosts:
        raise BadRequest("unknown host")
    if request.endpoint in PUBLIC_ENDPOINTS:
        if request.method == "POST":
            _check_csrf()
        return None
    if not logged_in():
        session.clear()
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("dashboard.login", next=target), code=303)
    if request.method == "POST":
        _check_csrf()
    else:
        _housekeeping(context)
    return None


def _check_csrf() -> None:
    try:
        token = request.form.get("csrf_token")
    except HTTPException:
        raise BadRequest("unreadable form") from None
    if not ctx().csrf.valid(token, CSRF_PURPOSE, _client_key()):
        raise BadRequest("missing or expired form token")


def _housekeeping(context: DashboardContext) -> None:
    """Work the dashboard does by itself while it is used: notice a clock set by someone else, purge daily."""
    try:
        context.clock.reconcile()
        context.privacy.purge_if_due()
    except StoreError as problem:
        current_app.logger.warning("dashboard housekeeping: %s", problem)


def _headers(response):
    nonce = g.get("nonce", "")
    response.headers.setdefault(
        "Content-Security-Policy",
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    for name, value in SECURITY_HEADERS.items():
        if name == "Cache-Control" and request.endpoint == "static":
            continue
        response.headers.setdefault(name, value)
    return response


def _notes() -> list[list[str]]:
    return session.pop("notes", []) if "notes" in session else []


# --- routes ----------------------------------------------------------------------------------------------

@blueprint.get("/healthz")
def health():
    kit = ctx().kit
    return jsonify(status="ok", version=__version__, schema=kit.store.version(), firewall=kit.adapters.firewall.name)


def _safe_next(target: str | None) -> str | None:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 300:
        return None
    return target if not target.startswith("/login") else None


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    context = ctx()
    stored = context.passwords.read()
    if request.method == "GET":
        if logged_in():
            return redirect(url_for("dashboard.status"), code=303)
        return page("dashboard/login.html", stored=stored, next=_safe_next(request.args.get("next")),
                    password_file=context.passwords.path)
    client = request.remote_addr or ""
    next_page = _safe_next(request.form.get("next"))
    if stored is None:
        return page("dashboard/login.html", 503, stored=None, password_file=context.passwords.path)
    try:
        context.limiter.check(client)
    except TooManyAttempts as blocked:
        minutes = -(-blocked.retry_after_s // 60)
        response = page("dashboard/login.html", 429, stored=stored, next=next_page, blocked_minutes=minutes)
        return (*response, {"Retry-After": str(blocked.retry_after_s)})
    password = request.form.get("password", "")
    if not password or len(password) > 1000 or not stored.matches(password):
        context.limiter.failed(client)
        return page("dashboard/login.html", 401, stored=stored, next=next_page, wrong=True)
    context.limiter.succeeded(client)
    boot_id, since_boot = context.clock.stamp()
    session.clear()
    session.permanent = True
    session.update(sid=secrets.token_urlsafe(16), boot=boot_id, t=since_boot, pw=stored.fingerprint)
    return redirect(next_page or url_for("dashboard.status"), code=303)


@blueprint.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("dashboard.login"), code=303)


@blueprint.get("/")
def status():
    context = ctx()
    context.clock.use_network_time_if_wrong()
    snapshot = context.status.snapshot()
    outing = context.outings.current()
    refresh = 4 if snapshot.tablets_busy or context.tablets.busy() else 15
    return page("dashboard/status.html", snapshot=snapshot, refresh=refresh, boot=context.clock.current_boot(),
                network_time=context.clock.network(),
                outing_records=context.activity.count(outing.id) if outing else 0)


def install(app: Flask, kit: Kit) -> DashboardContext:
    """Everything the dashboard app needs, from the kit; called by ``kiosk.web.app.build_apps``."""
    context = build_context(kit)
    context.clock.current_boot()  # this boot is registered now, before anything is recorded in it
    app.extensions["kiosk.kit"] = kit
    app.extensions["kiosk.dashboard"] = context
    app.secret_key = get_or_create(kit.store, "dashboard-session")
    app.config.update(SESSION_COOKIE_NAME=COOKIE, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      PERMANENT_SESSION_LIFETIME=timedelta(seconds=context.session_seconds))
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(
        gettext=lambda message: g.translations.gettext(message),
        ngettext=lambda singular, plural, n: g.translations.ngettext(singular, plural, n),
        newstyle=True,
    )

    @app.context_processor
    def dashboard_globals():
        code = g.get("lang", context.catalogues.default)
        return {"lang": LANGUAGES[code], "csrf_token": csrf_token, "notes": _notes, "nonce": g.get("nonce", ""),
                "logged_in": "sid" in session, "now": context.clock.now}

    formatting.install(app)
    app.before_request(_guard)
    app.after_request(_headers)
    for module_blueprint in (blueprint, work.blueprint, reports.blueprint, la_coop.blueprint,
                             admin.blueprint, slots.blueprint):
        app.register_blueprint(module_blueprint)
    errors.install(app, "dashboard/error.html")
    return context
