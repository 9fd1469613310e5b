"""Addresses, phone numbers and codes kept left to right inside Arabic text.

Without isolation the browser's bidi algorithm reorders the pieces of "colis-suivi.example/payer" among the
Arabic words around it ("-colis" at one end, the rest at the other), and reading that address is the point of
the scam challenges. Each such run is wrapped in ``<bdi dir="ltr">``; in left-to-right pages it changes nothing.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_DOMAIN = r"(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?:/[A-Za-z0-9._~%/?=&-]*[A-Za-z0-9/])?"
LTR_RUN = re.compile(
    rf"(?:https?://)?[\w.+-]+@{_DOMAIN}"  # an e-mail address
    rf"|(?:https?://)?{_DOMAIN}"  # a web address
    r"|\+?\d[\d .-]{6,}\d",  # a phone number: 06 12 34 56 78, +33 7 56 12 89 04
)


def isolate(text: str | Markup) -> Markup:
    """``text`` escaped (unless it is already markup), each address and phone number in a left-to-right bdi."""
    escaped = str(escape(text))
    return Markup(LTR_RUN.sub(lambda m: f'<bdi dir="ltr">{m.group(0)}</bdi>', escaped))  # noqa: S704


def ltr(text: str) -> Markup:
    """A value that is left to right as a whole (a code), isolated for a gettext placeholder."""
    return Markup('<bdi dir="ltr">{}</bdi>').format(text)
