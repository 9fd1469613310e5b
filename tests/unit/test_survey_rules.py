"""The questionnaire's rules on the shipped questionnaire: skip rules, bands, "to check" flags, next steps.
Examples pin the documented thresholds; hypothesis checks the properties over any set of answers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.services.survey import rules
from kiosk.services.survey.content import Area, Item, Level, Questionnaire, load_library

Q = load_library().default
SCORED = [area.id for area in Q.scored_areas]
FOUNDATION_ITEMS = [item.id for item in Q.items if item.area == "foundation"]
SKILL_ITEMS = [item.id for item in Q.items if item.kind in ("rating", "challenge") and item.area != "foundation"]


def correct(item_id: str) -> str:
    return next(choice.id for choice in Q.item(item_id).choices if choice.correct)


def wrong(item_id: str) -> str:
    return next(choice.id for choice in Q.item(item_id).choices if not choice.correct)


def all_rated(level: int, challenges_right: bool = True) -> dict:
    answers: dict = {}
    for item in Q.items:
        if item.kind == "rating":
            answers[item.id] = level
        elif item.kind == "challenge":
            answers[item.id] = correct(item.id) if challenges_right else wrong(item.id)
        elif item.kind == "multiple":
            answers[item.id] = (item.choices[0].id,)
        else:
            answers[item.id] = item.choices[0].id
    return answers


# -- strategies ---------------------------------------------------------------------------------------

def value_for(item) -> st.SearchStrategy:
    if item.kind == "rating":
        real = st.integers(0, 3)
    elif item.kind in ("challenge", "single"):
        real = st.sampled_from([choice.id for choice in item.choices])
    else:
        plain = [choice.id for choice in item.choices if not choice.exclusive]
        exclusive = [choice.id for choice in item.choices if choice.exclusive]
        real = st.lists(st.sampled_from(plain), min_size=1, unique=True).map(
            lambda ids: tuple(c.id for c in item.choices if c.id in ids))
        if exclusive:
            real = st.one_of(real, st.sampled_from([(choice_id,) for choice_id in exclusive]))
    return st.one_of(st.none(), real)  # None: "I don't understand the question"


@st.composite
def answer_sets(draw: st.DrawFn) -> dict:
    answers = {}
    for item in Q.items:
        if draw(st.booleans()) or draw(st.booleans()):  # mostly answered, sometimes not yet
            answers[item.id] = draw(value_for(item))
    return answers


# -- examples -----------------------------------------------------------------------------------------

def test_the_default_questionnaire_asks_every_item_of_someone_on_their_own():
    assert rules.path(Q, all_rated(2)) == [item.id for item in Q.items]


def test_a_beginner_on_the_foundation_goes_straight_to_the_needs():
    answers = {item_id: 0 for item_id in FOUNDATION_ITEMS}
    asked = rules.path(Q, answers)
    assert asked[:len(FOUNDATION_ITEMS)] == FOUNDATION_ITEMS
    assert asked[len(FOUNDATION_ITEMS)] == "n_procedures"
    assert not set(asked) & set(SKILL_ITEMS)
    assert rules.current(Q, answers) == "n_procedures"


def test_the_gate_waits_for_the_whole_foundation_block():
    # two beginner answers, the third not given yet: the person still gets the third question
    assert rules.current(Q, {"f_unlock": 0, "f_wifi": 0}) == "f_text_size"


def test_not_understanding_the_foundation_does_not_trigger_the_gate():
    answers = {item_id: None for item_id in FOUNDATION_ITEMS}
    assert rules.current(Q, answers) == "i_search"
    assert rules.bands(Q, answers)["foundation"] is None


def tiny_questionnaire(count: int) -> Questionnaire:
    """One scored area of ``count`` self-ratings: the band rule alone."""
    text = {"fr": "t"}
    return Questionnaire("t", 1, ("fr",), text, text, 10, tuple(Level(n, text, "p") for n in range(4)),
                         Level(-1, text, "p"), (Area("a", text, "p"),),
                         tuple(Item(f"r{n}", "a", "rating", text) for n in range(count)))


@pytest.mark.parametrize(("levels", "band"), [
    ([0], rules.BEGINNER), ([0, 1, 1], rules.BEGINNER),  # mean 0.67
    ([0, 1, 2, 0], rules.WITH_HELP),  # mean exactly 0.75
    ([1, 2, 1, 1], rules.WITH_HELP), ([1, 2], rules.ON_MY_OWN),  # mean exactly 1.5
    ([2, 2, 3, 2], rules.ON_MY_OWN), ([2, 3], rules.AT_EASE),  # mean exactly 2.5
    ([3, 3, 2], rules.AT_EASE), ([], None),
])
def test_band_thresholds_are_the_documented_ones(levels, band):
    questionnaire = tiny_questionnaire(max(len(levels), 1))
    answers = {f"r{n}": level for n, level in enumerate(levels)}
    assert rules.bands(questionnaire, answers) == {"a": band}


def test_a_failed_challenge_lowers_the_area_by_one_step_and_is_flagged_when_rated_high():
    answers = all_rated(3)
    assert rules.bands(Q, answers)["safety"] == rules.AT_EASE
    answers["c_sms_parcel"] = wrong("c_sms_parcel")
    assert rules.bands(Q, answers)["safety"] == rules.ON_MY_OWN
    answers["c_sms_caf"] = wrong("c_sms_caf")  # a second failure in the same area: still one step
    assert rules.bands(Q, answers)["safety"] == rules.ON_MY_OWN
    assert {(flag.challenge, flag.rating) for flag in rules.flags(Q, answers)} == {
        ("c_sms_parcel", "s_scam"), ("c_sms_caf", "s_scam")}


def test_a_failed_challenge_after_a_low_self_rating_is_not_flagged():
    answers = all_rated(1)
    answers["c_official"] = wrong("c_official")
    assert rules.flags(Q, answers) == []


def test_no_global_score_only_bands_per_scored_area():
    assert set(rules.bands(Q, all_rated(2))) == set(SCORED)
    assert "needs" not in rules.bands(Q, all_rated(2))


def test_next_steps_for_a_beginner_with_a_caf_procedure_done_by_someone_else():
    answers = {item_id: 0 for item_id in FOUNDATION_ITEMS}
    answers.update(n_procedures=("caf",), n_manage="someone", n_learn=("phone",), n_equipment=("smartphone",))
    assert rules.next_steps(Q, answers) == [rules.Step("beginners_workshop"),
                                            rules.Step("procedure_help", procedure="caf")]


def test_next_steps_for_someone_at_ease_everywhere_is_a_pix_course():
    answers = all_rated(3)
    answers.update(n_procedures=("none",), n_manage="alone")
    assert rules.next_steps(Q, answers) == [rules.Step("pix_course")]


def test_themed_workshop_prefers_the_weak_area_the_person_wants_to_learn():
    answers = all_rated(2)
    for item_id in ("i_search", "i_official", "s_password", "s_scam"):
        answers[item_id] = 1
    answers.update(n_procedures=("none",), n_manage="alone", n_learn=("safety",))
    assert rules.next_steps(Q, answers)[0] == rules.Step("themed_workshop", area="safety")
    answers["n_learn"] = ("search",)
    assert rules.next_steps(Q, answers)[0] == rules.Step("themed_workshop", area="information")


# -- properties ----------------------------------------------------------------------------------------

ORDER = {item.id: n for n, item in enumerate(Q.items)}


@settings(max_examples=150, deadline=None)
@given(answers=answer_sets())
def test_the_path_is_an_ordered_subset_from_the_first_to_the_last_item(answers):
    asked = rules.path(Q, answers)
    positions = [ORDER[item_id] for item_id in asked]
    assert positions == sorted(set(positions)), "no repeat, never backwards"
    assert asked[0] == Q.items[0].id and asked[-1] == Q.items[-1].id
    assert set(FOUNDATION_ITEMS) <= set(asked)
    skipped = set(SKILL_ITEMS) - set(asked)
    assert skipped in (set(), set(SKILL_ITEMS)), "the gate skips the whole block or nothing"
    if skipped:
        assert rules.bands(Q, answers)["foundation"] == rules.BEGINNER


@settings(max_examples=150, deadline=None)
@given(answers=answer_sets())
def test_the_current_question_is_the_first_unanswered_one_on_the_path(answers):
    upcoming = rules.current(Q, answers)
    asked = rules.path(Q, answers)
    if upcoming is None:
        assert all(item_id in answers for item_id in asked)
    else:
        assert upcoming in asked and upcoming not in answers
        assert all(item_id in answers for item_id in asked[:asked.index(upcoming)])


@settings(max_examples=150, deadline=None)
@given(answers=answer_sets())
def test_bands_are_per_area_and_only_count_what_was_asked(answers):
    bands = rules.bands(Q, answers)
    assert set(bands) == set(SCORED)
    assert all(band is None or band in range(4) for band in bands.values())
    asked = set(rules.path(Q, answers))
    kept = {item_id: value for item_id, value in answers.items() if item_id in asked or item_id in FOUNDATION_ITEMS}
    assert rules.bands(Q, kept) == bands, "answers to skipped items change nothing"


@settings(max_examples=150, deadline=None)
@given(answers=answer_sets(), item_id=st.sampled_from([i.id for i in Q.items if i.kind == "rating"]))
def test_not_understanding_counts_as_no_answer_not_as_zero(answers, item_id):
    understood_nothing = dict(answers, **{item_id: None})
    not_answered = {key: value for key, value in answers.items() if key != item_id}
    assert rules.bands(Q, understood_nothing) == rules.bands(Q, not_answered)


@settings(max_examples=150, deadline=None)
@given(answers=answer_sets(), item_id=st.sampled_from([i.id for i in Q.items if i.kind == "rating"]),
       new_level=st.integers(0, 3))
def test_rating_oneself_higher_never_lowers_a_band_in_that_area(answers, item_id, new_level):
    before = answers.get(item_id)
    if not isinstance(before, int) or new_level <= before:
        return
    area = Q.item(item_id).area
    raised = dict(answers, **{item_id: new_level})
    old, new = rules.bands(Q, answers)[area], rules.bands(Q, raised)[area]
    if item_id in rules.path(Q, answers) and rules.path(Q, raised) == rules.path(Q, answers):
        assert new is not None and old is not None and new >= old


@settings(max_examples=150, deadline=None)
@given(answers=answer_sets(), item_id=st.sampled_from([i.id for i in Q.items if i.kind == "challenge"]))
def test_failing_a_challenge_never_raises_a_band(answers, item_id):
    area = Q.item(item_id).area
    failed = dict(answers, **{item_id: wrong(item_id)})
    passed = dict(answers, **{item_id: correct(item_id)})
    low, high = rules.bands(Q, failed)[area], rules.bands(Q, passed)[area]
    assert (low is None) == (high is None)
    if low is not None:
        assert high - 1 <= low <= high


@settings(max_examples=150, deadline=None)
@given(answers=answer_sets())
def test_flags_point_at_a_failed_challenge_and_a_confident_self_rating(answers):
    for flag in rules.flags(Q, answers):
        challenge = Q.item(flag.challenge)
        assert rules.challenge_passed(challenge, answers[flag.challenge]) is False
        assert answers[flag.rating] >= rules.ON_MY_OWN
        assert challenge.checks == flag.rating and challenge.area == flag.area


@settings(max_examples=200, deadline=None)
@given(answers=answer_sets())
def test_one_or_two_distinct_next_steps_from_clear_rules(answers):
    steps = rules.next_steps(Q, answers)
    assert 1 <= len(steps) <= 2 and len(set(steps)) == len(steps)
    assert steps == rules.next_steps(Q, dict(reversed(list(answers.items())))), "order of answers is irrelevant"
    bands = rules.bands(Q, answers)
    if bands["foundation"] is not None and bands["foundation"] <= rules.WITH_HELP:
        assert steps[0] == rules.Step("beginners_workshop")
    assessed = [band for band in bands.values() if band is not None]
    for step in steps:
        assert step.kind in ("beginners_workshop", "procedure_help", "themed_workshop", "pix_course",
                             "talk_to_mediator")
        if step.kind == "pix_course":
            assert assessed and min(assessed) >= rules.ON_MY_OWN
        if step.kind == "themed_workshop":
            assert step.area in SCORED
        if step.kind == "procedure_help":
            chosen = answers.get("n_procedures") or ()
            assert step.procedure in chosen and step.procedure != "none"
