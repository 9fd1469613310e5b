"""The participants' portal: OS probes, the landing page with the charter, and the RFC 8908 API."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from flask import Blueprint, Flask, Response, current_app, g, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest, HTTPException

from kiosk.runtime import Kit
from kiosk.services.access import GrantRefused
from kiosk.web import gate
from kiosk.web.csrf import CsrfTokens
from kiosk.web.gate import CaptiveGate, client_state
from kiosk.web.i18n import LANGUAGES, Catalogues
from kiosk.web.landing import ACCEPT_PURPOSE, LandingShortPath, LanguageChoice, issue_token, page_key, page_state
from kiosk.web.page_cache import PageCache

blueprint = Blueprint("portal", __name__)

NO_STORE = dict(gate.NO_STORE)


def landing_url(settings) -> str:
    """The address of the portal's landing page, as phones and the dashboard's links name it."""
    if settings.portal.public_url:
        return settings.portal.public_url.rstrip("/") + "/"
    host, _, port = settings.portal.listen.rpartition(":")
    return f"http://{host}/" if port == "80" else f"http://{host}:{port}/"


@dataclass(frozen=True)
class OfflineService:
    endpoint: str
    title: str  # a message id, translated when shown
    description: str


@dataclass
class PortalContext:
    kit: Kit
    catalogues: Catalogues
    csrf: CsrfTokens
    landing_url: str
    kit_hosts: frozenset[str]
    offline_services: list[OfflineService] = field(default_factory=list)
    pages: PageCache = field(default_factory=PageCache)
    languages: LanguageChoice = field(init=False)  # the one language choice of Flask's pages and the short path

    def __post_init__(self) -> None:
        self.languages = LanguageChoice(self.catalogues)


def context() -> PortalContext:
    return current_app.extensions["kiosk.portal"]


def intercept():
    """Runs before routing, for the kit's own host (the gate has answered probes and foreign hosts)."""
    ctx = context()
    g.lang = ctx.languages(_asked_language(), request.headers.get("Accept-Language", ""))
    g.translations = ctx.catalogues.get(g.lang)
    g.client = client_state(ctx.kit, request.environ)
    if request.url_rule is None and not g.client.authorised:
        response = redirect(ctx.landing_url, code=302)
        response.headers.update(NO_STORE)
        return response
    return None


def _asked_language() -> str | None:
    asked = request.args.get("lang")
    if not asked and request.method == "POST":
        try:
            asked = request.form.get("lang")
        except HTTPException:  # too large or malformed: the error page is shown in the phone's language
            asked = None
    return asked if asked in LANGUAGES else None


def _render(template: str, **values) -> str:
    ctx = context()
    limits = ctx.kit.access.limits
    if "uplink_up" not in values:  # the landing route read the state already
        values.update(page_state(ctx))
    return render_template(
        template,
        client=g.client,
        authorised=g.client.authorised,
        session_minutes=limits.session_seconds // 60,
        quota_mb=limits.quota_bytes // 1_000_000,
        offline_services=ctx.offline_services,
        now=ctx.kit.adapters.clock,
        **values,
    )


def _page(template: str, status: int = 200, **values) -> tuple[str, int, dict[str, str]]:
    return _render(template, **values), status, NO_STORE


@blueprint.get("/")
def landing():
    """The same for every phone of a language and state but for its CSRF token: rendered once (PageCache),
    then answered by kiosk.web.landing's short path, which this route must agree with."""
    ctx = context()
    state = page_state(ctx)
    body = ctx.pages.render(page_key(g.lang, g.client.authorised, state),
                            {"csrf_token": issue_token(ctx, request.remote_addr)},
                            lambda placeholders: _render("portal/landing.html", **state, **placeholders))
    return body, 200, NO_STORE


@blueprint.post("/accept")
def accept():
    ctx = context()
    if not ctx.csrf.valid(request.form.get("csrf_token"), ACCEPT_PURPOSE, request.remote_addr or ""):
        raise BadRequest("expired form")
    if request.form.get("accept") != "yes":
        raise BadRequest("charter not accepted")
    if not g.client.authorised:
        # No internet, or this month's data is used up: no session opens, the offline services stay on.
        state = page_state(ctx)
        if not state["uplink_up"] or state["cap_reached"]:
            token = issue_token(ctx, request.remote_addr)
            return _page("portal/landing.html", status=503, csrf_token=token)
        try:
            ctx.kit.access.grant(g.client.ip, g.client.mac, g.lang, granted_by="portal")
        except GrantRefused as refused:
            token = issue_token(ctx, request.remote_addr)
            status = 503 if refused.reason == GrantRefused.WIFI_UNAVAILABLE else 403
            return _page("portal/landing.html", status=status, csrf_token=token, refused=refused.reason)
    # A full navigation (303 to a GET) is what lets iOS turn the sheet's "Cancel" into "Done".
    return redirect(url_for("portal.welcome", lang=g.lang), code=303)


@blueprint.get("/welcome")
def welcome():
    if not g.client.authorised:
        return redirect(url_for("portal.landing", lang=g.lang), code=303)
    return _page("portal/welcome.html", session=g.client.session)


@blueprint.get("/info")
def info():
    return _page("portal/info.html")


@blueprint.get("/api/captive")
def captive_api():
    ctx = context()
    client = g.client
    document: dict[str, object] = {
        "captive": not client.authorised,
        "user-portal-url": ctx.landing_url,
        "venue-info-url": ctx.landing_url.rstrip("/") + url_for("portal.info"),
        "can-extend-session": False,  # a session cannot be lengthened; a new one starts once it ends
    }
    if client.session is not None:
        now = ctx.kit.adapters.clock()
        document["seconds-remaining"] = client.session.seconds_remaining(now)
        remaining = client.session.bytes_remaining()
        if remaining is not None:
            document["bytes-remaining"] = remaining
    return Response(json.dumps(document), 200, content_type="application/captive+json", headers=NO_STORE)


def install(app: Flask, ctx: PortalContext) -> None:
    app.extensions["kiosk.portal"] = ctx
    app.before_request(intercept)
    app.register_blueprint(blueprint)
    app.wsgi_app = CaptiveGate(LandingShortPath(app.wsgi_app, ctx), ctx.kit, ctx.landing_url, ctx.kit_hosts)
