"""The portal's one question about the uplink; kiosk.services.uplink answers it (route + internet check)."""

from __future__ import annotations

from typing import Protocol


class Uplink(Protocol):
    def is_up(self) -> bool:
        """True when participants can be offered internet access."""
