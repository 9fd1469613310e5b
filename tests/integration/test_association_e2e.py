"""End to end, in network namespaces: a phone that accepted and then left the Wi-Fi, and a second device
that takes its MAC and IP. With the real nft, dnsmasq, dhclient, `kiosk serve` and `kiosk network
follow-hostapd`; the radio is the boundary (this kernel has no mac80211_hwsim): the hostapd stand-in
(tests/stands/hostapd_ctrl.py) says who is associated, and a phone "leaves" when its link is deleted.

The control comes first: the same clone, with the follower not running, gets the internet and lives
on the departed phone's session — the hole the follower closes.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stands.hostapd_ctrl import HostapdCtrlStand
from tests.stands.kit import KitUnderTest, wait_until
from tests.stands.netns import PUBLIC_SERVER, Phone, Topology, open_topology
from tests.support.system import unavailable

pytestmark = pytest.mark.system


def internet_answers(phone: Phone) -> bool:
    result = phone.http_get(f"http://{PUBLIC_SERVER}/", timeout=3)
    return result.status == 200 and result.text == "internet ok\n"


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> Iterator[tuple[Topology, KitUnderTest, HostapdCtrlStand]]:
    workdir: Path = tmp_path_factory.mktemp("assoc")
    sockets = tempfile.mkdtemp(prefix="hapd-e2e-", dir="/tmp")  # unix socket paths are short
    stand = HostapdCtrlStand(os.path.join(sockets, "wlan0"))
    stand.start()
    try:
        with open_topology(workdir / "net", on_unavailable=unavailable) as topology:
            kit = KitUnderTest(topology, workdir / "kit")
            config = kit.config.read_text()
            kit.config.write_text(config.replace(
                "[network]\n", f'[network]\nhostapd_control = "{stand.path}"\nhostapd_client_dir = "{sockets}"\n', 1))
            kit.start()
            try:
                yield topology, kit, stand
            finally:
                print(kit.log())
                print(kit.log("follow.log"))
    finally:
        stand.stop()
        shutil.rmtree(sockets, ignore_errors=True)


def join(topology: Topology, stand: HostapdCtrlStand, name: str, mac: str | None = None) -> tuple[Phone, str]:
    phone = topology.add_phone(name, mac=mac)
    stand.associate(phone.mac)
    return phone, phone.dhcp().address


def leave(topology: Topology, stand: HostapdCtrlStand, phone: Phone) -> None:
    topology.ip_batch(topology.kit, [f"link del {phone.port}"])  # out of range: its radio link is gone
    stand.disassociate(phone.mac)


def clone_of(topology: Topology, stand: HostapdCtrlStand, name: str, mac: str, ip: str) -> Phone:
    clone = topology.add_phone(name, mac=mac)
    clone.static(ip)
    stand.associate(mac)
    return clone


def log_rows(kit: KitUnderTest, mac: str) -> list[list[str]]:
    export = kit.kiosk("connections", "export", "--since", "2000-01-01", "--until", "2100-01-01").stdout
    return [line.split(",") for line in export.splitlines()[1:] if line.startswith(mac)]


def test_control_without_the_follower_a_clone_lives_on_the_departed_phones_session(network):
    topology, kit, stand = network
    phone, ip = join(topology, stand, "ctlphone")
    assert kit.accept(phone).status == 303 and internet_answers(phone)
    leave(topology, stand, phone)
    clone = clone_of(topology, stand, "ctlclone", phone.mac, ip)
    assert wait_until(lambda: internet_answers(clone), 15, "the clone online on the departed phone's session")
    rows = log_rows(kit, phone.mac)
    assert len(rows) == 1 and rows[0][3] == ""  # still open: the log would name the departed phone
    assert kit.kiosk("clients", "deny", "--mac", phone.mac).returncode == 0


def test_a_clone_of_a_departed_phone_gets_nothing_and_the_log_names_nobody_for_it(network):
    topology, kit, stand = network
    follower = topology.popen(kit.host, [sys.executable, "-m", "kiosk", "--config", str(kit.config), "network",
                                         "follow-hostapd"], kit.workdir / "follow.log")
    try:
        wait_until(lambda: len(stand.attached) == 1, 30, "follow-hostapd attached to hostapd")
        phone, ip = join(topology, stand, "leaver")
        assert kit.accept(phone).status == 303 and internet_answers(phone)
        leave(topology, stand, phone)
        wait_until(lambda: len(log_rows(kit, phone.mac)) == 1 and log_rows(kit, phone.mac)[0][5] == "left", 10,
                   "the departed phone's session ended with reason left")
        clone = clone_of(topology, stand, "clone", phone.mac, ip)
        assert not internet_answers(clone)
        assert not internet_answers(clone)  # and still not a moment later
        rows = log_rows(kit, phone.mac)
        assert len(rows) == 1 and rows[0][5] == "left" and rows[0][3] != ""  # ended: names nobody after that
        assert all(phone.mac not in str(element) for element in kit.ruleset_elements("allowed"))
    finally:
        topology.stop(follower)
