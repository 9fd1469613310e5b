"""The questionnaire end to end, as a participant on a phone with JavaScript off, against ``kiosk serve``:
a full questionnaire in French and in Arabic, the captive sheet closed halfway and resumed with the code on
a fresh tab, the bands on the results page, the booklet's QR code, and a second visit showing progress.
Screenshots are kept in tests/artifacts/ (and copied to $KIOSK_SCREENSHOTS_DIR when it is set)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import segno

from tests.browser.survey_support import (
    QUESTIONNAIRE,
    Phone,
    Portal,
    answer,
    code_on,
    item_of,
    new_phone,
    screenshot,
    survey_portal,  # noqa: F401 - fixture
)
from tests.browser.test_portal_browser import _assert_language, browser  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

# What each language says where the test checks words (the rest is located by structure).
WORDS = {
    "fr": {"service": "Où j'en suis avec le numérique ?", "start": "J'accepte — commencer",
           "begin": "Commencer le questionnaire", "go_on": "Continuer le questionnaire", "resume": "Continuer",
           "code_label": "Mon code (6 caractères)", "question": "Question {n} sur 21",
           "bands": {1: "Avec de l'aide", 2: "Autonome sur l'essentiel", 3: "À l'aise"},
           "create": "Créer mon livret", "again": "Refaire le questionnaire", "open": "Ouvrir mon livret",
           "booklet_label": "Mon code de livret (9 caractères)", "progress": "↑ Progrès",
           "in_booklet": "Ces résultats sont dans votre livret.", "listen": "Écouter la question"},
    "ar": {"service": "ما مستواي في استخدام الأدوات الرقمية؟", "start": "أوافق — لنبدأ",
           "begin": "بدء الاستبيان", "go_on": "متابعة الاستبيان", "resume": "متابعة",
           "code_label": "رمزي (6 خانات)", "question": "السؤال {n} من 21",
           "bands": {1: "بمساعدة", 2: "أتدبّر الأساسيات بمفردي", 3: "بسهولة تامة"},
           "create": "إنشاء دفتري", "again": "إعادة الاستبيان", "open": "فتح دفتري",
           "booklet_label": "رمز دفتري (9 خانات)", "progress": "↑ تقدّم",
           "in_booklet": "هذه النتائج محفوظة في دفترك.", "listen": "الاستماع إلى السؤال"},
}
HALFWAY = 9


def _no_outside_requests(phone: Phone, portal: Portal) -> None:
    outside = [url for url in phone.requests if not portal.owns(url)]
    assert outside == [], f"the phone fetched from outside the kit: {outside}"


def _answer_until_results(page, level: int, lang: str, shots: bool = False) -> None:
    for _ in range(40):
        if "/results" in page.url:
            return
        item = item_of(page)
        asked = QUESTIONNAIRE.item(item)
        if shots and asked.kind == "challenge" and asked.scenario and asked.scenario.kind == "sms" \
                and "parcel" in item:
            screenshot(page, f"survey-sms-{lang}.png", full_page=False)  # the first screen
        assert page.locator("script").count() == 0
        answer(page, item, level)
    pytest.fail("the questionnaire did not reach the results")


def _check_bands(page, lang: str, level: int) -> None:
    bands = page.locator("ul.bands li")
    assert bands.count() == 6
    expected = WORDS[lang]["bands"][level]
    for index in range(6):
        assert bands.nth(index).locator("strong").inner_text() == expected


@pytest.mark.parametrize("lang", ["fr", "ar"])
def test_questionnaire_resume_results_booklet_and_progress_without_javascript(survey_portal: Portal, browser,  # noqa: F811
                                                                              lang: str) -> None:
    from playwright.sync_api import expect

    words = WORDS[lang]
    portal = survey_portal
    phone = new_phone(browser)
    page = phone.page
    page.goto(portal.url, wait_until="load")
    if lang != "fr":
        page.locator(f'nav.languages a[hreflang="{lang}"]').click()
        page.wait_for_load_state("load")
    page.get_by_role("link", name=words["service"]).click()
    _assert_language(page, lang, "rtl" if lang == "ar" else "ltr")
    screenshot(page, f"survey-intro-{lang}.png")
    page.get_by_role("button", name=words["start"]).click()
    code = code_on(page)
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{6}", code)
    page.get_by_role("link", name=words["begin"]).click()
    expect(page.locator("p.progress")).to_contain_text(words["question"].format(n=1))
    audio = page.locator("audio source")
    assert audio.count() >= 2, "the question and its answers can be heard"
    assert page.get_by_text(words["listen"]).count() == 1
    screenshot(page, f"survey-question-{lang}.png", full_page=False)

    # the captive sheet closes halfway through
    for _ in range(HALFWAY - 1):
        answer(page, item_of(page), 2)
    assert words["question"].format(n=HALFWAY) in page.locator("p.progress").inner_text()
    halfway_item = item_of(page)
    _no_outside_requests(phone, portal)
    page.context.close()

    # a fresh sheet, no cookie, no history: the code brings the person back to the same question
    phone = new_phone(browser, locale="ar" if lang == "ar" else "fr-FR")
    page = phone.page
    page.goto(portal.url + f"questionnaire?lang={lang}", wait_until="load")
    page.get_by_label(words["code_label"]).fill(f"{code[:3].lower()} {code[3:]}")
    page.get_by_role("button", name=words["resume"], exact=True).click()
    screenshot(page, f"survey-resume-{lang}.png")
    page.get_by_role("link", name=words["go_on"]).click()
    assert item_of(page) == halfway_item
    _assert_language(page, lang, "rtl" if lang == "ar" else "ltr")
    _answer_until_results(page, 2, lang, shots=True)
    _check_bands(page, lang, 2)
    assert page.locator("svg.chart rect.on").count() == 6 * 3
    screenshot(page, f"survey-results-{lang}.png")

    # the booklet: a QR code of the booklet's own address on the kit, and a short code
    page.get_by_role("button", name=words["create"]).click()
    booklet_code = code_on(page)
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{9}", booklet_code) and booklet_code != code
    booklet_url = f"{portal.url}booklet/{booklet_code}"
    qr = page.locator("svg.qr")
    expected = segno.make(booklet_url, error="m", micro=False).svg_inline(scale=4, border=4, dark="#000",
                                                                           light="#fff", lineclass=None)
    drawn = re.findall(r' d="([^"]+)"', expected)[-1]  # the dark modules, after the white background
    assert qr.locator("path").last.get_attribute("d") == drawn, "the QR code encodes the booklet's address"
    box = qr.bounding_box()
    assert box and box["width"] >= 120 and abs(box["width"] - box["height"]) < 1, "big enough to scan"
    screenshot(page, f"survey-booklet-{lang}.png")
    _no_outside_requests(phone, portal)
    page.context.close()

    # weeks later, a second visit: open the booklet (as its QR code does), do the questionnaire again
    phone = new_phone(browser)
    page = phone.page
    page.goto(booklet_url + f"?lang={lang}", wait_until="load")
    page.get_by_role("button", name=words["again"]).click()
    page.get_by_role("link", name=words["begin"]).click()
    _answer_until_results(page, 3, lang)
    _check_bands(page, lang, 3)
    expect(page.get_by_text(words["in_booklet"])).to_be_visible()
    page.goto(portal.url + f"booklet?lang={lang}", wait_until="load")
    page.get_by_label(words["booklet_label"]).fill(booklet_code)
    page.get_by_role("button", name=words["open"]).click()
    visits = page.locator("section.visit")
    assert visits.count() == 2, "one list per visit"
    assert visits.first.get_by_text(words["progress"]).count() == 6, "the latest visit first, with its progress"
    assert visits.nth(1).get_by_text(words["progress"]).count() == 0
    screenshot(page, f"survey-booklet-progress-{lang}.png")
    assert urlsplit(page.url).path == f"/booklet/{booklet_code}"
    _no_outside_requests(phone, portal)

    # on the smallest screen: nothing to scroll sideways, the latest progress marks on screen
    # (JavaScript on in this tab only, to read the page's width: the page has no script)
    measured = new_phone(browser, javascript=True).page
    measured.goto(page.url, wait_until="load")
    assert measured.evaluate("() => document.documentElement.scrollWidth") <= 320
    marks = measured.locator("section.visit").first.get_by_text(words["progress"])
    for index in range(marks.count()):
        box = marks.nth(index).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 320, box
    measured.context.close()
