"""Guessing resume and booklet codes, through the portal (Flask test client on a real SQLite store): only a
wrong code counts, the guesser waits (and is told how long), everyone else is served as if nothing happened."""

from __future__ import annotations

import re
import threading

import pytest

from kiosk.services.survey.guesses import GuessLimiter, TooManyGuesses
from kiosk.store import Store
from tests.conftest import PHONE_IP, PortalKit
from tests.support.survey import Participant, level, text, token_for

GUESSERS = [f"10.42.0.{100 + n}" for n in range(10)]
NEWCOMER_IP = "10.42.0.150"  # an eleventh address, that never typed a code


@pytest.fixture
def kit(portal_kit, tmp_path) -> PortalKit:
    return portal_kit(survey__audio_dir=str(tmp_path / "audio"))


def participant(kit: PortalKit, ip: str) -> Participant:
    return Participant(kit.phone(ip=ip, mac=None), "fr")


def _with_booklet_and_started_visit(kit: PortalKit, ip: str) -> tuple[Participant, str, str]:
    """A person who finished a visit, kept a booklet, and started a second visit from it (all on the web)."""
    person = participant(kit, ip)
    person.start()
    results = text(person.run(level(1)))
    action, token = token_for(results, "/booklet/from-visit/")
    created = person.post(action, {"csrf_token": token, "lang": "fr"})
    booklet_code = created.headers["Location"].split("/booklet/")[1].split("?")[0]
    booklet_page = text(person.follow(created))
    action, token = token_for(booklet_page, "/start")
    started = person.post(action, {"csrf_token": token, "lang": "fr"})
    person.code = started.headers["Location"].split("/v/")[1][:6]
    first = person.first_question()
    assert first.status_code == 200
    return person, booklet_code, text(first)


def _wrong_lookup(guesser: Participant, n: int) -> int:
    """One guess of the four kinds a person (or a script) can make: a visit's address, a booklet's address,
    the resume form, the booklet form. Every code is well formed and opens nothing."""
    code = f"{n:06d}".translate(str.maketrans("0123456789", "ABCDEFGHJK"))
    kind = n % 4
    if kind == 0:
        return guesser.get(f"/questionnaire/v/{code}").status_code
    if kind == 1:
        return guesser.get(f"/booklet/{code}AAA").status_code
    if kind == 2:
        _, token = token_for(text(guesser.get("/questionnaire?lang=fr")), "/questionnaire/resume")
        return guesser.post("/questionnaire/resume", {"csrf_token": token, "code": code}).status_code
    _, token = token_for(text(guesser.get("/booklet?lang=fr")), "/booklet/open")
    return guesser.post("/booklet/open", {"csrf_token": token, "code": code + "AAA"}).status_code


def test_a_hundred_wrong_lookups_from_ten_addresses_lock_out_no_participant(kit):
    person, booklet_code, first_page = _with_booklet_and_started_visit(kit, PHONE_IP)
    guessers = [participant(kit, ip) for ip in GUESSERS]
    statuses = [_wrong_lookup(guesser, 10 * i + n) for i, guesser in enumerate(guessers) for n in range(10)]
    assert set(statuses) == {404, 429}
    # The kit's budget (60 wrong codes an hour) is spent by the first six addresses; the four others each get
    # the one lookup anyone gets before being held back.
    assert statuses.count(404) == 60 + 4

    # The participant's visit and booklet, opened before and during the guessing, work on every page.
    assert person.get(f"/questionnaire/v/{person.code}").status_code == 200
    answered = person.answer(first_page, ["1"])
    assert answered.status_code == 303 and "/q/" in answered.headers["Location"]
    assert person.follow(answered).status_code == 200
    booklet = person.get(f"/booklet/{booklet_code}?lang=fr")
    assert booklet.status_code == 200 and "Vos progrès" in text(booklet)
    assert person.get("/appointment?lang=fr").status_code == 200

    # A new participant on an eleventh address starts a visit and answers, and can come back with its code.
    newcomer = participant(kit, NEWCOMER_IP)
    assert newcomer.start().status_code == 200
    page = newcomer.first_question()
    assert page.status_code == 200
    moved_on = newcomer.answer(text(page), ["2"])
    assert moved_on.status_code == 303 and newcomer.follow(moved_on).status_code == 200
    _, token = token_for(text(newcomer.get("/questionnaire?lang=fr")), "/questionnaire/resume")
    back = newcomer.post("/questionnaire/resume", {"csrf_token": token, "code": newcomer.code.lower()})
    assert back.status_code == 303 and newcomer.code in back.headers["Location"]

    # Control: the guessers learn nothing, not even from real codes, and are told how long to wait.
    for guesser in guessers:
        for real in (f"/questionnaire/v/{person.code}", f"/booklet/{booklet_code}",
                     f"/questionnaire/v/{newcomer.code}"):
            held = guesser.get(real)
            assert held.status_code == 429, real
    page = text(held)
    minutes = int(re.search(r"Réessayez dans (\d+) min", page).group(1))
    assert 1 <= minutes <= 60 and int(held.headers["Retry-After"]) > 0
    # The newcomer's first typo is looked up like anyone's; the second waits while the kit is under attack.
    _, token = token_for(text(newcomer.get("/questionnaire?lang=fr")), "/questionnaire/resume")
    assert newcomer.post("/questionnaire/resume", {"csrf_token": token, "code": "ZZZZZZ"}).status_code == 404
    again = newcomer.post("/questionnaire/resume", {"csrf_token": token, "code": "ZZZZZY"})
    assert again.status_code == 429 and "Trop d'essais" in text(again)
    own = newcomer.post("/questionnaire/resume", {"csrf_token": token, "code": newcomer.code})
    assert own.status_code == 303, "its own code, typed again, still opens its visit"

    # After the hour the kit's count falls back and a held address may look up again.
    kit.clock.advance(3601)
    assert guessers[0].get(f"/questionnaire/v/{person.code}").status_code == 200


