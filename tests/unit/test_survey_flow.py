"""The questionnaire through the portal (Flask test client on a real SQLite store): one question per
page, answers saved at each post, resume with a code, results, booklet, appointment, tampered posts."""

from __future__ import annotations

import re
import sqlite3

import pytest

from kiosk.services.survey import visits as survey_service
from kiosk.services.survey.stats import summary
from kiosk.web.assist import kit_tickets
from tests.conftest import PHONE_IP, PortalKit
from tests.support.survey import BASE, Participant, level, question, text, token_for

OTHER_IP = "10.42.0.57"
STRUCTURES = ["Maison France Services de Clamecy", "Médiathèque de Corbigny"]


@pytest.fixture
def kit(portal_kit, tmp_path) -> PortalKit:
    return portal_kit(survey__audio_dir=str(tmp_path / "audio"), survey__partner_structures=STRUCTURES)


def participant(kit: PortalKit, ip: str = PHONE_IP, lang: str = "fr") -> Participant:
    return Participant(kit.phone(ip=ip, mac=None), lang)


def rows(kit: PortalKit, sql: str, *args) -> list[sqlite3.Row]:
    with kit.apps.kit.store.read() as db:
        return db.execute(sql, args).fetchall()


def answers_of(kit: PortalKit, code: str) -> dict:
    visit = rows(kit, "SELECT id FROM survey_visits WHERE resume_code = ?", code)[0]
    return kit.apps.kit.survey.visits.answers(visit["id"])


# -- the participant's way through ----------------------------------------------------------------------

def test_the_landing_page_offers_the_questionnaire_before_the_charter_is_accepted(kit):
    phone = kit.phone()
    landing = text(phone.get(BASE + "/"))
    assert 'href="/questionnaire?lang=fr"' in landing and "Où j'en suis avec le numérique ?" in landing
    assert 'href="/booklet?lang=fr"' in landing and 'href="/appointment?lang=fr"' in landing
    intro = phone.get(BASE + "/questionnaire?lang=fr")
    assert intro.status_code == 200 and "Mes compétences numériques" in text(intro)
    assert kit.apps.kit.access.open_sessions() == [], "no internet session needed"


def test_a_full_questionnaire_gives_bands_per_area_never_a_score(kit):
    person = participant(kit)
    code_page = text(person.start())
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{6}", person.code)
    assert person.code[:3] in code_page and "Notez-le ou prenez-le en photo" in code_page
    results = person.run(level(2))
    page = text(results)
    assert results.status_code == 200 and "Vos résultats" in page
    assert page.count("Autonome sur l'essentiel") == 6  # one band per scored area, worded by autonomy
    words = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
    assert "%" not in words and "score" not in words.lower()
    assert '<svg class="chart"' in page and "<script" not in page
    assert "Plus tard : un parcours Pix en ligne" in page  # on my own everywhere, procedures done alone
    visit = rows(kit, "SELECT * FROM survey_visits")[0]
    assert visit["completed_day"] and visit["version"] == 1 and visit["questionnaire"] == "competences"
    assert visit["assisted"] == 0 and visit["outing_id"] is None


def test_one_question_per_page_with_progress_back_link_and_both_answer_buttons(kit):
    person = participant(kit)
    person.start()
    first = text(person.first_question())
    assert first.count('name="answer"') == 4 and "Question 1 sur 21" in first
    assert '<progress max="21" value="1"' in first
    assert "Question précédente" not in first
    second = text(person.follow(person.answer(first, ["1"])))
    assert "Question 2 sur 21" in second and "Question précédente" in second
    assert 'name="not_understood" value="1"' in second
    back = re.search(r'href="([^"]+/q/f_unlock[^"]*)"', second).group(1).replace("&amp;", "&")
    again = text(person.get(back))
    assert re.search(r'value="1" checked', again), "the answer given is shown again"
    changed = person.answer(again, ["3"])
    assert changed.headers["Location"].endswith("/q/f_wifi?lang=fr"), "carries on with the next question"
    assert answers_of(kit, person.code) == {"f_unlock": 3}


