"""Tap targets on every participant page, on a 320 × 568 phone: each button, audio player, answer or checkbox
label, form field and stand-alone link is at least 44 × 44 CSS px (WCAG 2.5.5's size; links inside a sentence
are exempt, as that criterion allows). The pages carry no script; JavaScript is on in the measuring tab only.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kiosk.store import Store
from kiosk.web.assist import kit_tickets
from tests.browser.survey_support import Portal, new_phone, survey_portal  # noqa: F401 - fixture
from tests.browser.test_accessibility import _collect
from tests.browser.test_portal_browser import browser  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

MIN = 44
SMALL_TARGETS = """(min) => {
    const small = [];
    const standalone = (a) => {
        const parent = a.parentElement;
        return parent && parent.textContent.trim() === a.textContent.trim();
    };
    const targets = document.querySelectorAll(
        'button, audio, select, input[type=text], input[type=password], label:has(input[type=checkbox]), '
        + 'label:has(input[type=radio]), label[for], a');
    for (const el of targets) {
        if (el.tagName === 'A' && !standalone(el)) continue;
        if (el.tagName === 'LABEL' && el.htmlFor
            && !['checkbox', 'radio'].includes((document.getElementById(el.htmlFor) || {}).type)) continue;
        const box = el.getBoundingClientRect();
        if (!box.width) continue;  // not shown (print-only, hidden)
        if (box.height < min - 0.5 || box.width < min - 0.5)
            small.push(`${el.tagName.toLowerCase()} ${Math.round(box.width)}×${Math.round(box.height)} `
                       + (el.textContent || el.getAttribute('aria-labelledby') || '').trim().slice(0, 30));
    }
    return small;
}"""


@pytest.mark.parametrize("lang", ["fr", "ar"])
def test_every_participant_tap_target_is_44_px(survey_portal: Portal, browser, lang: str,  # noqa: F811
                                               tmp_path: Path) -> None:
    ticket = kit_tickets(Store(tmp_path / "kiosk.db"), time.time).issue()
    urls = _collect(browser, survey_portal, lang, ticket)
    assert len(urls) > 30, urls
    checker = new_phone(browser, javascript=True).page
    small: dict[str, list[str]] = {}
    for url in urls:
        checker.goto(url, wait_until="load")
        found = checker.evaluate(SMALL_TARGETS, MIN)
        if found:
            small[url] = found
    checker.context.close()
    assert small == {}, json.dumps(small, ensure_ascii=False, indent=1)