def test_a_phone_that_guessed_keeps_the_visit_and_booklet_it_opened(kit):
    owner, booklet_code, first_page = _with_booklet_and_started_visit(kit, PHONE_IP)
    other = participant(kit, "10.42.0.60")
    other.start()
    for n in range(10):  # the same phone looks up ten booklets that do not exist (say, a deleted one, reloaded)
        assert owner.get(f"/booklet/{'ABCDEFGHJK'[n]}BBBBBBBB").status_code == 404
    assert owner.get("/booklet/CCCCCCCCC").status_code == 429, "the phone's own budget is spent"

    assert owner.get(f"/questionnaire/v/{owner.code}").status_code == 200
    answered = owner.answer(first_page, ["1"])
    assert answered.status_code == 303 and owner.follow(answered).status_code == 200
    assert owner.get(f"/booklet/{booklet_code}?lang=fr").status_code == 200
    _, token = token_for(text(owner.get("/questionnaire?lang=fr")), "/questionnaire/resume")
    back = owner.post("/questionnaire/resume", {"csrf_token": token, "code": owner.code})
    assert back.status_code == 303, "typing its own code again is served"

    # Control: a code this phone never opened is refused like a wrong one, so the wait cannot be used to guess.
    refused = owner.get(f"/questionnaire/v/{other.code}")
    assert refused.status_code == 429 and "Réessayez dans 10 min" in text(refused)
    assert other.get(f"/questionnaire/v/{other.code}").status_code == 200, "the other phone is not held back"
    kit.clock.advance(601)
    assert owner.get(f"/questionnaire/v/{other.code}").status_code == 200


def test_codes_that_open_something_never_count_as_guesses(kit):
    person = participant(kit, PHONE_IP)
    person.start()
    for _ in range(30):  # reloads, back and forth: far more than the budget of wrong codes
        assert person.get(f"/questionnaire/v/{person.code}").status_code == 200
    assert kit.apps.kit.survey.visits.limiter.wait_s(PHONE_IP) is None


def test_a_deleted_booklets_address_opened_again_is_no_guess(kit):
    owner, booklet_code, _ = _with_booklet_and_started_visit(kit, PHONE_IP)
    page = text(owner.get(f"/booklet/{booklet_code}/delete?lang=fr"))
    action, token = token_for(page, "/delete")
    assert owner.post(action, {"csrf_token": token, "confirm": "yes", "lang": "fr"}).status_code == 303
    later = participant(kit, "10.42.0.61")  # the paper QR code, scanned weeks later on another phone
    for _ in range(15):  # more than a phone's budget of wrong codes
        assert later.get(f"/booklet/{booklet_code}?lang=fr").status_code == 404
        assert later.get(f"/questionnaire/v/{owner.code}").status_code == 404, "its visits went with it"
    assert kit.apps.kit.survey.visits.limiter.wait_s("10.42.0.61") is None
    with kit.apps.kit.store.read() as db:
        kept = [tuple(row) for row in db.execute("SELECT * FROM deleted_codes")]
    assert kept and not any(booklet_code in str(value) or owner.code in str(value) for row in kept for value in row)
    # Control: a booklet code that never existed still counts.
    assert [later.get(f"/booklet/{'ABCDEFGHJKM'[n]}DDDDDDDD").status_code for n in range(11)] \
        == [404] * 10 + [429]


