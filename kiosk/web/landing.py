"""The landing page's short path: once a language and state's page is in the page cache, a GET of ``/`` is
answered from it without going through Flask.

Every phone that joins loads this page, often several times, at the same minute as all the others: Flask's
request and response objects cost several times what the answer itself does (bench/portal.py). The short
path does what the Flask route does (tests/unit/test_landing.py holds the two answers side by side): the same
language choice, the same client state (which also keeps an open session alive), the same key, token and
headers. Anything it does not know how to answer — another method, a page not rendered yet, a store that
cannot be read — goes to Flask, whose route renders and caches the page and whose error pages speak plainly.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from kiosk.web.gate import NO_STORE, client_state
from kiosk.web.i18n import LANGUAGES, Catalogues

if TYPE_CHECKING:
    from kiosk.web.portal import PortalContext

TEMPLATE = "portal/landing.html"
ACCEPT_PURPOSE = "accept-charter"
MAX_REMEMBERED_CHOICES = 512  # distinct (lang, Accept-Language) pairs; phones send a handful of spellings
MAX_REMEMBERED_HEADER = 200  # longer headers are parsed every time: a phone's own is far shorter, and a
# remembered 400 KB header (granian takes that much) times the table's size would pin hundreds of MB


def page_state(ctx: PortalContext) -> dict[str, bool]:
    """What the landing page shows that is the same for every phone: the uplink and the month's cap."""
    return {"uplink_up": ctx.kit.adapters.uplink.is_up(),
            "cap_reached": ctx.kit.access.month_cap_spent or ctx.kit.uplink.cap_reached()}


def page_key(lang: str, authorised: bool, state: dict[str, bool]) -> Hashable:
    return (TEMPLATE, lang, authorised, *state.values())


def issue_token(ctx: PortalContext, remote_addr: str | None) -> str:
    return ctx.csrf.issue(ACCEPT_PURPOSE, remote_addr or "")


class LanguageChoice:
    """``Catalogues.choose`` for a query's ``lang`` and an Accept-Language header, remembered per pair."""

    def __init__(self, catalogues: Catalogues) -> None:
        self._catalogues = catalogues
        self._chosen: dict[tuple[str | None, str], str] = {}

    def __call__(self, asked: str | None, accept_language: str) -> str:
        asked = asked if asked in LANGUAGES else None
        chosen = self._chosen.get((asked, accept_language))
        if chosen is None:
            accept = parse_accept_header(accept_language, LanguageAccept) if accept_language else None
            chosen = self._catalogues.choose(asked, accept)
            if len(self._chosen) < MAX_REMEMBERED_CHOICES and len(accept_language) <= MAX_REMEMBERED_HEADER:
                self._chosen[(asked, accept_language)] = chosen
        return chosen


class LandingShortPath:
    """WSGI layer in front of the portal's Flask app for ``GET /`` on the kit's own host."""

    def __init__(self, app: Callable, ctx: PortalContext) -> None:
        self._app = app
        self._ctx = ctx

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == "/":
            try:
                body = self._cached_page(environ)
            except Exception:  # Flask's route and error pages take over, with their messages
                body = None
            if body is not None:
                data = body.encode()
                start_response("200 OK", [*NO_STORE, ("Content-Type", "text/html; charset=utf-8"),
                                          ("Content-Length", str(len(data)))])
                return [data]
        return self._app(environ, start_response)

    def _cached_page(self, environ: dict) -> str | None:
        ctx = self._ctx
        asked = next((value for name, value in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
                      if name == "lang"), None)
        lang = ctx.languages(asked, environ.get("HTTP_ACCEPT_LANGUAGE", ""))
        client = client_state(ctx.kit, environ)
        key = page_key(lang, client.authorised, page_state(ctx))
        return ctx.pages.cached(key, {"csrf_token": issue_token(ctx, environ.get("REMOTE_ADDR"))})
