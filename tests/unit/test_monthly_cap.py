"""The uplink's monthly cap: once the month's data is used up, the portal opens no new session (offline
services stay on) and the dashboard says why."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import datetime, timedelta

import pytest

from kiosk import create_app
from kiosk.adapters.firewall import QuotaReading, RecordingFirewall
from kiosk.runtime import Adapters
from kiosk.services import connections
from kiosk.services.clock import local_day
from kiosk.store import Store
from tests.conftest import FixedUplink, ManualClock, PortalKit, make_settings
from tests.unit.test_dashboard import build
from tests.unit.test_portal_probes import PORTAL, accept

MB = 1_000_000
CAP_SENTENCES = {
    "fr": "Ce Wi-Fi a utilisé toutes ses données internet du mois",
    "en": "This Wi-Fi has used all its internet data for this month",
    "es": "Este Wi-Fi ha usado todos sus datos de internet de este mes",
    "ar": "استهلكت شبكة الواي فاي هذه كل بيانات الإنترنت لهذا الشهر",
    "uk": "Ця мережа Wi-Fi використала всі інтернет-дані на цей місяць",
}


def carried(kit, clock, megabytes: int) -> None:
    """What the uplink carried today, as the housekeeping thread records it."""
    with kit.store.write() as db:
        db.execute("INSERT INTO uplink_usage (day, rx_bytes, tx_bytes) VALUES (?, ?, 0)",
                   (local_day(clock()), megabytes * MB))


def test_at_the_cap_the_portal_refuses_new_sessions_in_every_language(portal_kit):
    kit = portal_kit(uplink__monthly_cap_mb=100)
    phone = kit.phone()
    # The page was loaded just before the cap was reached; the phone accepts just after.
    token = re.search(r'name="csrf_token" value="([^"]+)"', phone.get(PORTAL).get_data(as_text=True)).group(1)
    carried(kit.apps.kit, kit.clock, 100)
    for lang, sentence in CAP_SENTENCES.items():
        page = html.unescape(phone.get(f"{PORTAL}?lang={lang}").get_data(as_text=True))
        assert sentence in page, lang
        assert 'action="/accept"' not in page
    refused = phone.post(PORTAL + "accept", data={"csrf_token": token, "accept": "yes", "lang": "fr"})
    assert refused.status_code == 503
    assert CAP_SENTENCES["fr"] in html.unescape(refused.get_data(as_text=True))
    assert kit.apps.kit.access.open_sessions() == []
    assert kit.apps.kit.adapters.firewall.ledger() == []
    assert phone.get(PORTAL + "info").status_code == 200  # the offline services stay on


def test_below_the_cap_the_portal_grants_as_usual(portal_kit):
    kit = portal_kit(uplink__monthly_cap_mb=100)
    carried(kit.apps.kit, kit.clock, 99)
    phone = kit.phone()
    assert CAP_SENTENCES["fr"] not in html.unescape(phone.get(PORTAL).get_data(as_text=True))
    assert accept(phone).status_code == 303
    assert len(kit.apps.kit.access.open_sessions()) == 1


@pytest.mark.parametrize(("megabytes", "refusing"), [(99, False), (100, True)])
def test_the_dashboard_says_the_portal_refuses_new_connections_at_the_cap(tmp_path, megabytes, refusing):
    dash = build(tmp_path, uplink__monthly_cap_mb=100)
    carried(dash.apps.kit, dash.clock, megabytes)
    assert dash.login().status_code == 303
    page = dash.visible("/")
    assert ("le portail refuse les nouvelles connexions jusqu'au mois prochain" in page) is refusing


# --- the firewall's own quota for the month: what is left of the cap, anew when the month turns ----------

def next_month_first(moment: float) -> float:
    """Ten in the morning on the 1st of the month after ``moment``, on the kit's (local) clock."""
    day = datetime.fromtimestamp(moment)
    first = (day.replace(day=1) + timedelta(days=32)).replace(day=1, hour=10, minute=0, second=0)
    return first.timestamp()


