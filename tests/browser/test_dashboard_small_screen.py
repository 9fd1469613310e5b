"""The dashboard on a mediator's small phone (360 × 640, and the README's 320 × 568): every control of its main
pages is at least 44 × 44 CSS px (links inside a sentence are exempt, as WCAG 2.5.5 allows), the ten tabs and
the /privacy table fit the screen's width without sideways scrolling. The tab has JavaScript on, as measuring
needs it; the pages work without (tests/browser/test_dashboard_browser.py).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kiosk.services.survey.appointments import AppointmentService, Request
from kiosk.store import Store
from tests.browser.test_dashboard_browser import PASSWORD, dashboard_only  # noqa: F401 - fixture
from tests.browser.test_portal_browser import browser  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

MIN = 44
PAGES = ["/", "/outing", "/activity", "/appointments", "/slots", "/tablets", "/sessions", "/reports", "/clock",
         "/privacy"]
SMALL_CONTROLS = """(min) => {
    const small = [];
    const inSentence = (a) => {
        const parent = a.parentElement;
        return parent && parent.textContent.trim() !== a.textContent.trim();
    };
    const targets = document.querySelectorAll(
        'button, select, summary, textarea, input:not([type=hidden]):not([type=checkbox]):not([type=radio]), '
        + 'label:has(input[type=checkbox]), label:has(input[type=radio]), a');
    for (const el of targets) {
        if (el.tagName === 'A' && inSentence(el)) continue;
        const box = el.getBoundingClientRect();
        if (!box.width) continue;  // not shown (print-only, hidden)
        if (box.height < min - 0.5 || box.width < min - 0.5)
            small.push(`${el.tagName.toLowerCase()} ${Math.round(box.width)}×${Math.round(box.height)} `
                       + (el.textContent || el.getAttribute('aria-label') || el.name || '').trim().slice(0, 30));
    }
    return small;
}"""


@pytest.mark.parametrize(("width", "height"), [(360, 640), (320, 568)])
def test_every_dashboard_control_is_44_px_and_the_pages_fit_the_screen(browser, dashboard_only,  # noqa: F811
                                                                       tmp_path: Path, width: int, height: int) -> None:
    from playwright.sync_api import expect

    # A request as the questionnaire's form stores it, so that the appointments page shows its buttons.
    AppointmentService(Store(tmp_path / "kiosk.db"), time.time).request(
        Request("Awa", "awa.diallo@example.org", "", "morning"), "fr")
    base = f"http://127.0.0.1:{dashboard_only}"
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(base + "/outing", wait_until="load")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(lambda url: urlsplit(url).path == "/outing")
        page.fill("#place", "Place de l'église")
        page.fill("#commune", "Clamecy")
        page.fill("#insee_code", "58079")
        page.get_by_role("button", name="Commencer la sortie").click()
        page.wait_for_url(lambda url: urlsplit(url).path == "/")
        expect(page.locator(".tabs a")).to_have_count(10)
        page.goto(base + "/activity", wait_until="load")
        page.get_by_role("link", name=re.compile("Accompagnement individuel")).click()
        activity_form = urlsplit(page.url)
        page.locator("label.chip-choice", has_text="E-mail").first.click()
        page.get_by_role("button", name="Enregistrer").click()
        expect(page.locator(".note.ok")).to_have_text("Enregistré.")  # the pages below list a record
        page.goto(base + "/reports", wait_until="load")
        report = page.get_by_role("link", name=re.compile("Place de l'église")).first.get_attribute("href")
        assert report, "no report of the outing"

        small: dict[str, list[str]] = {}
        too_wide: dict[str, int] = {}
        for path in [*PAGES, f"{activity_form.path}?{activity_form.query}", report]:
            response = page.goto(base + path, wait_until="load")
            assert response is not None and response.status == 200, (path, response)
            if path == "/appointments":
                expect(page.locator("li.item", has_text="awa.diallo@example.org")).to_have_count(1)
            found = page.evaluate(SMALL_CONTROLS, MIN)
            if found:
                small[path] = found
            scrolled = page.evaluate("document.documentElement.scrollWidth")
            if scrolled > width:
                too_wide[path] = scrolled
        assert small == {}, json.dumps(small, ensure_ascii=False, indent=1)
        assert too_wide == {}, f"wider than the {width} px screen (sideways scrolling): {too_wide}"

        page.goto(base + "/privacy", wait_until="load")
        table = page.locator("main table").first
        expect(table).to_be_visible()
        box = table.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
        tabs = page.locator(".tabs a")
        for index in range(tabs.count()):
            tab = tabs.nth(index).bounding_box()
            assert tab is not None and tab["x"] >= 0 and tab["x"] + tab["width"] <= width, (index, tab)
    finally:
        context.close()