def test_each_answer_is_saved_at_once_and_the_code_resumes_on_another_phone(kit):
    person = participant(kit)
    person.start()
    person.run(level(1), stop_after=5)
    saved = answers_of(kit, person.code)
    assert len(saved) == 5
    # the sheet closed: another phone (another address, no cookie) types the code, lower case with a dash
    other = participant(kit, ip=OTHER_IP)
    intro = text(other.get("/questionnaire?lang=fr"))
    action, token = token_for(intro, "/questionnaire/resume")
    typed = f"{person.code[:3].lower()}-{person.code[3:].lower()}"
    resumed = other.follow(other.post(action, {"csrf_token": token, "lang": "fr", "code": typed}))
    assert "Continuer le questionnaire" in text(resumed)
    next_page = text(other.get(re.search(r'href="([^"]+/q/[^"]+)"', text(resumed)).group(1).replace("&amp;", "&")))
    assert question(next_page).item == "c_official" and "Question 6 sur 21" in next_page


def test_resuming_restores_the_language_the_person_was_using(kit):
    person = participant(kit, lang="ar")
    person.start()
    person.run(level(1), stop_after=2)
    page = text(participant(kit, ip=OTHER_IP).get(f"/questionnaire/v/{person.code}"))
    assert '<html lang="ar" dir="rtl">' in page and "متابعة الاستبيان" in page


def test_a_beginner_skips_the_five_areas_and_gets_a_beginners_workshop(kit):
    person = participant(kit)
    person.start()
    seen: list[str] = []

    def beginner(q):
        seen.append(q.item)
        return ["0"] if q.kind == "radio" and q.values == ["0", "1", "2", "3"] else [q.values[0]]

    page = text(person.run(beginner))
    assert seen == ["f_unlock", "f_wifi", "f_text_size", "n_procedures", "n_manage", "n_learn", "n_equipment"]
    assert page.count("Pas évalué") == 5 and "Je débute" in page
    assert "Un atelier pour débuter" in page


def test_i_dont_understand_is_stored_as_no_answer(kit):
    person = participant(kit)
    person.start()
    page = text(person.first_question())
    assert person.answer(page, not_understood=True).status_code == 303
    assert answers_of(kit, person.code) == {"f_unlock": None}
    assert rows(kit, "SELECT value FROM survey_answers")[0]["value"] is None


def assist_ticket(kit: PortalKit) -> str:
    """A ticket as the dashboard issues it (test_survey_assist.py gets one through the mediator's login)."""
    return kit_tickets(kit.apps.kit.store, kit.clock).issue()


def test_mediator_assisted_visits_are_flagged_on_the_record_and_on_screen(kit):
    person = participant(kit)
    ticket = assist_ticket(kit)
    intro = text(person.get(f"/questionnaire?lang=fr&assist={ticket}"))
    assert "Mode médiateur" in intro
    person.start(assist=ticket)
    assert "Rempli avec un médiateur" in text(person.first_question())
    assert rows(kit, "SELECT assisted FROM survey_visits")[0]["assisted"] == 1


def test_results_details_and_print_pages(kit):
    person = participant(kit)
    person.start()

    def confident_but_fooled(q):
        item = kit.apps.kit.survey.library.default.item(q.item)
        if item.kind == "rating":
            return ["3"]
        if item.id == "c_sms_parcel":
            return ["pay"]
        return level(3)(q)

    results = text(person.run(confident_but_fooled))
    details = text(person.get(f"/questionnaire/v/{person.code}/details?lang=fr"))
    assert "À vérifier : 1 auto-évaluation(s)" in details
    assert details.count('class="tag check"') == 2  # the self-rating and the challenge
    assert "DigComp 4.2 · Pix 4.2" in details and "Pas juste" in details
    printed = text(person.get(f"/questionnaire/v/{person.code}/print?lang=fr"))
    assert 'class="languages"' not in printed and "Vos prochaines étapes" in printed
    assert "Se protéger" in results


# -- tampered, replayed and double posts ----------------------------------------------------------------

def _started(kit, ip=PHONE_IP) -> tuple[Participant, str]:
    person = participant(kit, ip=ip)
    person.start()
    return person, text(person.first_question())


@pytest.mark.parametrize("values", [["7"], ["-1"], ["x"], ["1", "2"], ["0" * 100], ["1.0"], [" 1"]])
def test_out_of_range_answers_are_refused_and_nothing_is_stored(kit, values):
    person, page = _started(kit)
    response = person.answer(page, values)
    assert response.status_code == 400 and "<html" in text(response)
    assert answers_of(kit, person.code) == {}


