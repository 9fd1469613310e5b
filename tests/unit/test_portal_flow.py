"""The participant's flow: landing page, language, charter, grant, RFC 8908 API, session end."""

from __future__ import annotations

import json
import re

from kiosk.adapters.firewall import QuotaReading
from tests.conftest import PHONE_IP, PHONE_MAC
from tests.unit.test_portal_probes import PORTAL, accept

ANDROID_PROBE = "http://connectivitycheck.gstatic.com/generate_204"


def text(response) -> str:
    return response.get_data(as_text=True)


def test_landing_is_french_by_default_and_names_each_language_in_its_script(portal_kit):
    page = text(portal_kit().phone().get(PORTAL))
    assert '<html lang="fr" dir="ltr">' in page
    assert "Notre charte, en quelques mots" in page
    for name in ("Français", "English", "العربية", "Українська", "Español"):
        assert name in page
    assert "<script" not in page  # works in captive mini-browsers with no JavaScript


def test_landing_follows_accept_language(portal_kit):
    page = text(portal_kit().phone().get(PORTAL, headers={"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"}))
    assert '<html lang="uk" dir="ltr">' in page
    assert "Наші правила коротко" in page


def test_arabic_is_laid_out_right_to_left(portal_kit):
    page = text(portal_kit().phone().get(PORTAL + "?lang=ar"))
    assert '<html lang="ar" dir="rtl">' in page
    assert "أوافق، الدخول إلى الإنترنت" in page


def test_charter_states_the_configured_limits(portal_kit):
    page = text(portal_kit(access__session_minutes=90, access__quota_mb=300).phone().get(PORTAL))
    assert "L'accès à internet dure 90 minutes." in page
    assert "jusqu'à 300 Mo" in page


def test_accepting_grants_access_and_lands_on_the_welcome_page_in_the_chosen_language(portal_kit):
    kit = portal_kit()
    phone = kit.phone()
    response = accept(phone, lang="es")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/welcome?lang=es")
    welcome = text(phone.get(response.headers["Location"]))
    assert "Está conectado" in welcome
    assert "120 minutos" in welcome
    sessions = kit.apps.kit.access.open_sessions()
    assert [(s.ip, s.mac, s.language) for s in sessions] == [(PHONE_IP, PHONE_MAC, "es")]


def test_accepting_twice_grants_once(portal_kit):
    kit = portal_kit()
    phone = kit.phone()
    page = phone.get(PORTAL)
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
    for _ in range(2):  # a double tap, or the sheet replaying the post
        response = phone.post(PORTAL + "accept", data={"csrf_token": token, "accept": "yes", "lang": "fr"})
        assert response.status_code == 303
    assert len(kit.apps.kit.access.open_sessions()) == 1


def test_accept_without_csrf_token_is_refused_and_grants_nothing(portal_kit):
    kit = portal_kit()
    phone = kit.phone()
    response = phone.post(PORTAL + "accept", data={"accept": "yes", "lang": "fr"})
    assert response.status_code == 400
    assert "Cette page n'est plus à jour" in text(response)
    assert kit.apps.kit.access.open_sessions() == []


def test_csrf_token_of_one_phone_does_not_work_for_another(portal_kit):
    kit = portal_kit()
    page = kit.phone().get(PORTAL)
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
    other = kit.phone(ip="10.42.0.99", mac="5a:00:00:00:00:99")
    assert other.post(PORTAL + "accept", data={"csrf_token": token, "accept": "yes"}).status_code == 400
    assert kit.apps.kit.access.open_sessions() == []


def test_expired_form_is_refused(portal_kit):
    kit = portal_kit()
    phone = kit.phone()
    page = phone.get(PORTAL)
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
    kit.clock.advance(7 * 3600)
    assert phone.post(PORTAL + "accept", data={"csrf_token": token, "accept": "yes"}).status_code == 400


def test_uplink_down_explains_plainly_and_keeps_offline_services(portal_kit):
    kit = portal_kit()
    kit.uplink.up = False
    phone = kit.phone()
    page = text(phone.get(PORTAL))
    assert "Il n'y a pas d'internet ici pour le moment." in page
    assert 'action="/accept"' not in page
    assert 'href="/info?lang=fr"' in page
    assert phone.get(PORTAL + "info").status_code == 200


def test_captive_api_before_and_after_accepting(portal_kit):
    kit = portal_kit(access__session_minutes=60, access__quota_mb=100)
    phone = kit.phone()
    before = phone.get(PORTAL + "api/captive")
    assert before.headers["Content-Type"] == "application/captive+json"
    document = json.loads(before.data)
    assert document["captive"] is True
    assert document["user-portal-url"] == PORTAL
    assert "seconds-remaining" not in document
    accept(phone)
    kit.clock.advance(600)
    after = json.loads(phone.get(PORTAL + "api/captive").data)
    assert after["captive"] is False
    assert after["seconds-remaining"] == 3000
    assert after["bytes-remaining"] == 100_000_000
    assert after["can-extend-session"] is False


def test_session_ends_at_its_time_and_the_phone_is_captive_again(portal_kit):
    kit = portal_kit(access__session_minutes=30, access__idle_minutes=120)
    phone = kit.phone()
    accept(phone)
    kit.clock.advance(29 * 60)
    assert phone.get(ANDROID_PROBE).status_code == 204
    kit.clock.advance(61)
    assert phone.get(ANDROID_PROBE).status_code == 302  # captive at once, even before the sweep
    assert kit.apps.kit.access.sweep()["expired"] == 1
    ledger = kit.apps.kit.adapters.firewall.ledger()
    assert ledger == []


