"""Someone else on the open Wi-Fi guesses codes: 100 wrong lookups from 10 addresses, against a running
``kiosk serve``. A participant's phone (Debian's Chromium, JavaScript off, 320 × 568) keeps its visit, its
booklet and its appointment request all along.

The guesses come over real TCP from other loopback addresses (127.0.0.2 … 127.0.0.11: Linux routes all of
127/8 to lo), so the server sees ten peers as it would see ten phones; the participant's phone is 127.0.0.1.
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from kiosk.store import Store
from tests.browser.survey_support import answer, code_on, item_of, new_phone
from tests.browser.test_portal_browser import Portal, browser, portal  # noqa: F401 - fixtures
from tests.support.survey import token_for

pytestmark = pytest.mark.browser

GUESSERS = [f"127.0.0.{n}" for n in range(2, 12)]


@dataclass
class Guesser:
    """A script on another phone: plain HTTP from its own address, no cookie, no browser."""

    address: str
    port: int

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                                source_address=(self.address, 0))
        try:
            body = urlencode(form) if form is not None else None
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def wrong_lookup(self, n: int) -> int:
        """One of the four guesses anyone can make, with a well-formed code that opens nothing: a visit's
        address, a booklet's address, the resume form, the booklet form."""
        code = f"{n:06d}".translate(str.maketrans("0123456789", "ABCDEFGHJK"))
        kind = n % 4
        if kind == 0:
            return self.request("GET", f"/questionnaire/v/{code}")[0]
        if kind == 1:
            return self.request("GET", f"/booklet/{code}AAA")[0]
        if kind == 2:
            _, token = token_for(self.request("GET", "/questionnaire?lang=fr")[1], "/questionnaire/resume")
            return self.request("POST", "/questionnaire/resume", {"csrf_token": token, "code": code})[0]
        _, token = token_for(self.request("GET", "/booklet?lang=fr")[1], "/booklet/open")
        return self.request("POST", "/booklet/open", {"csrf_token": token, "code": code + "AAA"})[0]


def _answer_until_results(page) -> None:
    for _ in range(40):
        if "/results" in page.url:
            return
        answer(page, item_of(page), 2)
    pytest.fail("the questionnaire did not reach the results")


def test_a_hundred_wrong_lookups_from_ten_addresses_leave_a_participants_visit_booklet_and_appointment(
        browser, portal: Portal, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page = new_phone(browser).page
    # Before the guessing: a finished visit kept in a booklet, and a second visit started from it.
    page.goto(portal.url + "questionnaire?lang=fr", wait_until="load")
    page.locator("form[action='/questionnaire/start'] button").click()
    page.locator("a.button").click()
    _answer_until_results(page)
    page.get_by_role("button", name="Créer mon livret").click()
    booklet_code = code_on(page)
    page.get_by_role("button", name="Refaire le questionnaire").click()
    visit_code = code_on(page)
    page.locator("a.button").click()
    answer(page, item_of(page), 2)
    expect(page.locator("p.progress")).to_contain_text("Question 2 sur 21")
    visit_page = page.url

    guessers = [Guesser(address, portal.port) for address in GUESSERS]
    statuses = [guesser.wrong_lookup(10 * i + n) for i, guesser in enumerate(guessers) for n in range(10)]
    assert set(statuses) == {404, 429}, statuses
    # The kit's budget (60 wrong codes an hour) is spent by the first six addresses; the four others each get
    # the one lookup anyone gets before being held back.
    assert statuses.count(404) == 60 + 4, statuses
    held, text = guessers[0].request("GET", f"/questionnaire/v/{visit_code}")
    assert held == 429 and re.search(r"Réessayez dans \d+ min", text), "the guessers learn nothing"

    # The participant goes on: the same question page, the rest of the visit, the booklet, an appointment.
    response = page.goto(visit_page, wait_until="load")
    assert response is not None and response.status == 200
    expect(page.locator("p.progress")).to_contain_text("Question 2 sur 21")
    _answer_until_results(page)
    expect(page.get_by_text("Ces résultats sont dans votre livret.")).to_be_visible()

    response = page.goto(f"{portal.url}booklet/{booklet_code}?lang=fr", wait_until="load")
    assert response is not None and response.status == 200
    expect(page.locator("section.visit")).to_have_count(2)
    page.goto(portal.url + "booklet?lang=fr", wait_until="load")
    page.get_by_label("Mon code de livret (9 caractères)").fill(booklet_code)
    page.get_by_role("button", name="Ouvrir mon livret").click()
    assert urlsplit(page.url).path == f"/booklet/{booklet_code}", "typing its own booklet code still opens it"
    expect(page.locator("section.visit")).to_have_count(2)

    page.goto(portal.url + "appointment?lang=fr", wait_until="load")
    page.fill("#first_name", "Awa")
    page.fill("#contact", "06 12 34 56 78")
    page.locator("ul.choices label").first.click()
    page.locator("label[for=consent]").click()
    page.get_by_role("button", name="Envoyer ma demande").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Demande envoyée")
    page.context.close()
    with Store(tmp_path / "kiosk.db").read() as db:
        stored = [tuple(row) for row in db.execute("SELECT first_name, contact FROM survey_appointments")]
    assert stored == [("Awa", "06 12 34 56 78")], "the mediators receive the request"