def test_an_unknown_choice_in_a_multiple_choice_stores_nothing_partial(kit):
    person, page = _started(kit)
    person.run(level(2), stop_after=17)  # up to the procedures question
    page = text(person.get(f"/questionnaire/v/{person.code}/q/n_procedures?lang=fr"))
    before = answers_of(kit, person.code)
    assert person.answer(page, ["caf", "moon"]).status_code == 400
    assert person.answer(page, ["caf", "caf"]).status_code == 400
    assert answers_of(kit, person.code) == before
    mixed = person.answer(page, ["caf", "none"])
    assert mixed.status_code == 422 and "Cette réponse ne va pas avec les autres" in text(mixed)
    empty = person.answer(page, [])
    assert empty.status_code == 422 and "Choisissez une réponse" in text(empty)
    assert answers_of(kit, person.code) == before


def test_an_unknown_item_or_a_token_for_another_item_is_refused(kit):
    person, page = _started(kit)
    q = question(page)
    unknown = person.post(f"/questionnaire/v/{person.code}/q/x_nothing", {"csrf_token": q.token, "answer": "1"})
    assert unknown.status_code == 400
    other_item = person.post(f"/questionnaire/v/{person.code}/q/f_wifi", {"csrf_token": q.token, "answer": "1"})
    assert other_item.status_code == 400
    assert answers_of(kit, person.code) == {}


def test_a_post_carrying_another_persons_code_is_refused(kit):
    alice, alice_page = _started(kit)
    bob, _bob_page = _started(kit, ip=OTHER_IP)
    q = question(alice_page)
    # Alice's form, sent to Bob's visit (from Alice's phone, and from Bob's)
    for sender in (alice, bob):
        response = sender.post(f"/questionnaire/v/{bob.code}/q/f_unlock", {"csrf_token": q.token, "answer": "2"})
        assert response.status_code == 400
    assert answers_of(kit, bob.code) == {} and answers_of(kit, alice.code) == {}


def test_a_replayed_answer_counts_once(kit):
    person, page = _started(kit)
    for _ in range(3):
        assert person.answer(page, ["2"]).status_code == 303
    assert rows(kit, "SELECT COUNT(*) AS n FROM survey_answers")[0]["n"] == 1


def test_a_double_tap_on_start_makes_one_visit(kit):
    person = participant(kit)
    intro = text(person.get("/questionnaire?lang=fr"))
    action, token = token_for(intro, "/questionnaire/start")
    data = {"csrf_token": token, "lang": "fr", "questionnaire": "competences"}
    first, second = person.post(action, data), person.post(action, data)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(rows(kit, "SELECT id FROM survey_visits")) == 1


@pytest.mark.parametrize("field", [{"questionnaire": "other"}, {"questionnaire": ""}, {"csrf_token": "1.x"}])
def test_a_tampered_start_is_refused(kit, field):
    person = participant(kit)
    action, token = token_for(text(person.get("/questionnaire?lang=fr")), "/questionnaire/start")
    data = {"csrf_token": token, "lang": "fr", "questionnaire": "competences", **field}
    assert person.post(action, data).status_code == 400
    assert rows(kit, "SELECT id FROM survey_visits") == []


def test_answers_after_completion_and_to_skipped_items_are_refused(kit):
    person, page = _started(kit)
    f_unlock = page
    person.run(level(2))
    finished = person.answer(f_unlock, ["0"])
    assert finished.status_code == 409 and "Ce questionnaire est terminé" in text(finished)
    assert answers_of(kit, person.code)["f_unlock"] == 2
    beginner, page = _started(kit, ip=OTHER_IP)
    beginner.run(lambda q: ["0"] if q.values == ["0", "1", "2", "3"] else [q.values[0]], stop_after=3)
    skipped = beginner.get(f"/questionnaire/v/{beginner.code}/q/i_search?lang=fr")
    assert skipped.status_code == 303 and skipped.headers["Location"].endswith("/q/n_procedures?lang=fr")


