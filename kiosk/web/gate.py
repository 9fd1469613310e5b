"""The captive gate: a thin WSGI layer in front of the portal that answers OS probes and requests for
any foreign host without going through Flask.

These are most of a portal's traffic (every phone probes on joining, and every HTTP request of an
unauthorised phone lands here), so they take the shortest path.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable

from kiosk import probes
from kiosk.runtime import Kit
from kiosk.services.access import ClientState
from kiosk.store import StoreError

NO_STORE = [("Cache-Control", "no-store, no-cache, must-revalidate"), ("Pragma", "no-cache"), ("Expires", "0")]
STATE_KEY = "kiosk.client"


def client_state(kit: Kit, environ: dict) -> ClientState:
    """Who is asking: the phone's IP, its MAC when the leases or ARP table know it, and its access."""
    cached = environ.get(STATE_KEY)
    if cached is not None:
        return cached
    ip = environ.get("REMOTE_ADDR") or None
    mac = kit.adapters.neighbours.mac_for(ip) if ip else None
    state = kit.access.state_of(ip, mac)
    if state.session is not None:
        kit.access.touch(state.session)
    environ[STATE_KEY] = state
    return state


class CaptiveGate:
    def __init__(self, app: Callable, kit: Kit, landing_url: str, kit_hosts: frozenset[str]) -> None:
        self._app = app
        self._kit = kit
        self._kit_hosts = kit_hosts
        url = html.escape(landing_url)
        body = (f'<!doctype html><html><head><meta http-equiv="refresh" content="0;url={url}">'
                f'<title>Portal</title></head><body><a href="{url}">{url}</a></body></html>')
        self._redirect_body = body.encode()
        self._redirect_headers = [("Location", landing_url), ("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(self._redirect_body))), *NO_STORE]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST", "")
        matched = probes.match(host, environ.get("PATH_INFO", ""))
        if matched is None and probes.bare_host(host) in self._kit_hosts:
            return self._app(environ, start_response)
        if matched is not None and self._authorised(environ) and self._kit.adapters.uplink.is_up():
            answer = matched[1]
            body = answer.body.encode()
            start_response(f"{answer.status} {'No Content' if answer.status == 204 else 'OK'}",
                           [("Content-Type", answer.content_type), ("Content-Length", str(len(body))), *NO_STORE])
            return [body] if body else []
        start_response("302 Found", list(self._redirect_headers))
        return [self._redirect_body]

    def _authorised(self, environ: dict) -> bool:
        try:
            return client_state(self._kit, environ).authorised
        except StoreError:
            return False  # the store cannot be read: the portal page will say so plainly
