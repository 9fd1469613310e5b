"""Appointment slots through both apps (Flask test clients on one real SQLite store): a mediator publishes
slots in the dashboard, participants book them on the portal, one slot goes to one person only, and the
confirmation (page, .ics, code) is there to keep."""

from __future__ import annotations

import html
import re
import threading
from pathlib import Path

import icalendar
import pytest

from kiosk.services.survey import visits as survey_service
from tests.support.survey import BASE, text, token_for
from tests.unit.test_dashboard import Dashboard, build

TOMORROW = "2026-09-22"  # the test clock is 2026-09-21 14:13


@pytest.fixture
def mediator(tmp_path: Path) -> Dashboard:
    dash = build(tmp_path, survey__partner_structures=["Maison France Services de Clamecy"])
    assert dash.login().status_code == 303
    return dash


def publish(dash: Dashboard, **changes) -> object:
    values = {"structure": "Maison France Services de Clamecy", "address": "2 rue de la Paix", "commune": "Clamecy",
              "directions": "Next to the town hall, first floor", "day": TOMORROW, "time": "10:00",
              "minutes": "30", "mediator": "Awa"}
    values.update(changes)
    return dash.post("/slots", values)


def phone(dash: Dashboard, ip: str = "10.42.0.50"):
    client = dash.apps.portal.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def booking_form(client, lang: str = "fr") -> tuple[str, str, str]:
    page = text(client.get(f"{BASE}/slots?lang={lang}"))
    _, token = token_for(page, "/slots")
    chosen = re.search(r'name="slot" value="(\d+)" checked', page).group(1)
    return page, token, chosen


def book(client, slot: str, token: str, lang: str = "fr", **changes):
    data = {"csrf_token": token, "lang": lang, "slot": slot, "theme": "family", "first_name": "Mina",
            "contact": "", "consent": "yes"}
    data.update(changes)
    return client.post(f"{BASE}/slots", data=data)


def slot_rows(dash: Dashboard) -> list:
    with dash.apps.kit.store.read() as db:
        return db.execute("SELECT * FROM appointment_slots ORDER BY id").fetchall()


# --- publishing ----------------------------------------------------------------------------------------

def test_a_mediator_publishes_lists_and_deletes_a_slot(mediator):
    assert publish(mediator).status_code == 303
    page = html.unescape(mediator.text("/slots"))
    assert "Créneaux de rendez-vous" in page and "Awa" in page and "Libre" in page
    slot_id = slot_rows(mediator)[0]["id"]
    assert mediator.post(f"/slots/{slot_id}/delete").status_code == 303
    assert slot_rows(mediator) == []


def test_a_slot_in_the_past_or_without_a_mediator_is_refused_with_the_reason(mediator):
    past = publish(mediator, day="2026-09-21", time="09:00")
    assert past.status_code == 422 and "cet horaire est déjà passé" in html.unescape(past.get_data(as_text=True))
    unnamed = publish(mediator, mediator="")
    assert unnamed.status_code == 422 and "prénom" in unnamed.get_data(as_text=True)
    assert slot_rows(mediator) == []


def test_publishing_needs_the_csrf_token(mediator):
    response = mediator.post("/slots", {"structure": "X", "day": TOMORROW, "time": "10:00", "minutes": "30",
                                        "mediator": "Awa"}, token=False)
    assert response.status_code == 400 and slot_rows(mediator) == []


# --- booking ---------------------------------------------------------------------------------------------

def test_without_slots_the_appointment_request_works_as_before(mediator):
    client = phone(mediator)
    response = client.get(f"{BASE}/appointment?lang=fr")
    assert response.status_code == 200 and "Demander un rendez-vous" in text(response)
    assert client.get(f"{BASE}/slots?lang=fr").status_code == 303