def test_unknown_codes_get_a_404_and_guessing_is_rate_limited(kit):
    person, _ = _started(kit)
    guesser = participant(kit, ip=OTHER_IP)
    for guess in ("ABCDEF", "222222", "XXXXXX", "nope", "O0O0O0", "ZZZZZZ", "ABCDEG", "ABCDEH", "ABCDEJ",
                  "ABCDEK"):
        response = guesser.get(f"/questionnaire/v/{guess}")
        assert response.status_code == 404 and "Ce code n'ouvre rien" in text(response)
    blocked = guesser.get(f"/questionnaire/v/{person.code}")
    assert blocked.status_code == 429 and "Trop d'essais" in text(blocked)
    assert person.get(f"/questionnaire/v/{person.code}").status_code == 200, "others are not blocked"
    kit.clock.advance(601)
    assert guesser.get(f"/questionnaire/v/{person.code}").status_code == 200


def test_the_resume_code_expires_a_week_after_the_last_answer(kit):
    person, page = _started(kit)
    person.answer(page, ["1"])
    kit.clock.advance(8 * 86_400)
    assert person.get(f"/questionnaire/v/{person.code}").status_code == 404


# -- privacy --------------------------------------------------------------------------------------------

def test_no_address_and_no_time_of_day_is_stored_with_answers(kit):
    person = participant(kit)
    person.start()
    person.run(level(2))
    for table in ("survey_visits", "survey_answers", "survey_booklets", "survey_appointments", "survey_requests"):
        columns = {row["name"] for row in rows(kit, f"PRAGMA table_info({table})")}
        assert not columns & {"ip", "mac", "address", "created_at", "time"}, (table, columns)
    dump = "\n".join(kit.apps.kit.store._connection().iterdump())
    assert PHONE_IP not in dump and "5a:11:22" not in dump
    visit = rows(kit, "SELECT started_day, updated_day, completed_day FROM survey_visits")[0]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", day) for day in visit)


# -- booklet ------------------------------------------------------------------------------------------

def _results_page(kit, ip=PHONE_IP, choose=None) -> tuple[Participant, str]:
    person = participant(kit, ip=ip)
    person.start()
    return person, text(person.run(choose or level(1)))


def test_a_booklet_keeps_visits_and_shows_progress_on_the_second_visit(kit):
    person, results = _results_page(kit)
    action, token = token_for(results, "/booklet/from-visit/")
    created = person.post(action, {"csrf_token": token, "lang": "fr"})
    again = person.post(action, {"csrf_token": token, "lang": "fr"})  # double tap
    assert created.headers["Location"] == again.headers["Location"]
    assert len(rows(kit, "SELECT id FROM survey_booklets")) == 1
    booklet_page = text(person.follow(created))
    booklet_code = created.headers["Location"].split("/booklet/")[1].split("?")[0]
    assert len(booklet_code) == 9 and booklet_code != person.code
    assert '<svg role="img" aria-label="' in booklet_page and 'class="qr"' in booklet_page
    assert "Vos progrès" in booklet_page and "Vos objectifs" in booklet_page
    # weeks later, on another phone: the booklet's QR code leads to the booklet, a new visit starts from it
    kit.clock.advance(30 * 86_400)
    later = participant(kit, ip=OTHER_IP)
    page = text(later.get(f"/booklet/{booklet_code}?lang=fr"))
    action, token = token_for(page, "/start")
    later.code = later.post(action, {"csrf_token": token, "lang": "fr"}).headers["Location"].split("/v/")[1][:6]
    second = text(later.run(level(2)))
    assert "Ces résultats sont dans votre livret." in second
    progress = text(later.get(f"/booklet/{booklet_code}?lang=fr"))
    assert progress.count('<section class="visit"') == 2, "a list per visit"
    latest, earlier = progress.split('<section class="visit"')[1:]
    assert "Dernière visite" in latest and latest.count("↑ Progrès") == 6, "the latest visit first, its progress"
    assert "Dernière visite" not in earlier and "↑ Progrès" not in earlier
    entries = kit.apps.kit.survey.booklets.entries(kit.apps.kit.survey.booklets.find(booklet_code, "test"))
    assert [entry.results.bands["safety"] for entry in entries] == [1, 2]


def test_a_visit_joins_an_existing_booklet_with_its_code(kit):
    person, results = _results_page(kit)
    booklet = kit.apps.kit.survey.booklets.create("nonce-1")
    action, token = token_for(results, "/booklet/add-visit/")
    wrong = person.post(action, {"csrf_token": token, "lang": "fr", "booklet_code": "AAA-AAA-AAA"})
    assert wrong.status_code == 404 and "Ce code de livret n'ouvre rien" in text(wrong)
    added = person.post(action, {"csrf_token": token, "lang": "fr", "booklet_code": booklet.code.lower()})
    assert added.status_code == 303 and booklet.code in added.headers["Location"]
    assert rows(kit, "SELECT booklet_id FROM survey_visits")[0]["booklet_id"] == booklet.id


