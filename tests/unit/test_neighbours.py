"""Finding a phone's MAC address from dnsmasq's leases and the kernel's ARP table."""

from __future__ import annotations

from kiosk.adapters.neighbours import NeighbourTable, parse_arp, parse_leases

LEASES = """\
1790003600 5a:11:22:33:44:55 10.42.0.23 android-1 01:5a:11:22:33:44:55
1790003700 6E:00:00:00:00:24 10.42.0.24 * *
garbage line
"""

ARP = """\
IP address       HW type     Flags       HW address            Mask     Device
10.42.0.31       0x1         0x2         02:00:00:00:00:31     *        wlan0
10.42.0.32       0x1         0x0         00:00:00:00:00:00     *        wlan0
"""


def test_leases_give_lower_case_macs_and_skip_garbage():
    assert parse_leases(LEASES) == {"10.42.0.23": "5a:11:22:33:44:55", "10.42.0.24": "6e:00:00:00:00:24"}


def test_arp_keeps_only_complete_entries():
    assert parse_arp(ARP) == {"10.42.0.31": "02:00:00:00:00:31"}


def test_table_prefers_leases_then_arp_and_survives_missing_files(tmp_path):
    leases, arp = tmp_path / "leases", tmp_path / "arp"
    leases.write_text(LEASES)
    arp.write_text(ARP)
    table = NeighbourTable(leases, arp)
    assert table.mac_for("10.42.0.23") == "5a:11:22:33:44:55"
    assert table.mac_for("10.42.0.31") == "02:00:00:00:00:31"
    assert table.mac_for("10.42.0.99") is None
    assert table.mac_for("::1") is None
    assert table.ip_for("02:00:00:00:00:31") == "10.42.0.31"
    assert NeighbourTable(tmp_path / "absent", tmp_path / "absent-too").mac_for("10.42.0.23") is None
