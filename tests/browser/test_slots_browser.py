"""Booking an appointment slot end to end, as a participant on a small phone with JavaScript off, against
``kiosk serve``: from the landing page's appointment link to the confirmation (day, place, what to bring, QR
code, .ics link), in French and in Arabic (right to left). The slots are published beforehand through the
kit's own service, on the store ``serve`` then opens. Screenshots are kept in tests/artifacts/."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kiosk.services.survey.guesses import GuessLimiter
from kiosk.services.survey.slots import SlotService, check_slot
from kiosk.store import Store
from tests.browser.test_portal_browser import (
    Phone,
    Portal,
    _assert_language,
    _screenshot,
    _write_config,
    browser,  # noqa: F401 - fixture
)
from tests.support.system import free_port, kiosk_command, stop, wait_for_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

WORDS = {
    "fr": {"link": "Demander un rendez-vous", "theme": "Allocations familiales (CAF)", "book": "Réserver cet horaire",
           "title": "Votre rendez-vous", "bring": "Votre numéro CAF", "ics": "Ajouter à mon agenda (.ics)"},
    "ar": {"link": None, "theme": "المنح العائلية (CAF)", "book": "احجز هذا الموعد", "title": "موعدك",
           "bring": "رقمك لدى CAF", "ics": "أضف إلى تقويمي (ملف ics)"},
}


@pytest.fixture
def slots_portal(tmp_path: Path) -> Iterator[Portal]:
    portal_port, dashboard_port = free_port(), free_port()
    while dashboard_port == portal_port:
        dashboard_port = free_port()
    config = _write_config(tmp_path, portal_port, dashboard_port)
    store = Store(tmp_path / "kiosk.db")
    store.upgrade()
    service = SlotService(store, time.time, GuessLimiter(time.time))
    tomorrow = (datetime.now() + timedelta(days=1)).date().isoformat()
    for hour in ("10:00", "11:00", "14:30"):
        service.publish(check_slot("Maison France Services de Clamecy", "2 rue de la Paix", "Clamecy",
                                   "À côté de la mairie, premier étage", tomorrow, hour, "30", "Awa", now=time.time()))
    store.close()
    process = subprocess.Popen(kiosk_command("--config", str(config), "serve"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        wait_for_port(portal_port, process)
        yield Portal(portal_port)
    finally:
        print(f"--- kiosk serve output ---\n{stop(process)}")


def _phone(chromium: Browser, locale: str) -> Phone:
    context = chromium.new_context(java_script_enabled=False, viewport={"width": 360, "height": 640},
                                  device_scale_factor=2, is_mobile=True, has_touch=True, locale=locale)
    tab = Phone(context.new_page())
    context.on("request", lambda request: tab.requests.append(request.url))
    return tab


@pytest.mark.parametrize("lang", ["fr", "ar"])
def test_a_participant_books_a_slot_and_keeps_the_confirmation(slots_portal: Portal, browser: Browser,  # noqa: F811
                                                              lang: str) -> None:
    from playwright.sync_api import expect

    words = WORDS[lang]
    phone = _phone(browser, "fr-FR" if lang == "fr" else "ar")
    page = phone.page
    if words["link"]:
        page.goto(slots_portal.url + "?lang=fr", wait_until="load")
        page.get_by_role("link", name=words["link"]).first.click()
    else:
        page.goto(slots_portal.url + f"slots?lang={lang}", wait_until="load")
    page.wait_for_load_state("load")
    assert "/slots" in page.url
    _assert_language(page, lang, "rtl" if lang == "ar" else "ltr")
    assert page.locator("script").count() == 0
    expect(page.locator('input[name="slot"]:checked')).to_have_count(1)  # the soonest, chosen already
    page.locator("label", has_text=words["theme"]).click()
    page.locator("#first_name").fill("Mina")
    page.locator("#consent").check()
    _screenshot(page, f"slots-choose-{lang}.png")
    page.get_by_role("button", name=words["book"]).click()
    page.wait_for_load_state("load")
    expect(page.get_by_role("heading", level=1)).to_have_text(words["title"])
    expect(page.locator("main")).to_contain_text(words["bring"])
    expect(page.locator("main")).to_contain_text("2 rue de la Paix")
    expect(page.locator("svg.qr")).to_have_count(1)
    expect(page.get_by_role("link", name=words["ics"])).to_have_count(1)
    _screenshot(page, f"slots-confirmation-{lang}.png")
    outside = [url for url in phone.requests if not slots_portal.owns(url)]
    assert outside == []


def test_the_booking_pages_pass_axe_in_french_and_arabic(slots_portal: Portal, browser: Browser) -> None:  # noqa: F811
    from tests.browser.test_accessibility import _violations

    phone = _phone(browser, "fr-FR")
    page = phone.page
    page.goto(slots_portal.url + "slots?lang=fr", wait_until="load")
    page.locator("#first_name").fill("Mina")
    page.locator("#consent").check()
    page.get_by_role("button", name=WORDS["fr"]["book"]).click()
    page.wait_for_load_state("load")
    confirmation = page.url.split("?")[0]
    checker = browser.new_context(java_script_enabled=True, viewport={"width": 360, "height": 640}).new_page()
    found = {}
    for lang in ("fr", "ar"):
        for path in ("slots", "slots/find", confirmation.removeprefix(slots_portal.url)):
            checker.goto(f"{slots_portal.url}{path}?lang={lang}", wait_until="load")
            violations = _violations(checker)
            if violations:
                found[f"{lang} {path}"] = violations
    assert found == {}


@pytest.fixture
def kit_with_password(tmp_path: Path) -> Iterator[tuple[Portal, int]]:
    """``kiosk serve`` with a dashboard password and no slot yet."""
    import json

    from kiosk.services.auth import write_password_file

    portal_port, dashboard_port = free_port(), free_port()
    while dashboard_port == portal_port:
        dashboard_port = free_port()
    config = _write_config(tmp_path, portal_port, dashboard_port)
    password_file = tmp_path / "secrets" / "dashboard.password"
    write_password_file(password_file, PASSWORD)
    config.write_text(config.read_text(encoding="utf-8").replace(
        "[dashboard]\n", f"[dashboard]\npassword_file = {json.dumps(str(password_file))}\n"), encoding="utf-8")
    process = subprocess.Popen(kiosk_command("--config", str(config), "serve"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        wait_for_port(portal_port, process)
        wait_for_port(dashboard_port, process)
        yield Portal(portal_port), dashboard_port
    finally:
        print(f"--- kiosk serve output ---\n{stop(process)}")


PASSWORD = "créneau au marché"  # noqa: S105 - the test kit's own password


def test_a_mediator_publishes_a_slot_a_participant_books_it_and_the_mediator_marks_it_done(
        kit_with_password: tuple[Portal, int], browser: Browser) -> None:  # noqa: F811
    from playwright.sync_api import expect

    portal, dashboard_port = kit_with_password
    tomorrow = (datetime.now() + timedelta(days=1)).date().isoformat()
    page = _phone(browser, "fr-FR").page
    page.goto(f"http://127.0.0.1:{dashboard_port}/slots", wait_until="load")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda url: url.endswith("/slots"))
    page.fill("#structure", "Maison France Services de Clamecy")
    page.fill("#address", "2 rue de la Paix")
    page.fill("#commune", "Clamecy")
    page.fill("#directions", "À côté de la mairie")
    page.fill("#day", tomorrow)
    page.fill("#time", "10:00")
    page.fill("#mediator", "Awa")
    page.get_by_role("button", name="Publier le créneau").click()
    page.wait_for_load_state("load")
    expect(page.locator(".note.ok")).to_contain_text("Créneau publié")
    _screenshot(page, "dashboard-slots.png")

    participant = _phone(browser, "fr-FR").page
    participant.goto(portal.url + "appointment?lang=fr", wait_until="load")
    participant.locator("#first_name").fill("Mina")
    participant.locator("#consent").check()
    participant.get_by_role("button", name=WORDS["fr"]["book"]).click()
    participant.wait_for_load_state("load")
    expect(participant.get_by_role("heading", level=1)).to_have_text(WORDS["fr"]["title"])

    page.goto(f"http://127.0.0.1:{dashboard_port}/slots/day?day={tomorrow}", wait_until="load")
    expect(page.locator("main")).to_contain_text("Mina")
    page.get_by_role("button", name="Marquer fait").click()
    page.wait_for_load_state("load")
    expect(page.locator(".item.done")).to_have_count(1)
    _screenshot(page, "dashboard-slots-day.png")