def test_the_person_deletes_the_booklet_and_its_answers_with_the_code_alone(kit):
    person, results = _results_page(kit)
    action, token = token_for(results, "/booklet/from-visit/")
    booklet_code = person.post(action, {"csrf_token": token, "lang": "fr"}).headers["Location"].split("/")[2][:9]
    stranger = participant(kit, ip=OTHER_IP)
    confirm = text(stranger.get(f"/booklet/{booklet_code}/delete?lang=fr"))
    action, token = token_for(confirm, "/delete")
    unconfirmed = stranger.post(action, {"csrf_token": token, "lang": "fr"})
    assert unconfirmed.status_code == 422 and rows(kit, "SELECT id FROM survey_booklets")
    done = stranger.post(action, {"csrf_token": token, "lang": "fr", "confirm": "yes"})
    assert done.status_code == 303 and "effacés du kit" in text(stranger.follow(done))
    for table in ("survey_booklets", "survey_visits", "survey_answers"):
        assert rows(kit, f"SELECT * FROM {table}") == [], table  # noqa: S608 - table names from this test
    assert stranger.get(f"/booklet/{booklet_code}").status_code == 404


# -- appointment --------------------------------------------------------------------------------------

def _appointment(person: Participant, **fields):
    page = text(person.get("/appointment?lang=fr"))
    action, token = token_for(page, "/appointment")
    data = {"csrf_token": token, "lang": "fr", "first_name": "Nadia", "contact": "06 12 34 56 78",
            "structure": STRUCTURES[1], "slot": "morning", "consent": "yes", **fields}
    return person.post(action, {key: value for key, value in data.items() if value is not None}), data


def test_an_appointment_request_needs_its_own_consent_and_is_stored_once(kit):
    person = participant(kit)
    page = text(person.get("/appointment?lang=fr"))
    assert "90 jours au plus" in page and STRUCTURES[0] in page
    refused, _ = _appointment(person, consent=None)
    assert refused.status_code == 422 and "Cochez la case si vous êtes d'accord." in text(refused)
    assert 'value="Nadia"' in text(refused), "what was typed is kept"
    bad, _ = _appointment(person, contact="call me maybe", first_name="")
    assert bad.status_code == 422 and text(bad).count('aria-invalid="true"') == 2
    sent, data = _appointment(person)
    replay = person.post("/appointment", data)
    assert sent.status_code == replay.status_code == 303
    assert "Un médiateur vous contactera bientôt." in text(person.follow(sent))
    assert "déjà envoyé" in text(person.follow(replay)), "the person is told the resend was merged"
    stored = kit.apps.kit.survey.appointments.pending()
    assert [(a.first_name, a.contact, a.structure, a.slot, a.language) for a in stored] == [
        ("Nadia", "06 12 34 56 78", STRUCTURES[1], "morning", "fr")]


def test_a_corrected_appointment_is_stored_and_an_exact_resend_is_merged_and_said(kit):
    person = participant(kit)
    sent, data = _appointment(person, contact="06 12 34 56 87")  # two digits swapped
    assert "déjà envoyé" not in text(person.follow(sent))
    corrected = person.post("/appointment", {**data, "contact": "06 12 34 56 78"})  # the same form, same token
    assert corrected.status_code == 303
    assert "déjà envoyé" not in text(person.follow(corrected))
    resent = person.post("/appointment", {**data, "contact": "06.12.34.56.78"})  # the same number, again
    merged = text(person.follow(resent))
    assert "Demande envoyée" in merged and "Vous aviez déjà envoyé cette même demande" in merged
    stored = kit.apps.kit.survey.appointments.pending()
    assert [a.contact for a in stored] == ["06 12 34 56 87", "06 12 34 56 78"], "the correction is kept"

    # A person asking again later (after the window) is a new request, as is another slot at once.
    other_slot, _ = _appointment(person, slot="afternoon")
    assert "déjà envoyé" not in text(person.follow(other_slot))
    kit.clock.advance(16 * 60)
    later = person.post("/appointment", {**data, "contact": "06 12 34 56 78"})
    assert "déjà envoyé" not in text(person.follow(later))
    assert len(kit.apps.kit.survey.appointments.pending()) == 4


