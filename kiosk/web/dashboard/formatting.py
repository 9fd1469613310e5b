"""Formatting for the dashboard's templates: times on the kit's clock, bytes, labels of codes, offsets."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, g

from kiosk.services.clock import describe_offset
from kiosk.services.mediation.activity import SENSITIVE_THEMES
from kiosk.services.uplink import human_bytes
from kiosk.web.dashboard import charts, labels


def hm(moment: float | None) -> str:
    return datetime.fromtimestamp(moment).strftime("%H:%M") if moment is not None else "–"


def day(moment: float | str | None) -> str:
    """A day as the mediator reads it: 04/05/2026 in French, 2026-05-04 otherwise."""
    if moment is None:
        return "–"
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else datetime.fromtimestamp(moment)
    return value.strftime("%d/%m/%Y") if g.get("lang") == "fr" else value.strftime("%Y-%m-%d")


def datetime_local(moment: float) -> str:
    return datetime.fromtimestamp(moment).strftime("%Y-%m-%dT%H:%M")


def label(table: str, code: str | None) -> str:
    """The translated label of a code from one of the tables in ``labels`` (the code itself if unknown)."""
    mapping = getattr(labels, table)
    message = mapping.get(code or "", code or "")
    return g.translations.gettext(message) if message else ""


def reason(text: str) -> str:
    """A tablet's status reason or wipe step, translated when it is one of the usual ones."""
    return g.translations.gettext(text) if text in labels.TABLET_REASONS else text


def offset(seconds: float) -> str:
    unit, amount = describe_offset(seconds)
    return g.translations.gettext(labels.OFFSET_UNITS[unit]) % {"n": amount}


def number(value: float) -> str:
    """1.5 → "1,5" in French; 2.0 → "2"."""
    text = f"{value:.1f}".removesuffix(".0")
    return text.replace(".", ",") if g.get("lang") == "fr" else text


def install(app: Flask) -> None:
    app.jinja_env.filters.update(hm=hm, day=day, datetime_local=datetime_local, bytes=human_bytes, offset=offset,
                                 number=number)
    app.jinja_env.globals.update(label=label, reason=reason, labels=labels, charts=charts,
                                 sensitive_themes=sorted(SENSITIVE_THEMES))
