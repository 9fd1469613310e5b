"""The kit's network as the renderers need it, derived once from the settings (no effect here)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class NetworkPlan:
    lan_interface: str
    wan_interface: str
    lan: ipaddress.IPv4Interface
    dhcp_first: str
    dhcp_last: str
    dhcp_lease_minutes: int
    portal_port: int
    captive_dns_port: int
    upstream_dns: tuple[str, ...]
    walled_garden: tuple[str, ...]
    kit_name: str
    leases_file: str
    staff_interface: str
    staff: ipaddress.IPv4Interface
    ssid: str
    country: str
    channel: int
    staff_ssid: str
    staff_channel: int
    staff_psk_file: str
    dashboard_port: int
    control_group: str = ""
    fleet_hub: tuple[str, ...] = ()  # the fleet hub's addresses: the kit talks to it, participants never

    @property
    def kit_ip(self) -> str:
        return str(self.lan.ip)

    @property
    def portal_url(self) -> str:
        return f"http://{self.kit_ip}/"

    @classmethod
    def from_settings(cls, settings) -> NetworkPlan:
        network, wifi = settings.network, settings.wifi
        return cls(
            lan_interface=network.lan_interface,
            wan_interface=network.wan_interface,
            lan=ipaddress.IPv4Interface(network.lan_address),
            dhcp_first=network.dhcp_first,
            dhcp_last=network.dhcp_last,
            dhcp_lease_minutes=network.dhcp_lease_minutes,
            portal_port=int(settings.portal.listen.rpartition(":")[2]),
            captive_dns_port=network.captive_dns_port,
            upstream_dns=tuple(network.upstream_dns),
            walled_garden=tuple(network.walled_garden),
            kit_name=network.kit_name,
            leases_file=network.dhcp_leases,
            staff_interface=network.staff_interface,
            staff=ipaddress.IPv4Interface(network.staff_address),
            ssid=wifi.ssid,
            country=wifi.country,
            channel=wifi.channel,
            staff_ssid=wifi.staff_ssid,
            staff_channel=wifi.staff_channel,
            staff_psk_file=wifi.staff_psk_file,
            dashboard_port=int(settings.dashboard.listen.rpartition(":")[2]),
            control_group=wifi.control_group,
            fleet_hub=fleet_hub_addresses(settings),
        )


def fleet_hub_addresses(settings) -> tuple[str, ...]:
    """fleet.hub_addresses, plus the hub's own address when fleet.hub names it by IPv4 address."""
    from urllib.parse import urlsplit

    addresses = list(settings.fleet.hub_addresses)
    host = urlsplit(settings.fleet.hub).hostname if "://" in settings.fleet.hub else None
    try:
        if host and ipaddress.ip_address(host).version == 4:
            addresses.append(host)
    except ValueError:
        pass  # a name: the tech lead lists its addresses in fleet.hub_addresses
    return tuple(dict.fromkeys(addresses))