@pytest.mark.parametrize("field", [{"structure": "Elsewhere"}, {"slot": "midnight"}, {"first_name": "x" * 500}])
def test_a_tampered_appointment_is_refused(kit, field):
    response, _ = _appointment(participant(kit), **field)
    assert response.status_code == 400
    assert kit.apps.kit.survey.appointments.pending() == []


# -- retention and statistics ------------------------------------------------------------------------------

def test_purge_follows_each_retention_period(kit):
    _results_page(kit)
    _appointment(participant(kit, ip=OTHER_IP))
    booklet = kit.apps.kit.survey.booklets.create("nonce-2")
    settings = kit.settings
    store = kit.apps.kit.store
    assert survey_service.purge(store, kit.clock() + 6 * 86_400, settings)["resume_codes"] == 0
    counts = survey_service.purge(store, kit.clock() + 8 * 86_400, settings)
    assert counts["resume_codes"] == 1 and counts["visits"] == 0
    counts = survey_service.purge(store, kit.clock() + 91 * 86_400, settings)
    assert counts["appointments"] == 1 and counts["visits"] == 0
    counts = survey_service.purge(store, kit.clock() + 366 * 86_400, settings)
    assert counts == {"visits": 1, "booklets": 1, "appointments": 0, "resume_codes": 0, "slots": 0}
    assert rows(kit, "SELECT * FROM survey_answers") == [] and booklet.id


def test_statistics_count_bands_needs_and_languages_but_never_a_sensitive_need(kit):
    def residence(q):
        if q.item == "n_procedures":
            return ["caf", "residence"]
        return level(1)(q)

    _results_page(kit, choose=residence)
    participant_ar = participant(kit, ip=OTHER_IP, lang="ar")
    participant_ar.start(assist=assist_ticket(kit))
    participant_ar.run(level(3))
    participant(kit, ip="10.42.0.99").start()  # started, not finished
    _appointment(participant(kit))
    day = survey_service.day_of(kit.clock())
    stats = summary(kit.apps.kit.store, kit.apps.kit.survey.library, day, day)
    assert (stats.started, stats.completed, stats.assisted) == (3, 2, 1)
    assert stats.languages == {"fr": 2, "ar": 1}
    assert stats.bands["safety"] == {"with_help": 1, "at_ease": 1}
    assert stats.needs["n_procedures"] == {"caf": 2}, "the residence permit is never counted"
    assert "residence" not in repr(stats) and "Nadia" not in repr(stats)
    assert summary(kit.apps.kit.store, kit.apps.kit.survey.library, day, day, outing_id=7).started == 0


# -- audio ---------------------------------------------------------------------------------------------

def test_audio_elements_appear_only_for_clips_that_exist_and_are_served_from_the_kit(kit, tmp_path):
    from kiosk.services.survey.audio import clips_for

    person, page = _started(kit)
    assert "<audio" not in page
    questionnaire = kit.apps.kit.survey.library.default
    clip = clips_for(questionnaire, questionnaire.item("f_unlock"), "fr")[0]
    folder = tmp_path / "audio" / "fr"
    folder.mkdir(parents=True)
    (folder / f"{clip.name}.opus").write_bytes(b"OggS" + b"\0" * 100)
    page = text(person.get(f"/questionnaire/v/{person.code}/q/f_unlock?lang=fr"))
    assert page.count("<audio") == 1 and 'preload="none"' in page
    assert f'src="/questionnaire/audio/fr/{clip.name}.opus" type="audio/ogg; codecs=opus"' in page
    served = person.get(f"/questionnaire/audio/fr/{clip.name}.opus")
    assert served.status_code == 200 and served.mimetype == "audio/ogg" and served.data.startswith(b"OggS")
    for bad in (f"/questionnaire/audio/xx/{clip.name}.opus", "/questionnaire/audio/fr/..%2fkiosk.db",
                f"/questionnaire/audio/fr/{clip.name}.wav", "/questionnaire/audio/fr/0000000000000000.opus"):
        refused = person.get(bad)
        assert refused.status_code in (302, 404) and b"SQLite" not in refused.data, bad  # 302: off-route
