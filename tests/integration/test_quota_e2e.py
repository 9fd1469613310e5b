"""End to end, in network namespaces: the session's data quota is the kernel's. A download past it stops
within 1 % of the quota (or 64 KB, whichever is larger) at the lab's line rate, with `kiosk serve` stopped
so no sweep can help; the control is the same download passing far beyond the quota once the kit's quota
rules are removed."""

from __future__ import annotations

import pytest

from tests.integration.test_network_e2e import internet_answers, lands_on_portal
from tests.stands.kit import KitUnderTest, download, wait_until
from tests.stands.netns import open_topology
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