def test_a_participant_books_with_a_first_name_only_and_gets_a_confirmation_to_keep(mediator):
    publish(mediator)
    client = phone(mediator)
    assert client.get(f"{BASE}/appointment?lang=fr").headers["Location"].startswith("/slots")
    page, token, chosen = booking_form(client)
    assert "<script" not in page and "avec Awa" in page
    refused = book(client, chosen, token, consent="")
    assert refused.status_code == 422 and slot_rows(mediator)[0]["booked"] is None
    done = book(client, chosen, token)
    assert done.status_code == 303
    confirmation = html.unescape(text(client.get(BASE + done.headers["Location"])))
    assert "Votre rendez-vous" in confirmation and "2 rue de la Paix" in confirmation
    assert "Next to the town hall" in confirmation and "Awa" in confirmation
    assert "Votre numéro CAF" in confirmation  # what to bring for family allowances
    assert '<svg role="img"' in confirmation and "10:00" in confirmation
    row = slot_rows(mediator)[0]
    assert (row["first_name"], row["contact"], row["theme"], row["language"]) == ("Mina", "", "family", "fr")
    again = book(client, chosen, token)  # a double tap: the same booking, not "taken"
    assert again.headers["Location"] == done.headers["Location"]


def test_the_booking_page_is_offered_in_arabic_right_to_left(mediator):
    publish(mediator)
    client = phone(mediator)
    page, token, chosen = booking_form(client, "ar")
    assert '<html lang="ar" dir="rtl">' in page
    done = book(client, chosen, token, lang="ar")
    confirmation = text(client.get(BASE + done.headers["Location"]))
    assert '<html lang="ar" dir="rtl">' in confirmation and "موعدك" in confirmation


