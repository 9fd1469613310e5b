"""End to end, in network namespaces: the session's data quota is the kernel's. A download past it stops
within 1 % of the quota (or 64 KB, whichever is larger) at the lab's line rate, with `kiosk serve` stopped
so no sweep can help; the control is the same download passing far beyond the quota once the kit's quota
rules are removed."""

from __future__ import annotations

import html

import pytest

from tests.integration.test_network_e2e import internet_answers, lands_on_portal
from tests.stands.kit import KitUnderTest, download, wait_until
from tests.stands.netns import KIT_LAN_IP, PUBLIC_SERVER, open_topology
from tests.support.system import unavailable

pytestmark = pytest.mark.system

QUOTA = 2_000_000
DOWNLOAD = 5_000_000
TOLERANCE = max(QUOTA // 100, 64 * 1024)


def test_a_download_past_the_quota_is_cut_by_the_kernel_and_passes_without_its_rule(tmp_path):
    with open_topology(tmp_path / "net", on_unavailable=unavailable) as topology:
        kit = KitUnderTest(topology, tmp_path / "kit", quota_mb=QUOTA // 1_000_000, check_enabled=False).start()
        try:
            phone = topology.add_phone("quota")
            phone.dhcp()
            phone_ip = phone.addresses("eth0")[0].split("/")[0]
            assert kit.accept(phone).status == 303
            assert internet_answers(phone)
            kit.stop_kiosk()  # no sweep: only the kernel can stop this download
            received = download(phone, DOWNLOAD)
            assert QUOTA * 0.9 < received <= QUOTA + TOLERANCE, received
            assert kit.forwarded_bytes(phone_ip) <= QUOTA + TOLERANCE
            assert not internet_answers(phone)

            # Back up, the kit records what the kernel did: the session ends for its quota.
            kit.start_kiosk()
            wait_until(lambda: lands_on_portal(phone), 20, "the phone captive again, its session ended")
            log = kit.kiosk("connections", "export", "--since", "2000-01-01", "--until", "2100-01-01").stdout
            assert "quota" in log

            # Control: the kit's quota rules removed, the same download on a fresh session passes in full.
            assert kit.remove_quota_rules() == 2
            control = topology.add_phone("control")
            control.dhcp()
            assert kit.accept(control).status == 303
            kit.stop_kiosk()
            assert download(control, DOWNLOAD) == DOWNLOAD
        finally:
            print(kit.log())


MONTH_CAP = 3_000_000
MONTH_DOWNLOAD = 6_000_000


def test_a_download_past_the_monthly_cap_is_cut_by_the_kernel_and_passes_without_its_rule(tmp_path):
    """The uplink's monthly cap is the kernel's too: with `kiosk serve` stopped, a download stops within
    1 % (or 64 KB) of what is left of the month's cap; the portal still loads; back up, the kit ends the
    session with reason `cap`; the control is the same download passing in full once the cap's rules are
    removed."""
    with open_topology(tmp_path / "net", on_unavailable=unavailable) as topology:
        kit = KitUnderTest(topology, tmp_path / "kit", monthly_cap_mb=MONTH_CAP // 1_000_000,
                           check_enabled=False).start()
        try:
            phone = topology.add_phone("capped")
            phone.dhcp()
            assert kit.accept(phone).status == 303
            assert internet_answers(phone)
            kit.stop_kiosk()  # no sweep: only the kernel can stop this download
            budget, used = kit.month_cap()
            left = budget - used
            assert 0 < left <= MONTH_CAP
            tolerance = max(left // 100, 64 * 1024)
            received = download(phone, MONTH_DOWNLOAD)
            assert left * 0.9 < received <= left + tolerance, (received, left)
            assert kit.month_cap()[1] <= budget + tolerance
            assert not internet_answers(phone)
            # Traffic with the kit itself is not the uplink's: its DNS still answers past the cap.
            assert phone.dns_query(KIT_LAN_IP, "www.internet.test").addresses == [PUBLIC_SERVER]

            # Back up, the kit records what the kernel did: the session ends for the monthly cap.
            kit.start_kiosk()
            wait_until(lambda: lands_on_portal(phone), 20, "the phone captive again, its session ended")
            log = kit.kiosk("connections", "export", "--since", "2000-01-01", "--until", "2100-01-01").stdout
            assert ",cap," in log, log
            # The portal page still loads, and says why no new session opens.
            portal = phone.http_get(f"http://{KIT_LAN_IP}/", timeout=3)
            assert portal.status == 200, portal
            assert "Ce Wi-Fi a utilisé toutes ses données internet du mois" in html.unescape(portal.text)

            # Control: the cap's rules removed, a mediator's grant gets the same download in full.
            kit.stop_kiosk()
            assert kit.remove_quota_rules("month_caps") == 2
            phone_ip = phone.addresses("eth0")[0].split("/")[0]
            allowed = kit.kiosk("clients", "allow", "--ip", phone_ip)
            assert allowed.returncode == 0, allowed.stderr
            assert download(phone, MONTH_DOWNLOAD) == MONTH_DOWNLOAD
        finally:
            print(kit.log())
