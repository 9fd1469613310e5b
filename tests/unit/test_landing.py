"""The landing page's short path (kiosk.web.landing) answers as Flask's route does, and only when it can.

Flask's ``request_started`` signal tells which requests went through Flask: the first visit of a language
and state renders the page there, the next ones must not, and every answer must be the one the route gives.
"""

from __future__ import annotations

import gc
import re
import tracemalloc
from contextlib import contextmanager

import pytest
from flask import request_started

from kiosk.store import StoreError
from kiosk.web.i18n import Catalogues
from kiosk.web.landing import LanguageChoice
from tests.conftest import PHONE_IP
from tests.unit.test_portal_probes import PORTAL, accept

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def flask_requests(app):
    seen: list[str] = []

    def record(sender, **extra) -> None:
        from flask import request
        seen.append(request.full_path)

    request_started.connect(record, app)
    try:
        yield seen
    finally:
        request_started.disconnect(record, app)


def without_token(page: str) -> str:
    return TOKEN.sub('name="csrf_token" value=""', page)


VISITS = [
    ("", {}),
    ("?lang=ar", {}),
    ("", {"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"}),
    ("?lang=zz", {"Accept-Language": "es"}),  # not a language of the kit: the phone's preference wins
    ("?lang=en&lang=fr&utm=x", {}),  # the first lang counts, as Flask's request.args.get does
    ("?lang=%ff%fe", {"Accept-Language": "*;q=x, ,,"}),  # garbage from a hostile phone: the default language
]


@pytest.mark.parametrize(("query", "headers"), VISITS)
def test_the_second_visit_skips_flask_and_gets_the_same_page_with_a_token_of_its_own(portal_kit, query, headers):
    kit = portal_kit()
    phone = kit.phone()
    with flask_requests(kit.apps.portal) as through_flask:
        first = phone.get(PORTAL + query, headers=headers)
        assert len(through_flask) == 1  # rendered by the route
        kit.clock.advance(2)  # a token of another second, so the two tokens differ
        second = phone.get(PORTAL + query, headers=headers)
        assert len(through_flask) == 1, "the short path sent a cached page's visit to Flask"
    assert (first.status_code, second.status_code) == (200, 200)
    assert list(first.headers.items()) == list(second.headers.items())
    first_page, second_page = first.get_data(as_text=True), second.get_data(as_text=True)
    assert without_token(first_page) == without_token(second_page)
    assert TOKEN.search(first_page)[1] != TOKEN.search(second_page)[1]
    # the short path's token is one the charter's form takes
    lang = re.search(r'<html lang="(\w+)"', second_page)[1]
    token = TOKEN.search(second_page)[1]
    response = phone.post(PORTAL + "accept", data={"csrf_token": token, "accept": "yes", "lang": lang})
    assert response.status_code == 303


def test_a_token_from_the_short_path_does_not_work_for_another_phone(portal_kit):
    kit = portal_kit()
    phone, other = kit.phone(), kit.phone("10.42.0.77", "5a:00:00:00:00:77")
    phone.get(PORTAL)  # renders the page
    page = other.get(PORTAL).get_data(as_text=True)  # the short path, for the other phone
    token = TOKEN.search(page)[1]
    assert phone.post(PORTAL + "accept", data={"csrf_token": token, "accept": "yes"}).status_code == 400
    assert kit.apps.kit.access.open_sessions() == []


def test_the_state_of_the_uplink_and_of_the_phone_is_read_at_every_visit(portal_kit):
    kit = portal_kit()
    phone = kit.phone()
    phone.get(PORTAL)
    phone.get(PORTAL)
    kit.uplink.up = False
    down = phone.get(PORTAL).get_data(as_text=True)
    assert "Il n'y a pas d'internet ici pour le moment." in down and 'action="/accept"' not in down
    kit.uplink.up = True
    assert 'action="/accept"' in phone.get(PORTAL).get_data(as_text=True)
    assert accept(phone).status_code == 303
    connected = phone.get(PORTAL).get_data(as_text=True)
    phone.get(PORTAL)
    assert connected == phone.get(PORTAL).get_data(as_text=True)
    assert 'action="/accept"' not in connected  # an authorised phone is not offered the charter again


def test_a_visit_by_the_short_path_keeps_a_session_from_idling(portal_kit):
    kit = portal_kit(access__idle_minutes=10)
    phone = kit.phone()
    assert accept(phone).status_code == 303
    phone.get(PORTAL)  # renders the connected page: later visits take the short path
    with flask_requests(kit.apps.portal) as through_flask:
        for _ in range(4):
            kit.clock.advance(8 * 60)
            phone.get(PORTAL)
            kit.apps.kit.access.sweep()
        assert through_flask == []
    assert [session.ip for session in kit.apps.kit.access.open_sessions()] == [PHONE_IP]


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("POST", 302), ("PUT", 302)])
def test_other_methods_go_to_flask(portal_kit, method, status):
    kit = portal_kit()
    phone = kit.phone()
    phone.get(PORTAL)
    with flask_requests(kit.apps.portal) as through_flask:
        response = phone.open(PORTAL, method=method)
    assert len(through_flask) == 1
    assert response.status_code == status  # a method the page does not take: sent back to the landing page


def test_a_store_that_cannot_be_read_gets_flasks_plain_error_page(portal_kit, monkeypatch):
    kit = portal_kit()
    phone = kit.phone()
    phone.get(PORTAL)

    def broken(*args, **kwargs):
        raise StoreError("database disk image is malformed")

    # The failure is injected: a store that breaks between two requests cannot be made on demand.
    monkeypatch.setattr(kit.apps.kit.access, "state_of", broken)
    response = phone.get(PORTAL)
    assert response.status_code in (500, 503)
    page = response.get_data(as_text=True)
    assert "Traceback" not in page and "malformed" not in page
    assert '<html lang="fr"' in page


def test_huge_accept_language_headers_are_answered_and_not_kept(portal_kit):
    """A hostile phone sending hundreds of distinct 400 KB headers must not pin memory in the worker."""
    choose = LanguageChoice(Catalogues(["fr", "en", "ar", "uk", "es"], "fr"))
    padding = "x" * 400_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(20):
            assert choose(None, f"uk-UA,uk;q=0.9,{padding}{index}") == "uk"
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 1_000_000, f"{kept:,} bytes kept after 20 headers of 400 KB"
    assert choose(None, "es-ES,es;q=0.9") == "es"
    kit = portal_kit()
    phone = kit.phone()
    page = phone.get(PORTAL, headers={"Accept-Language": "ar," + padding}).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