def test_many_phones_tapping_the_same_slot_one_gets_it_the_others_are_offered_the_next(mediator):
    publish(mediator)
    publish(mediator, time="11:00")
    first_id = str(slot_rows(mediator)[0]["id"])
    clients = [phone(mediator, f"10.42.0.{60 + n}") for n in range(8)]
    tokens = [booking_form(client)[1] for client in clients]
    results: list = [None] * len(clients)
    barrier = threading.Barrier(len(clients))

    def tap(n: int) -> None:
        barrier.wait()
        results[n] = book(clients[n], first_id, tokens[n], first_name=f"P{n}")

    threads = [threading.Thread(target=tap, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(response.status_code for response in results)
    assert codes == [303] + [409] * (len(clients) - 1)
    refused = html.unescape(text(next(r for r in results if r.status_code == 409)))
    assert "Quelqu'un vient de prendre cet horaire" in refused
    assert f'name="slot" value="{int(first_id) + 1}" checked' in refused  # the next one, offered
    assert sum(row["booked"] is not None for row in slot_rows(mediator)) == 1


def test_values_the_form_cannot_produce_are_refused_and_nothing_is_booked(mediator):
    publish(mediator)
    client = phone(mediator)
    _, token, chosen = booking_form(client)
    assert book(client, chosen, token, theme="<script>").status_code == 400
    assert book(client, "1; DROP TABLE appointment_slots", token).status_code == 400
    assert book(client, chosen, token, first_name="M\u0000ina").status_code == 422
    assert book(client, chosen, "forged").status_code == 400
    assert slot_rows(mediator)[0]["booked"] is None


def test_a_slot_deleted_or_passed_while_the_person_fills_the_form_is_said_plainly(mediator):
    publish(mediator)
    publish(mediator, time="16:00", day="2026-09-21")
    client = phone(mediator)
    _, token, chosen = booking_form(client)
    rows = slot_rows(mediator)
    today_slot = next(row["id"] for row in rows if row["starts"].startswith("2026-09-21"))
    assert chosen == str(today_slot)  # the soonest first
    mediator.clock.advance(2 * 3600)  # 16:13: the 16:00 slot has begun
    late = book(client, chosen, token)
    assert late.status_code == 409 and "est déjà passé" in html.unescape(text(late))
    other = str(next(row["id"] for row in rows if row["id"] != today_slot))
    mediator.post(f"/slots/{other}/delete")
    gone = book(client, other, token)
    assert gone.status_code == 409 and "vient d'être retiré" in html.unescape(text(gone))


def test_todays_outing_mediators_and_commune_come_first(mediator):
    publish(mediator, mediator="Zoé", commune="Corbigny", time="09:00")
    publish(mediator, mediator="Léo", commune="Clamecy", time="09:30")
    publish(mediator, mediator="Jules", commune="Corbigny", time="12:00")
    mediator.start_outing(mediators="Awa, Jules", commune="Clamecy")
    page = text(phone(mediator).get(f"{BASE}/slots?lang=fr"))
    order = [page.index(f"avec {name}") for name in ("Jules", "Léo", "Zoé")]
    assert order == sorted(order)


# --- the confirmation kept -------------------------------------------------------------------------------

def _booked(mediator) -> tuple[object, str]:
    publish(mediator)
    client = phone(mediator)
    _, token, chosen = booking_form(client)
    location = book(client, chosen, token).headers["Location"]
    return client, location.split("?")[0].rsplit("/", 1)[1]


def test_the_ics_file_is_a_calendar_event_with_time_and_place(mediator):
    client, code = _booked(mediator)
    response = client.get(f"{BASE}/slots/{code}/rendez-vous.ics?lang=fr")
    assert response.mimetype == "text/calendar"
    calendar = icalendar.Calendar.from_ical(response.data)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    event = events[0]
    assert event.decoded("dtstart").isoformat() == "2026-09-22T10:00:00"
    assert event.decoded("dtend").isoformat() == "2026-09-22T10:30:00"
    assert "2 rue de la Paix, Clamecy" in str(event["location"])
    assert "Maison France Services de Clamecy" in str(event["summary"])


def test_the_confirmation_is_found_again_with_its_code_and_a_wrong_code_is_said(mediator):
    _, code = _booked(mediator)
    other = phone(mediator, "10.42.0.99")
    page = text(other.get(f"{BASE}/slots/find?lang=fr"))
    _, token = token_for(page, "/slots/find")
    typed = f"{code[:3].lower()}-{code[3:6]} {code[6:]}"
    found = other.post(f"{BASE}/slots/find", data={"csrf_token": token, "lang": "fr", "code": typed})
    assert found.status_code == 303 and code in found.headers["Location"]
    wrong = other.post(f"{BASE}/slots/find", data={"csrf_token": token, "lang": "fr", "code": "22222222"})
    assert wrong.status_code == 404 and "ne correspond à aucun rendez-vous" in html.unescape(text(wrong))


# --- the mediators' day ----------------------------------------------------------------------------------

def test_a_cancelled_booking_frees_the_slot_and_done_is_kept(mediator):
    _, code = _booked(mediator)
    slot_id = slot_rows(mediator)[0]["id"]
    day = html.unescape(mediator.text(f"/slots/day?day={TOMORROW}"))
    assert "Maison France Services de Clamecy" in day and "Mina" in day
    mediator.post(f"/slots/{slot_id}/delete")
    assert slot_rows(mediator)[0]["first_name"] == "Mina", "a booked slot is not deleted under the person"
    mediator.post(f"/slots/{slot_id}/cancelled")
    row = slot_rows(mediator)[0]
    assert row["booked"] is None and row["first_name"] is None
    cancelled = phone(mediator).get(f"{BASE}/slots/{code}?lang=fr")
    assert cancelled.status_code == 404 and "Ce rendez-vous a été annulé" in html.unescape(text(cancelled))
    client = phone(mediator, "10.42.0.77")
    _, token, chosen = booking_form(client)
    assert chosen == str(slot_id)
    book(client, chosen, token, first_name="Yanis")
    mediator.post(f"/slots/{slot_id}/done")
    assert slot_rows(mediator)[0]["outcome"] == "done"


def test_the_structure_export_in_csv_and_icalendar(mediator):
    _booked(mediator)
    structure = "Maison France Services de Clamecy"
    csv_text = mediator.text(f"/slots/export.csv?structure={structure}")
    assert csv_text.splitlines()[0].startswith("structure;address;commune;day;time")
    assert "Mina" in csv_text and TOMORROW in csv_text
    calendar = icalendar.Calendar.from_ical(mediator.get(f"/slots/export.ics?structure={structure}").data)
    assert len(list(calendar.walk("VEVENT"))) == 1
    assert mediator.get("/slots/export.csv?structure=Nowhere").status_code == 404


# --- import ----------------------------------------------------------------------------------------------

def _import(mediator, content: str):
    from io import BytesIO

    return mediator.client.post("http://127.0.0.1:8081/slots/import", content_type="multipart/form-data",
                                data={"csrf_token": mediator.token(),
                                      "planning": (BytesIO(content.encode()), "planning.csv")})


def test_an_import_with_broken_rows_lists_each_problem_and_imports_nothing(mediator):
    content = ("structure;address;commune;directions;day;time;minutes;mediator\n"
               "MFS Clamecy;2 rue de la Paix;Clamecy;;2026-09-23;10:00;30;Awa\n"
               "MFS Clamecy;;Clamecy;;2026-13-01;10:00;30;Awa\n"
               "MFS Clamecy;;Clamecy;;2026-09-23;11:00;25;\n")
    response = _import(mediator, content)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422 and "Rien n'a été importé" in page
    assert "Ligne 3" in page and "Ligne 4" in page and "Ligne 2" not in page
    assert "15, 20, 30, 45, 60, 90 ou 120" in page
    assert slot_rows(mediator) == []
    fixed = content.replace("2026-13-01", "2026-10-01").replace(";25;", ";30;Jules")
    assert _import(mediator, fixed).status_code == 303
    assert len(slot_rows(mediator)) == 3


# --- privacy ---------------------------------------------------------------------------------------------

def test_slots_are_purged_with_appointment_requests_and_a_booked_one_stays_only_counted(mediator):
    _booked(mediator)
    publish(mediator, time="15:00")  # never booked
    mediator.post(f"/slots/{slot_rows(mediator)[0]['id']}/done")
    settings = mediator.apps.kit.settings
    days = settings.survey.appointment_retention_days
    survey_service.purge(mediator.apps.kit.store, mediator.clock() + (days + 1) * 86400, settings)
    assert len(slot_rows(mediator)) == 2
    counts = survey_service.purge(mediator.apps.kit.store, mediator.clock() + (days + 2) * 86400, settings)
    assert counts["slots"] == 2
    [kept] = slot_rows(mediator)
    assert (kept["first_name"], kept["contact"], kept["theme"], kept["code"]) == (None, None, None, None)
    report = html.unescape(mediator.text("/reports/month/2026-09"))
    assert "Créneaux réservés : 1, dont honorés : 1, absents : 0." in report


def test_the_data_protection_page_says_bookings_are_kept_and_for_how_long(mediator):
    _booked(mediator)
    page = html.unescape(mediator.text("/privacy"))
    row = re.search(r"<tr><td>Créneaux de rendez-vous réservés.*?</tr>", page).group(0)
    assert "90 jours après le jour du rendez-vous (ensuite seulement compté)" in row and "<td>1</td>" in row


# --- weight ------------------------------------------------------------------------------------------------

def test_every_booking_page_weighs_at_most_30_kb_in_every_language(mediator):
    from kiosk.settings import KNOWN_LANGUAGES
    from tests.unit.test_page_weight import _ASSET, LIMIT, _size

    for hour in range(8, 23):  # more slots than one page shows, with long names
        publish(mediator, time=f"{hour:02d}:30", structure="Maison France Services de Clamecy-sur-Yonne",
                directions="Entrée par la cour, à gauche après la pharmacie, deuxième étage, porte bleue")
    weights = []
    for n, lang in enumerate(KNOWN_LANGUAGES):
        client = phone(mediator, f"10.42.0.{120 + n}")
        _, token, chosen = booking_form(client, lang)
        responses = {"choose": client.get(f"{BASE}/slots?lang={lang}"),
                     "errors": book(client, chosen, token, lang=lang, first_name="", consent="")}
        done = book(client, chosen, token, lang=lang)
        responses["confirmation"] = client.get(BASE + done.headers["Location"])
        responses["taken"] = book(phone(mediator, f"10.42.0.{140 + n}"), chosen,
                                  booking_form(phone(mediator, f"10.42.0.{140 + n}"), lang)[1], lang=lang)
        responses["find"] = client.get(f"{BASE}/slots/find?lang={lang}")
        for name, response in responses.items():
            assets = _ASSET.findall(text(response))
            total = _size(response) + sum(_size(client.get(asset)) for asset in assets)
            weights.append((f"{lang} {name}", response.status_code, total))
    assert {status for _, status, _ in weights} == {200, 409, 422}
    heavy = [row for row in weights if row[2] > LIMIT]
    assert heavy == [], heavy
    heaviest = max(weights, key=lambda row: row[2])
    print(f"heaviest booking page: {heaviest[0]}, {heaviest[2]} bytes")


def _calendar(*events: tuple[str, str, str]) -> bytes:
    """A structure's calendar as another program writes it (the icalendar library): (start, end, location)."""
    from datetime import datetime

    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//A structure//FR")
    calendar.add("version", "2.0")
    for start, end, location in events:
        event = icalendar.Event()
        event.add("uid", f"{start}@structure")
        event.add("dtstart", datetime.fromisoformat(start))
        event.add("dtend", datetime.fromisoformat(end))
        event.add("location", location)
        event.add("description", "Sonnez à l'interphone, 2e étage")
        calendar.add_component(event)
    return calendar.to_ical()


def _import_ics(dash, content: bytes, **fields):
    from io import BytesIO

    data = {"csrf_token": dash.token(), "structure": "Médiathèque de Corbigny", "commune": "Corbigny",
            "mediator": "Jules", **fields, "planning": (BytesIO(content), "planning.ics")}
    return dash.client.post("http://127.0.0.1:8081/slots/import", content_type="multipart/form-data", data=data)


def test_an_icalendar_planning_is_imported_for_the_structure_named_or_each_broken_event_listed(mediator):
    broken = _calendar(("2026-09-23T10:00", "2026-09-23T10:30", "1 place de l'Église, Corbigny"),
                       ("2026-09-20T10:00", "2026-09-20T10:30", "Passé"),
                       ("2026-09-24T10:00", "2026-09-24T10:25", "25 minutes"))
    refused = _import_ics(mediator, broken)
    page = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 422 and "cet horaire est déjà passé" in page and "la durée doit être" in page
    assert slot_rows(mediator) == []
    good = _calendar(("2026-09-23T10:00", "2026-09-23T10:30", "1 place de l'Église, Corbigny"),
                     ("2026-09-23T14:00", "2026-09-23T15:00", "1 place de l'Église, Corbigny"))
    assert _import_ics(mediator, good, mediator="").status_code == 422  # who receives must be named
    assert _import_ics(mediator, good).status_code == 303
    rows = slot_rows(mediator)
    assert [(row["starts"], row["minutes"], row["mediator"]) for row in rows] == [
        ("2026-09-23T10:00", 30, "Jules"), ("2026-09-23T14:00", 60, "Jules")]
    assert rows[0]["address"] == "1 place de l'Église, Corbigny" and rows[0]["structure"] == "Médiathèque de Corbigny"
    assert rows[0]["directions"] == "Sonnez à l'interphone, 2e étage"
