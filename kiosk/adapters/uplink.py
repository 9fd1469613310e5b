"""Whether the kit has a way out to the internet.

For now the answer is whether a default route exists (netifaces); the onboard-network work adds a
rate-limited reachability check and the 4G modem's view.
"""

from __future__ import annotations

import time
from typing import Protocol

import netifaces


class Uplink(Protocol):
    def is_up(self) -> bool:
        """True when participants can be offered internet access."""


class DefaultRouteUplink:
    """Up when the kernel has an IPv4 default route; the answer is kept ``ttl_s`` seconds, since the
    portal asks on every page."""

    def __init__(self, ttl_s: float = 2.0) -> None:
        self._ttl = ttl_s
        self._checked_at = float("-inf")
        self._up = False

    def is_up(self) -> bool:
        now = time.monotonic()
        if now - self._checked_at >= self._ttl:
            self._up, self._checked_at = self._default_route_exists(), now
        return self._up

    @staticmethod
    def _default_route_exists() -> bool:
        try:
            gateways = netifaces.gateways()
        except OSError:
            return False
        return bool(gateways.get("default", {}).get(netifaces.AF_INET))
