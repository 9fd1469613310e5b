"""Wiring: the store, the adapters and the services a running kit uses, built from the settings."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from kiosk.adapters import natports
from kiosk.adapters.firewall import Firewall, RecordingFirewall
from kiosk.adapters.neighbours import NeighbourTable
from kiosk.adapters.netplan import NetworkPlan
from kiosk.adapters.nftables import NftablesFirewall, NftRunner
from kiosk.adapters.privileged import PrivilegedFirewall
from kiosk.adapters.uplink import Uplink
from kiosk.services.access import AccessService, Limits
from kiosk.services.uplink import UplinkService
from kiosk.settings import Settings
from kiosk.store import Store

if TYPE_CHECKING:
    from kiosk.services.survey.kit import SurveyServices


@dataclass
class Adapters:
    """Every system effect the kit has; any left as None is built from the settings."""

    firewall: Firewall | None = None
    neighbours: NeighbourTable | None = None
    uplink: Uplink | None = None
    clock: Callable[[], float] = field(default=time.time)
    associated: Callable[[str], bool | None] | None = None  # is this MAC on the Wi-Fi now (default: hostapd)


def build_firewall(settings: Settings, store: Store, clock: Callable[[], float]) -> Firewall:
    """The configured backend. With nftables, a root process (a test namespace, the privileged helper)
    drives nft itself; the unprivileged web process goes through the privileged helper's socket."""
    if settings.firewall.backend == "none":
        return RecordingFirewall(store, clock)
    if os.geteuid() == 0:
        plan = NetworkPlan.from_settings(settings)
        return NftablesFirewall(NftRunner(), plan.lan.network, clock, plan.lan_interface)
    return PrivilegedFirewall(settings.firewall.helper_socket)


def hostapd_client_dir(settings: Settings) -> str:
    """Where the kiosk binds its end of hostapd's control socket: a folder hostapd (root) can reach."""
    return settings.network.hostapd_client_dir or os.path.dirname(os.path.abspath(settings.store.path))


def _associated_of(settings: Settings) -> Callable[[str], bool | None] | None:
    """Only a device on the Wi-Fi now is granted, when the kit follows hostapd."""
    if not settings.network.hostapd_control:
        return None
    from kiosk.services.association import station_lookup

    return station_lookup(settings.network.hostapd_control, hostapd_client_dir(settings))


def _nat_ports_of(settings: Settings) -> Callable[[str | None], str | None]:
    """Each session records its address's NAT port block, when the kit's own ruleset does the NAT."""
    if settings.firewall.backend == "none":
        return lambda ip: None
    lan = NetworkPlan.from_settings(settings).lan

    def describe(ip: str | None) -> str | None:
        block = natports.block_for(lan, ip)
        return str(block) if block else None

    return describe


@dataclass
class Kit:
    settings: Settings
    store: Store
    adapters: Adapters
    access: AccessService
    uplink: UplinkService

    @cached_property
    def survey(self) -> SurveyServices:
        """The questionnaire's services; built on first use so that commands that do not need them do not
        read the questionnaire files (``build_apps`` uses it at start, so a bad file stops ``serve``)."""
        from kiosk.services.survey.kit import build_survey

        return build_survey(self.settings, self.store, self.adapters.clock)

    @classmethod
    def open(cls, settings: Settings, adapters: Adapters | None = None, upgrade: bool = True) -> Kit:
        adapters = adapters or Adapters()
        store = Store(settings.store.path)
        if upgrade:
            store.upgrade()
        if adapters.firewall is None:
            adapters.firewall = build_firewall(settings, store, adapters.clock)
        if adapters.neighbours is None:
            adapters.neighbours = NeighbourTable(settings.network.dhcp_leases)
        uplink = UplinkService.from_settings(store, settings, adapters.clock)
        if adapters.uplink is None:
            adapters.uplink = uplink
        staff = settings.network
        access = AccessService(store, adapters.firewall, Limits.from_settings(settings),
                               settings.access.trusted_macs, adapters.clock,
                               trusted_networks=(staff.staff_address,) if staff.staff_interface else (),
                               nat_ports=_nat_ports_of(settings),
                               associated=adapters.associated or _associated_of(settings),
                               month_cap=uplink)
        return cls(settings, store, adapters, access, uplink)
