"""CSRF tokens that need no cookie (captive mini-browsers keep none): an HMAC of the client's address
and the time the form was served, checked on every POST."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable


class CsrfTokens:
    def __init__(self, secret: str, clock: Callable[[], float], max_age_s: int = 6 * 3600) -> None:
        self._key = secret.encode()
        self._clock = clock
        self._max_age = max_age_s

    def _mac(self, purpose: str, client: str, issued: int) -> str:
        message = f"{purpose}|{client}|{issued}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:40]

    def issue(self, purpose: str, client: str) -> str:
        issued = int(self._clock())
        return f"{issued:x}.{self._mac(purpose, client, issued)}"

    def valid(self, token: str | None, purpose: str, client: str) -> bool:
        if not token or "." not in token or len(token) > 100:
            return False
        issued_hex, _, signature = token.partition(".")
        try:
            issued = int(issued_hex, 16)
        except ValueError:
            return False
        age = self._clock() - issued
        if not -300 <= age <= self._max_age:
            return False
        # compare bytes: compare_digest refuses non-ASCII str, and a forged token may hold anything
        return hmac.compare_digest(signature.encode("utf-8", "surrogateescape"),
                                   self._mac(purpose, client, issued).encode())