def test_at_start_the_firewall_holds_what_is_left_of_this_months_cap(portal_kit):
    kit = portal_kit(uplink__monthly_cap_mb=100)
    carried(kit.apps.kit, kit.clock, 30)
    kit.apps.kit.access.reconcile()
    assert kit.apps.kit.adapters.firewall.month_cap() == QuotaReading(0, 70 * MB)


def test_when_the_month_turns_the_sweep_gives_the_firewall_the_whole_cap_again(portal_kit):
    kit = portal_kit(uplink__monthly_cap_mb=100)
    carried(kit.apps.kit, kit.clock, 100)
    access, firewall = kit.apps.kit.access, kit.apps.kit.adapters.firewall
    access.reconcile()
    assert firewall.month_cap() == QuotaReading(0, 1)  # spent: the first packet is dropped
    access.sweep()
    assert firewall.month_cap() == QuotaReading(0, 1)  # the same month: left as it is
    kit.clock.now = next_month_first(kit.clock.now)
    access.sweep()
    assert firewall.month_cap() == QuotaReading(0, 100 * MB)


def test_without_a_cap_the_firewall_holds_none_even_after_one_was_set(portal_kit):
    kit = portal_kit(uplink__monthly_cap_mb=100)
    kit.apps.kit.access.reconcile()
    assert kit.apps.kit.adapters.firewall.month_cap() == QuotaReading(0, 100 * MB)
    restarted = portal_kit(uplink__monthly_cap_mb=0)
    restarted.apps.kit.access.reconcile()
    assert restarted.apps.kit.adapters.firewall.month_cap() is None


class CappedFirewall(RecordingFirewall):
    """The `none` backend whose monthly quota has seen its whole budget, as the kernel's does once the
    participants used it up (the kernel's counting is proven in tests/integration/test_quota_e2e.py)."""

    def month_cap(self) -> QuotaReading | None:
        held = super().month_cap()
        return None if held is None else QuotaReading(held.budget, held.budget)


def test_sessions_cut_by_the_monthly_cap_end_with_reason_cap_in_the_connection_log(tmp_path):
    clock = ManualClock()
    settings = make_settings(tmp_path, uplink__monthly_cap_mb=100)
    store = Store(settings.store.path)
    store.upgrade()
    firewall = CappedFirewall(store, clock)
    apps = create_app(settings, Adapters(uplink=FixedUplink(), clock=clock, firewall=firewall))
    access = apps.kit.access
    access.grant("10.42.0.23", "5a:11:22:33:44:55", "fr")
    access.grant(None, "5a:11:22:33:44:66", "fr", granted_by="mediator")
    access.reconcile()
    assert access.open_sessions() == []
    assert firewall.ledger() == []
    exported = list(csv.DictReader(io.StringIO(connections.export_csv(store, 0, int(clock()) + 60))))
    assert sorted((row["device_mac"], row["end_reason"]) for row in exported) == [
        ("5a:11:22:33:44:55", "cap"), ("5a:11:22:33:44:66", "cap")]


def test_once_the_firewall_spent_the_cap_the_portal_refuses_before_the_uplinks_count_says_so(tmp_path):
    clock = ManualClock()
    settings = make_settings(tmp_path, uplink__monthly_cap_mb=100)
    store = Store(settings.store.path)
    store.upgrade()
    apps = create_app(settings, Adapters(uplink=FixedUplink(), clock=clock, firewall=CappedFirewall(store, clock)))
    phone = PortalKit(apps, clock, FixedUplink(), tmp_path / "leases", settings).phone()
    # The page was loaded just before the participants' traffic spent the cap; the phone accepts just after.
    token = re.search(r'name="csrf_token" value="([^"]+)"', phone.get(PORTAL).get_data(as_text=True)).group(1)
    apps.kit.access.reconcile()
    assert not apps.kit.uplink.cap_reached()  # nothing recorded on the uplink yet
    assert CAP_SENTENCES["fr"] in html.unescape(phone.get(PORTAL).get_data(as_text=True))
    refused = phone.post(PORTAL + "accept", data={"csrf_token": token, "accept": "yes", "lang": "fr"})
    assert refused.status_code == 503
    assert apps.kit.access.open_sessions() == []
