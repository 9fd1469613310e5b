"""Mediator mode is tied to the dashboard's login: an *assisted* visit needs an assist ticket, which only a
logged-in mediator gets (dashboard page /questionnaire), valid until the end of the day. Both apps of one kit,
through Flask's test clients, on a real store."""

from __future__ import annotations

import html
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import URLSafeSerializer

from kiosk.services.survey.stats import summary
from kiosk.services.survey.visits import day_of
from kiosk.web.assist import SALT, SECRET_NAME, AssistTickets, end_of_day
from tests.conftest import PHONE_IP
from tests.support.survey import Participant, text, token_for
from tests.unit.test_dashboard import Dashboard, build

EXPIRED = "Le lien du mode médiateur a expiré : ouvrez-en un nouveau depuis le tableau de bord."
MEDIATOR_MODE = "Mode médiateur"


@pytest.fixture
def mediator(tmp_path) -> Dashboard:
    dash = build(tmp_path)
    assert dash.login().status_code == 303
    return dash


def participant(dash: Dashboard, ip: str = PHONE_IP, lang: str = "fr") -> Participant:
    client = dash.apps.portal.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return Participant(client, lang)


def visits(dash: Dashboard) -> list[int]:
    with dash.apps.kit.store.read() as db:
        return [row["assisted"] for row in db.execute("SELECT assisted FROM survey_visits ORDER BY id")]


def assisted_count(dash: Dashboard) -> int:
    day = day_of(dash.clock())
    return summary(dash.apps.kit.store, dash.apps.kit.survey.library, day, day).assisted


def link_on_dashboard(dash: Dashboard) -> str:
    page = dash.text("/questionnaire")
    return html.unescape(re.search(r'id="assisted-link" href="([^"]+)"', page).group(1))


def ticket_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["assist"][0]


def secret(dash: Dashboard, name: str) -> str:
    with dash.apps.kit.store.read() as db:
        return db.execute("SELECT value FROM kit_secrets WHERE name = ?", (name,)).fetchone()["value"]


# --- a participant cannot claim the mediator mode -------------------------------------------------------

def test_assisted_1_in_the_address_or_in_the_form_gives_an_ordinary_visit(mediator):
    person = participant(mediator)
    intro = text(person.get("/questionnaire?lang=fr&assisted=1"))
    assert MEDIATOR_MODE not in intro and EXPIRED not in intro, "?assisted=1 alone does nothing, silently"
    assert 'name="assist"' not in intro and 'name="assisted"' not in intro
    action, token = token_for(intro, "/questionnaire/start")
    forged = person.post(action, {"csrf_token": token, "lang": "fr", "questionnaire": "competences",
                                  "assisted": "1"})
    assert forged.status_code == 303
    assert "Rempli avec un médiateur" not in text(person.follow(forged))
    assert visits(mediator) == [0] and assisted_count(mediator) == 0


# --- the mediator's way ---------------------------------------------------------------------------------

def test_the_dashboard_gives_a_link_and_a_qr_code_that_make_an_assisted_visit(mediator):
    page = mediator.text("/questionnaire")
    assert "Questionnaire accompagné" in page and "Ouvrir sur ce téléphone" in page
    assert '<svg role="img" aria-label="QR code du questionnaire en mode médiateur"' in page
    link = link_on_dashboard(mediator)
    assert link.startswith("http://10.42.0.1/questionnaire?assist=")
    assert "Questionnaire accompagné" in mediator.text("/") and "Questionnaire accompagné" in mediator.text("/tablets")

    person = participant(mediator)
    intro = text(person.get(link))
    assert MEDIATOR_MODE in intro and EXPIRED not in intro
    ticket = ticket_of(link)
    assert f'name="assist" value="{ticket}"' in intro
    arabic = html.unescape(re.search(r'<a href="([^"]+)" lang="ar"', intro).group(1))
    assert f"assist={ticket}" in arabic, "switching language keeps the mediator mode"
    assert "وضع الوسيط" in text(person.get(arabic))

    person.start(assist=ticket)
    assert "Rempli avec un médiateur" in text(person.first_question())
    assert visits(mediator) == [1] and assisted_count(mediator) == 1


def test_a_ticket_serves_the_whole_day_then_expires_at_midnight(mediator):
    midnight = end_of_day(mediator.clock())
    mediator.clock.now = midnight - 3600  # 23:00 on the kit's clock
    assert mediator.login().status_code == 303
    ticket = ticket_of(link_on_dashboard(mediator))
    first, second = participant(mediator), participant(mediator, ip="10.42.0.57")
    first.start(assist=ticket)
    mediator.clock.advance(3000)
    assert MEDIATOR_MODE in text(second.get(f"/questionnaire?lang=fr&assist={ticket}"))
    intro = text(second.get(f"/questionnaire?lang=fr&assist={ticket}"))
    mediator.clock.advance(601)  # 00:00:01: the page is still open, the ticket is not valid any more
    action, token = token_for(intro, "/questionnaire/start")
    late = second.post(action, {"csrf_token": token, "lang": "fr", "questionnaire": "competences",
                                "assist": ticket})
    assert late.status_code == 200 and EXPIRED in text(late) and MEDIATOR_MODE not in text(late)
    assert visits(mediator) == [1], "nothing started with an expired ticket"
    again = text(second.get(f"/questionnaire?lang=fr&assist={ticket}"))
    assert EXPIRED in again and MEDIATOR_MODE not in again and 'name="assist"' not in again
    second.start()
    assert visits(mediator) == [1, 0]


