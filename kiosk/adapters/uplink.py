"""Whether the kit has a way out to the internet.

For now the answer is whether a default route exists (netifaces); the onboard-network work adds a
rate-limited reachability check and the 4G modem's view.
"""

from __future__ import annotations

from typing import Protocol


class Uplink(Protocol):
    def is_up(self) -> bool:
        """True when participants can be offered internet access."""


class DefaultRouteUplink:
    def is_up(self) -> bool:
        import netifaces

        try:
            gateways = netifaces.gateways()
        except OSError:
            return False
        return bool(gateways.get("default", {}).get(netifaces.AF_INET))
