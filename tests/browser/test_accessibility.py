"""Accessibility of every participant page, in French and in Arabic: axe-core (from the npm registry) finds no
serious or critical violation, and at 200% zoom nothing needs sideways scrolling or falls off the screen.

The pages need no JavaScript and the participant's phone runs none (test_survey_browser.py proves it). axe-core
is a script, so it runs in a separate browser context with JavaScript on, used only for these checks; the
pages themselves are the same bytes. axe-core is installed by the test command:
``npm install --prefix tests/.node axe-core@4``; under CI=true its absence fails this test.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kiosk.store import Store
from kiosk.web.assist import kit_tickets
from tests.browser.survey_support import (
    Portal,
    answer,
    code_on,
    item_of,
    new_phone,
    survey_portal,  # noqa: F401 - fixture
)
from tests.browser.test_portal_browser import browser  # noqa: F401 - fixture
from tests.support.system import REPO, unavailable

pytestmark = pytest.mark.browser

AXE = REPO / "tests" / ".node" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
ZOOMED = {"width": 180, "height": 370}  # a 360 × 740 phone at 200% zoom


def _axe() -> Path:
    if not AXE.exists():
        unavailable(f"axe-core is missing at {AXE} (npm install --prefix tests/.node axe-core@4)")
    return AXE


def _collect(browser, portal: Portal, lang: str, ticket: str) -> list[str]:  # noqa: F811
    """Every page a participant reaches by links, walked with JavaScript off: their addresses (``ticket``: the
    dashboard's assist ticket, for the intro in mediator mode)."""
    phone = new_phone(browser)
    page = phone.page
    seen: list[str] = []

    def keep() -> None:
        if page.url not in seen:
            seen.append(page.url)

    base = portal.url.rstrip("/")
    for path in ("/", "/info", "/questionnaire", f"/questionnaire?assist={ticket}", "/questionnaire?assist=expired",
                 "/booklet", "/appointment", "/booklet/deleted", "/appointment/done", "/questionnaire/v/ZZZZZZ"):
        page.goto(f"{base}{path}{'&' if '?' in path else '?'}lang={lang}", wait_until="load")
        keep()
    page.goto(f"{base}/questionnaire?lang={lang}", wait_until="load")
    page.locator("form[action='/questionnaire/start'] button").click()
    keep()
    page.locator("a.button").click()
    for _ in range(30):
        keep()
        if "/results" in page.url:
            break
        answer(page, item_of(page), 1)
    code = urlsplit(page.url).path.split("/")[3]
    for suffix in ("details", "print"):
        page.goto(f"{base}/questionnaire/v/{code}/{suffix}?lang={lang}", wait_until="load")
        keep()
    page.goto(f"{base}/questionnaire/v/{code}/results?lang={lang}", wait_until="load")
    page.locator("form[action*='from-visit'] button").click()
    keep()
    booklet = code_on(page)
    page.goto(f"{base}/booklet/{booklet}/delete?lang={lang}", wait_until="load")
    keep()
    page.context.close()
    return seen


def _violations(page) -> list[dict]:
    page.add_script_tag(path=str(_axe()))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    assert result["testEngine"]["name"] == "axe-core" and result["passes"] is not None
    return [{"rule": v["id"], "impact": v["impact"], "help": v["help"],
             "where": [node["target"] for node in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in BLOCKING]


ZOOM_CHECK = """() => {
    const width = document.documentElement.clientWidth;
    const out = [];
    if (document.documentElement.scrollWidth > width + 1) out.push('the page scrolls sideways');
    for (const el of document.querySelectorAll('a, button, input, select, label, h1, h2, p, li, audio')) {
        if (el.closest('.scroll')) continue;  // a data table scrolls inside its own region
        const box = el.getBoundingClientRect();
        if (box.width && (box.left < -1 || box.right > width + 1))
            out.push(el.tagName + ' ' + (el.textContent || '').trim().slice(0, 40));
    }
    return out;
}"""


def _after_wrong_post(page, base: str, lang: str, state: str) -> None:
    """Show a page that only a post produces: a form sent incomplete or wrong, as a person would."""
    if state == "resume":
        page.goto(f"{base}/questionnaire?lang={lang}", wait_until="load")
        page.locator("#resume-code").fill("ZZZ-ZZZ")
        page.locator("form[action='/questionnaire/resume'] button").click()
    elif state == "appointment":
        page.goto(f"{base}/appointment?lang={lang}", wait_until="load")
        page.locator("form.fields button[type=submit]").click()
    elif state == "booklet":
        page.goto(f"{base}/booklet?lang={lang}", wait_until="load")
        page.locator("#code").fill("ZZZ-ZZZ-ZZZ")
        page.locator("form button[type=submit]").click()
    else:
        page.goto(f"{base}/questionnaire?lang={lang}", wait_until="load")
        page.locator("form[action='/questionnaire/start'] button").click()
        page.locator("a.button").click()
        page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state("load")
    assert page.locator("[role=alert], .error").count() >= 1, state


@pytest.mark.parametrize("lang", ["fr", "ar"])
def test_every_page_passes_axe_and_stays_usable_at_200_percent_zoom(survey_portal: Portal, browser,  # noqa: F811
                                                                   lang: str, tmp_path: Path) -> None:
    _axe()
    ticket = kit_tickets(Store(tmp_path / "kiosk.db"), time.time).issue()  # as the running kit's dashboard does
    urls = _collect(browser, survey_portal, lang, ticket)
    assert len(urls) > 30, urls
    base = survey_portal.url.rstrip("/")
    violations: dict[str, list[dict]] = {}
    overflow: dict[str, list[str]] = {}
    checker = new_phone(browser, javascript=True)  # JavaScript on for axe-core and the measures only
    zoomed = browser.new_context(java_script_enabled=True, viewport=ZOOMED, device_scale_factor=4, is_mobile=True,
                                 has_touch=True).new_page()
    for url in urls:
        checker.page.goto(url, wait_until="load")
        found = _violations(checker.page)
        if found:
            violations[url] = found
        zoomed.goto(url, wait_until="load")
        off = zoomed.evaluate(ZOOM_CHECK)
        if off:
            overflow[url] = off[:5]
    for state in ("resume", "appointment", "booklet", "question"):
        for page, report, check in ((checker.page, violations, _violations),
                                    (zoomed, overflow, lambda p: p.evaluate(ZOOM_CHECK))):
            _after_wrong_post(page, base, lang, state)
            found = check(page)
            if found:
                report[f"{state} (after a wrong post)"] = found
    zoomed.context.close()
    checker.page.context.close()
    assert violations == {}, "axe-core: " + json.dumps(violations, ensure_ascii=False, indent=1)
    assert overflow == {}, "at 200% zoom: " + json.dumps(overflow, ensure_ascii=False, indent=1)
