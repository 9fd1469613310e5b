"""Addresses and phone numbers inside Arabic text, as the browser lays them out (against ``kiosk serve``).

Reading the scam SMS's address is the point of the challenge: without isolation the bidi algorithm shows
"colis-suivi.example/payer" as "-colis" at one end and "suivi.example/payer" at the other. The layout is
read from the boxes Chromium draws for each character: left to right, on one line, in the written order.
The pages carry no script; JavaScript is on in this tab only to measure those boxes.
"""

from __future__ import annotations

import itertools

import pytest

from kiosk.web.bidi import LTR_RUN
from tests.browser.survey_support import (
    QUESTIONNAIRE,
    Portal,
    answer,
    item_of,
    new_phone,
    survey_portal,  # noqa: F401 - fixture
)
from tests.browser.test_portal_browser import browser  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

# For each address or phone number shown in the page's main text: its characters' boxes, in text order.
LAYOUT = """(pattern) => {
    const found = [];
    const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const match of node.data.matchAll(new RegExp(pattern, 'g'))) {
            const boxes = [];
            for (let i = match.index; i < match.index + match[0].length; i++) {
                const range = document.createRange();
                range.setStart(node, i); range.setEnd(node, i + 1);
                const box = range.getBoundingClientRect();
                if (box.width > 0) boxes.push({x: box.left, y: Math.round(box.top)});
            }
            const bdi = node.parentElement.closest('bdi, [dir=ltr]');
            found.push({text: match[0], boxes, isolated: bdi ? bdi.innerText : null});
        }
    }
    return found;
}"""


def _reads_left_to_right(run: dict) -> bool:
    boxes = run["boxes"]
    lines = {box["y"] for box in boxes}
    return len(lines) == 1 and all(a["x"] < b["x"] for a, b in itertools.pairwise(boxes))


def test_every_address_in_the_arabic_challenges_reads_left_to_right(survey_portal: Portal, browser) -> None:  # noqa: F811
    phone = new_phone(browser, locale="ar", javascript=True)
    page = phone.page
    base = survey_portal.url.rstrip("/")
    page.goto(f"{base}/questionnaire?lang=ar", wait_until="load")
    page.locator("form[action='/questionnaire/start'] button").click()
    page.locator("a.button").click()
    pattern = LTR_RUN.pattern  # the expression the kit isolates by, valid in JavaScript as it is
    seen: dict[str, list[dict]] = {}
    for _ in range(40):
        if "/results" in page.url:
            break
        item = item_of(page)
        if QUESTIONNAIRE.item(item).kind == "challenge":
            assert page.locator("html").get_attribute("dir") == "rtl"
            seen[item] = page.evaluate(LAYOUT, pattern)
        answer(page, item, 2)
    assert set(seen) == {"c_official", "c_sms_parcel", "c_sms_caf", "c_storage"}, set(seen)
    parcel = [run for run in seen["c_sms_parcel"] if "colis" in run["text"]]
    assert [run["isolated"] for run in parcel] == ["colis-suivi.example/payer"], parcel
    assert _reads_left_to_right(parcel[0]), f"the scam address as laid out: {parcel[0]['boxes']}"
    garbled = {item: [run["text"] for run in runs if not (run["isolated"] == run["text"] and _reads_left_to_right(run))]
               for item, runs in seen.items()}
    assert all(not runs for runs in garbled.values()), garbled
    assert any("caf" in run["text"] for run in seen["c_sms_caf"]), "the CAF SMS's address is checked too"
    page.context.close()