def test_the_kits_budget_survives_a_restart_and_no_address_is_written(portal_kit, tmp_path):
    kit = portal_kit(survey__audio_dir=str(tmp_path / "audio"))
    for i, ip in enumerate(GUESSERS[:6]):  # 60 wrong codes: the kit's budget for the hour
        guesser = participant(kit, ip)
        assert all(_wrong_lookup(guesser, 10 * i + n) == 404 for n in range(10))
    with kit.apps.kit.store.read() as db:
        stored = [tuple(row) for row in db.execute("SELECT * FROM guess_misses")]
    assert len(stored) == 60 and not any("10.42." in str(value) for row in stored for value in row)

    restarted = portal_kit(survey__audio_dir=str(tmp_path / "audio"))  # a new process on the same store
    guesser = participant(restarted, GUESSERS[0])
    assert [_wrong_lookup(guesser, 200 + n) for n in range(3)] == [404, 429, 429], "one lookup, then it waits"
    newcomer = participant(restarted, NEWCOMER_IP)
    newcomer.start()
    assert newcomer.first_question().status_code == 200, "a phone that typed no wrong code is served"

    # Control: an hour later the budget is back, after a restart too.
    restarted.clock.advance(3601)
    again = portal_kit(survey__audio_dir=str(tmp_path / "audio"))
    assert [_wrong_lookup(participant(again, GUESSERS[1]), 300 + n) for n in range(10)] == [404] * 10


def test_setting_the_clock_back_does_not_hold_a_phone_back_until_it_catches_up(kit):
    guesser = participant(kit, GUESSERS[0])
    assert [_wrong_lookup(guesser, n) for n in range(11)] \
        == [404] * 10 + [429]
    kit.clock.advance(-86_400)  # the clock was a day ahead; a phone or the network set it right
    assert _wrong_lookup(guesser, 20) == 404, "the day-ahead guesses no longer count"


def test_parallel_guesses_cannot_slip_past_the_budget():
    """Twenty lookups at once from one phone, each held inside the lookup until all have started: only ten
    get to look. (The lookup is a stand-in here: holding real SQLite reads at one point is not possible.)"""
    limiter = GuessLimiter(clock=lambda: 1_790_000_000.0)
    release, settled = threading.Event(), threading.Semaphore(0)
    outcomes: list[str] = []

    def find(code: str) -> None:
        settled.release()
        release.wait(timeout=30)
        return None

    def guess(n: int) -> None:
        try:
            limiter.lookup("10.42.0.99", f"AAAA{n:02d}".translate(str.maketrans("0123456789", "BCDEFGHJKM")), find)
            outcomes.append("looked")
        except TooManyGuesses:
            outcomes.append("held")
            settled.release()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert settled.acquire(timeout=30)
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["held"] * 10 + ["looked"] * 10


def test_a_store_that_cannot_be_used_still_answers_wrong_codes_and_counts_them_in_memory(tmp_path, caplog):
    """A full or broken disk must not turn a participant's wrong code into an error page."""
    (tmp_path / "not-a-folder").write_text("")
    broken = Store(tmp_path / "not-a-folder" / "kit.sqlite3")  # its folder cannot be made: every access fails
    now = [1_790_000_000.0]
    limiter = GuessLimiter(lambda: now[0], per_phone=3, phone_window_s=60, kit=100, kit_window_s=600,
                           store=broken)
    assert "counting from zero" in caplog.text
    for _ in range(3):
        assert limiter.lookup(PHONE_IP, "WRONG1", lambda code: None) is None
    assert "counted in memory only" in caplog.text
    with pytest.raises(TooManyGuesses):
        limiter.lookup(PHONE_IP, "WRONG2", lambda code: None)
    assert limiter.lookup("10.42.0.77", "RIGHT1", lambda code: "a visit") == "a visit"  # others are served