def test_idle_session_ends(portal_kit):
    kit = portal_kit(access__session_minutes=240, access__idle_minutes=20)
    phone = kit.phone()
    accept(phone)
    kit.clock.advance(21 * 60)
    assert kit.apps.kit.access.sweep() == {"expired": 0, "cap": 0, "idle": 1, "quota": 0}
    assert phone.get(ANDROID_PROBE).status_code == 302


def test_activity_keeps_a_session_from_idling(portal_kit):
    kit = portal_kit(access__session_minutes=240, access__idle_minutes=20)
    phone = kit.phone()
    accept(phone)
    for _ in range(3):
        kit.clock.advance(15 * 60)
        phone.get(PORTAL + "api/captive")  # the phone talks to the kit: it is not idle
        assert kit.apps.kit.access.sweep()["idle"] == 0
    assert phone.get(ANDROID_PROBE).status_code == 204


def test_a_participant_can_accept_again_after_the_session_ended(portal_kit):
    kit = portal_kit(access__session_minutes=10)
    phone = kit.phone()
    accept(phone)
    kit.clock.advance(11 * 60)
    kit.apps.kit.access.sweep()
    accept(phone)
    assert phone.get(ANDROID_PROBE).status_code == 204


def test_restart_keeps_sessions_and_rebuilds_the_firewall(portal_kit):
    kit = portal_kit()
    accept(kit.phone())
    restarted = portal_kit()  # a new process on the same store
    restarted.apps.kit.adapters.firewall.reconcile([])  # a rebooted machine starts with an empty firewall
    assert restarted.apps.kit.access.reconcile() == 1
    grants = restarted.apps.kit.adapters.firewall.ledger()
    assert [(g.client.ip, g.client.mac) for g in grants] == [(PHONE_IP, PHONE_MAC)]
    assert restarted.phone().get(ANDROID_PROBE).status_code == 204


def test_sessions_that_expired_while_the_kit_was_off_end_at_start(portal_kit):
    kit = portal_kit(access__session_minutes=30)
    accept(kit.phone())
    kit.clock.advance(3600)
    restarted = portal_kit(access__session_minutes=30)
    assert restarted.apps.kit.access.reconcile() == 0
    assert restarted.apps.kit.adapters.firewall.ledger() == []


def test_welcome_page_sends_an_unconnected_phone_back_to_the_landing_page(portal_kit):
    response = portal_kit().phone().get(PORTAL + "welcome?lang=ar")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/?lang=ar")


def test_kit_pages_answer_on_the_kit_ip_and_nothing_comes_from_outside(portal_kit):
    page = text(portal_kit().phone().get(PORTAL))
    urls = re.findall(r'(?:href|src|action)="([^"]+)"', page)
    assert urls and all(url.startswith("/") for url in urls), urls



def test_accepting_again_before_the_sweep_keeps_the_new_grant(portal_kit):
    """The old session expired but was not swept yet: sweeping it must not close the new one."""
    kit = portal_kit(access__session_minutes=10)
    phone = kit.phone()
    accept(phone)
    kit.clock.advance(11 * 60)
    accept(phone)
    kit.apps.kit.access.sweep()
    assert [(g.client.ip, g.client.mac) for g in kit.apps.kit.adapters.firewall.ledger()] == [(PHONE_IP, PHONE_MAC)]
    assert phone.get(ANDROID_PROBE).status_code == 204


def test_simultaneous_accepts_of_one_phone_open_one_session(portal_kit):
    import threading

    kit = portal_kit()
    kit.phone()  # writes the lease
    access = kit.apps.kit.access
    threads = [threading.Thread(target=access.grant, args=(PHONE_IP, PHONE_MAC, "fr")) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(access.open_sessions()) == 1


def test_the_recording_backend_holds_each_grants_kernel_budget_and_a_restart_gives_what_is_left(portal_kit):
    kit = portal_kit(access__quota_mb=2)
    accept(kit.phone())
    firewall = kit.apps.kit.adapters.firewall
    assert [g.quota_bytes for g in firewall.ledger()] == [2_000_000]
    assert firewall.quotas() == {PHONE_IP: QuotaReading(0, 2_000_000)}
    with kit.apps.kit.store.write() as db:  # what the kernel's counters had recorded before the restart
        db.execute("UPDATE access_sessions SET bytes_used = 1500000")
    restarted = portal_kit(access__quota_mb=2)
    restarted.apps.kit.access.reconcile()
    assert [(g.client.ip, g.quota_bytes) for g in restarted.apps.kit.adapters.firewall.ledger()] == [
        (PHONE_IP, 500_000)]


TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_the_landing_page_rendered_once_still_gives_each_phone_its_own_token_and_state(portal_kit):
    """The landing page is rendered once per language and state (kiosk.web.page_cache): nothing of one phone
    may reach another, and a change of state shows at once."""
    kit = portal_kit()
    first, second = kit.phone(), kit.phone(ip="10.42.0.31", mac="02:00:00:00:00:31")
    pages = [text(first.get(PORTAL)), text(second.get(PORTAL)), text(first.get(PORTAL + "?lang=ar"))]
    tokens = [TOKEN.search(page)[1] for page in pages]
    assert tokens[0] != tokens[1] and all(page.count(token) == 1 for page, token in zip(pages, tokens, strict=True))
    assert '<html lang="ar" dir="rtl">' in pages[2] and '<html lang="fr" dir="ltr">' in pages[0]
    assert accept(second).status_code == 303  # its own token, from the shared page, works for it only
    assert "déjà connecté" in text(second.get(PORTAL)) and "csrf_token" not in text(second.get(PORTAL))
    assert 'name="csrf_token"' in text(first.get(PORTAL))  # the first phone still sees the charter's button
    kit.uplink.up = False
    down = text(first.get(PORTAL))
    assert "Il n'y a pas d'internet ici pour le moment" in down and 'name="csrf_token"' not in down
