from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiosk import create_app
from kiosk.runtime import Adapters
from kiosk.settings import Settings, defaults
from kiosk.web.app import Apps

KIT_IP = "10.42.0.1"
PHONE_IP = "10.42.0.23"
PHONE_MAC = "5a:11:22:33:44:55"  # a randomised MAC: locally-administered bit set, as phones use


class ManualClock:
    """Time is a boundary: tests move it forward instead of waiting hours for a session to expire."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FixedUplink:
    """Stand-in for the default-route check, which reads the host's routing table: tests must not
    depend on the machine's network. The real check is proven in the network namespace tests."""

    def __init__(self, up: bool = True) -> None:
        self.up = up

    def is_up(self) -> bool:
        return self.up


@dataclass
class PortalKit:
    apps: Apps
    clock: ManualClock
    uplink: FixedUplink
    leases: Path
    settings: Settings

    def lease(self, ip: str, mac: str) -> None:
        """Write a dnsmasq lease line, as dnsmasq would when the phone gets its address."""
        with self.leases.open("a") as handle:
            handle.write(f"{int(self.clock()) + 3600} {mac} {ip} phone *\n")

    def phone(self, ip: str = PHONE_IP, mac: str | None = PHONE_MAC):
        """A test client that speaks from this phone's address; use absolute URLs to pick the Host."""
        if mac:
            self.lease(ip, mac)
        client = self.apps.portal.test_client()
        client.environ_base["REMOTE_ADDR"] = ip
        return client


def make_settings(tmp_path: Path, **changes) -> Settings:
    base = {"store__path": str(tmp_path / "kiosk.db"), "network__dhcp_leases": str(tmp_path / "leases"),
            "portal__public_url": f"http://{KIT_IP}/"}
    base.update(changes)
    return defaults().replace(**base)


@pytest.fixture
def portal_kit(tmp_path: Path) -> Callable[..., PortalKit]:
    """Builds a kit on a real SQLite store in tmp_path; call again to simulate a restart."""
    clock = ManualClock()
    uplink = FixedUplink()

    def build(**changes) -> PortalKit:
        settings = make_settings(tmp_path, **changes)
        apps = create_app(settings, Adapters(uplink=uplink, clock=clock))
        return PortalKit(apps, clock, uplink, tmp_path / "leases", settings)

    return build
