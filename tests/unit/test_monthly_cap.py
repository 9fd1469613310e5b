"""The uplink's monthly cap: once the month's data is used up, the portal opens no new session (offline
services stay on) and the dashboard says why."""

from __future__ import annotations

import html
import re

import pytest

from kiosk.services.clock import local_day
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
