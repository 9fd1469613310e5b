"""The questionnaire on the smallest phones still in use (320 × 568, JavaScript off), against ``kiosk serve``:
on every question page, in the 5 languages, the first answer and *Suivant* are on the first screen, and the
language list is one tap away from the top of the page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.survey_support import (
    Portal,
    answer,
    item_of,
    survey_portal,  # noqa: F401 - fixture
)
from tests.browser.test_portal_browser import Phone, browser  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

SMALL = {"width": 320, "height": 568}
LANGUAGES = ["fr", "en", "ar", "uk", "es"]


def small_phone(browser, locale: str = "fr-FR") -> Phone:  # noqa: F811
    context = browser.new_context(java_script_enabled=False, viewport=SMALL, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale=locale)
    return Phone(context.new_page())


def question_pages(page, base: str, lang: str, level: int = 2) -> Iterator[str]:
    """Start a visit in ``lang`` and walk it to the results, stopping on each question page."""
    page.goto(f"{base}/questionnaire?lang={lang}", wait_until="load")
    page.locator("form[action='/questionnaire/start'] button").click()
    page.locator("a.button").click()
    for _ in range(40):
        if "/results" in page.url:
            return
        item = item_of(page)
        yield item
        answer(page, item, level)
    pytest.fail("the questionnaire did not reach the results")


def _on_first_screen(page, selector: str) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_question_and_its_first_answer_and_next_fit_the_first_screen(survey_portal: Portal, browser,  # noqa: F811
                                                                            lang: str) -> None:
    phone = small_phone(browser)
    page = phone.page
    base = survey_portal.url.rstrip("/")
    seen = []
    for item in question_pages(page, base, lang):
        seen.append(item)
        first = _on_first_screen(page, "ul.choices label")
        next_button = _on_first_screen(page, ".next button")
        assert next_button["y"] >= 0 and next_button["y"] + next_button["height"] <= SMALL["height"], \
            f"{lang} {item}: Suivant at {next_button}"
        assert first["y"] >= 0 and first["y"] + first["height"] <= next_button["y"], \
            f"{lang} {item}: the first answer at {first}, under Suivant at {next_button['y']}"
        heading = _on_first_screen(page, "legend h1")
        assert heading["y"] >= 0 and heading["y"] < first["y"], f"{lang} {item}: the question comes first"
    assert len(seen) >= 20, seen


def test_the_language_list_is_one_tap_from_the_top_of_a_question(survey_portal: Portal, browser) -> None:  # noqa: F811
    phone = small_phone(browser)
    page = phone.page
    base = survey_portal.url.rstrip("/")
    pages = question_pages(page, base, "fr")
    next(pages)
    first_item = item_of(page)
    jump = page.locator("a.langjump")
    box = jump.bounding_box()
    assert box and box["y"] < 60 and box["height"] >= 44, "the link sits at the top and is easy to tap"
    assert "Langue" in jump.inner_text() and "Language" in jump.inner_text()
    jump.click()
    arabic = page.locator('nav.languages a[hreflang="ar"]')
    shown = arabic.bounding_box()
    assert shown and 0 <= shown["y"] <= SMALL["height"] - shown["height"], "one tap shows the language list"
    arabic.click()
    page.wait_for_load_state("load")
    assert item_of(page) == first_item, "the same question"
    assert page.locator("html").get_attribute("lang") == "ar"
    assert page.locator("html").get_attribute("dir") == "rtl"
    phone.page.context.close()
