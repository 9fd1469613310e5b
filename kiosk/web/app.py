"""Builds the two WSGI apps: the participants' portal and the mediators' dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, g

from kiosk import probes
from kiosk.runtime import Kit
from kiosk.services.secrets import get_or_create
from kiosk.web import appointment, bidi, booklet, errors, portal, slots, survey, survey_common
from kiosk.web.csrf import CsrfTokens
from kiosk.web.dashboard import app as dashboard
from kiosk.web.i18n import LANGUAGES, N_, Catalogues

PACKAGE_DIR = Path(__file__).resolve().parent.parent
MAX_REQUEST_BYTES = 64 * 1024


@dataclass
class Apps:
    kit: Kit
    portal: Flask
    dashboard: Flask


def _kit_hosts(settings, url: str) -> frozenset[str]:
    listen_host = settings.portal.listen.rpartition(":")[0]
    url_host = probes.bare_host(url.split("://", 1)[1].split("/", 1)[0])
    return frozenset({probes.bare_host(listen_host), url_host, "localhost", "127.0.0.1"})


def _new_flask(name: str) -> Flask:
    app = Flask(name, template_folder=str(PACKAGE_DIR / "templates"), static_folder=str(PACKAGE_DIR / "static"))
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES, TRAP_HTTP_EXCEPTIONS=False,
                      PROPAGATE_EXCEPTIONS=False, JSON_AS_ASCII=False)
    return app


def _install_i18n(app: Flask, catalogues: Catalogues) -> None:
    app.jinja_env.filters.update(isolate=bidi.isolate, ltr=bidi.ltr)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(
        gettext=lambda message: g.translations.gettext(message),
        ngettext=lambda singular, plural, n: g.translations.ngettext(singular, plural, n),
        newstyle=True,
    )

    @app.context_processor
    def language_context():
        code = g.get("lang", catalogues.default)
        return {"lang": LANGUAGES[code], "languages": catalogues.offered}


def build_apps(kit: Kit) -> Apps:
    settings = kit.settings
    url = portal.landing_url(settings)
    catalogues = Catalogues(settings.portal.languages, settings.portal.default_language)
    csrf = CsrfTokens(get_or_create(kit.store, "csrf"), kit.adapters.clock)

    portal_app = _new_flask("kiosk.portal")
    _install_i18n(portal_app, catalogues)
    services = [portal.OfflineService("portal.info", N_("Practical information"),
                                      N_("Who we are, what we can help with, where to find us.")),
                portal.OfflineService("survey.intro", N_("Where am I with digital tools?"),
                                      N_("A short questionnaire, about ten minutes, with or without help. No name.")),
                portal.OfflineService("booklet.open_form", N_("My follow-up booklet"),
                                      N_("See your progress with your booklet code.")),
                portal.OfflineService("appointment.form", N_("Ask for an appointment"),
                                      N_("A mediator calls you back to help with a procedure."))]
    portal.install(portal_app, portal.PortalContext(kit, catalogues, csrf, url, _kit_hosts(settings, url),
                                                    services))
    # Loads and checks the questionnaire files now: a bad file stops the start with file: path: reason.
    survey_common.install(portal_app, survey_common.SurveyContext(kit, kit.survey, catalogues, csrf, url))
    for blueprint in (survey.blueprint, booklet.blueprint, appointment.blueprint, slots.blueprint):
        portal_app.register_blueprint(blueprint)
    errors.install(portal_app)

    dashboard_app = _new_flask("kiosk.dashboard")
    dashboard.install(dashboard_app, kit)
    return Apps(kit, portal_app, dashboard_app)
