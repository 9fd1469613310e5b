"""Triporteur Kit: the router, captive portal and offline services of a mobile digital-inclusion unit."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiosk.runtime import Adapters
    from kiosk.settings import Settings
    from kiosk.web.app import Apps

__version__ = "0.1.0"


def create_app(settings: Settings, adapters: Adapters | None = None) -> Apps:
    """Build the portal and dashboard WSGI apps. Imported lazily so that ``python3 -m kiosk.devenv``
    runs on a bare python3 before Flask is installed."""
    from kiosk.runtime import Kit
    from kiosk.web.app import build_apps

    return build_apps(Kit.open(settings, adapters))