def _garbled(dash: Dashboard) -> list[str]:
    good = AssistTickets(secret(dash, SECRET_NAME), dash.clock).issue()
    body, _, signature = good.rpartition(".")
    flipped = body + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    until = end_of_day(dash.clock())
    session_key = secret(dash, "dashboard-session")
    return [
        "1", "garbage", ".", "x.y", flipped, body, good + "x", good * 5, "é" * 40, "<script>alert(1)</script>",
        "%00", "\u202e" + good,
        AssistTickets("another kit's secret", dash.clock).issue(),
        URLSafeSerializer(secret(dash, SECRET_NAME), salt="another purpose").dumps({"until": until}),
        URLSafeSerializer(session_key, salt=SALT).dumps({"until": until}),  # the session's key, not the ticket's
        URLSafeSerializer(secret(dash, SECRET_NAME), salt=SALT).dumps({"until": str(until)}),
        URLSafeSerializer(secret(dash, SECRET_NAME), salt=SALT).dumps({"until": True}),
        URLSafeSerializer(secret(dash, SECRET_NAME), salt=SALT).dumps([until]),
        URLSafeSerializer(secret(dash, SECRET_NAME), salt=SALT).dumps({"until": until - 86_400}),
    ]


def test_garbled_forged_or_foreign_tickets_show_the_notice_never_an_error(mediator):
    person = participant(mediator)
    for ticket in _garbled(mediator):
        shown = person.client.get("http://10.42.0.1/questionnaire", query_string={"lang": "fr", "assist": ticket})
        page = text(shown)
        assert shown.status_code == 200, ticket
        assert EXPIRED in page and MEDIATOR_MODE not in page and 'name="assist"' not in page, ticket
        assert "<script>alert(1)</script>" not in page
        action, token = token_for(page, "/questionnaire/start")
        posted = person.post(action, {"csrf_token": token, "lang": "fr", "questionnaire": "competences",
                                      "assist": ticket})
        assert posted.status_code == 200 and EXPIRED in text(posted), ticket
    assert visits(mediator) == []


def test_the_dashboard_session_cookie_is_not_a_ticket(mediator):
    cookie = mediator.client.get_cookie("triporteur_dashboard", domain="127.0.0.1").value
    page = text(participant(mediator).get(f"/questionnaire?lang=fr&assist={cookie}"))
    assert EXPIRED in page and MEDIATOR_MODE not in page


def test_a_ticket_still_needs_the_form_token(mediator):
    person = participant(mediator)
    ticket = ticket_of(link_on_dashboard(mediator))
    posted = person.post("/questionnaire/start", {"csrf_token": "1.x", "lang": "fr", "questionnaire": "competences",
                                                  "assist": ticket})
    assert posted.status_code == 400 and visits(mediator) == []


def test_the_ticket_key_is_the_kits_own_stored_secret_apart_from_the_others(mediator):
    ticket = ticket_of(link_on_dashboard(mediator))
    keys = {name: secret(mediator, name) for name in (SECRET_NAME, "dashboard-session", "dashboard-csrf", "csrf")}
    assert len(set(keys.values())) == len(keys)
    assert AssistTickets(keys[SECRET_NAME], mediator.clock).valid(ticket)
    assert not AssistTickets(keys["dashboard-session"], mediator.clock).valid(ticket)


def test_no_ticket_without_the_login_and_none_in_the_logs(tmp_path, caplog):
    dash = build(tmp_path)
    refused = dash.get("/questionnaire")
    assert refused.status_code == 303 and refused.headers["Location"].startswith("/login")
    assert "assist=" not in refused.get_data(as_text=True)
    caplog.set_level(logging.DEBUG)
    dash.login()
    ticket = ticket_of(link_on_dashboard(dash))
    participant(dash).start(assist=ticket)
    assert ticket not in caplog.text


@pytest.mark.parametrize("until", [None, "", "x", True, 1.5, [1], {"until": 1}])
def test_a_signed_payload_without_a_whole_end_time_is_refused(until):
    tickets = AssistTickets("secret", lambda: 1_790_000_000.0)
    forged = URLSafeSerializer("secret", salt=SALT).dumps({"until": until})
    assert tickets.valid(tickets.issue()) and not tickets.valid(forged)
