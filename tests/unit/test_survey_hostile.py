"""Hostile posts to the questionnaire (hypothesis): whatever a phone sends with a valid form token, it
gets an answer below 500, and the store holds either nothing new or exactly one value the question offers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from kiosk.services.survey.content import load_library
from tests.support.survey import Participant, level, question, text

Q = load_library().default
ODD = ("", " ", "0", "3", "4", "-1", "1e3", "caf", "none", "CAF", "caf ", "<script>", "💥", "\x00", "a" * 70,
       "scam", "official", "0x1", "None", "null", "[]")


@pytest.fixture
def scene(portal_kit):
    kit = portal_kit()
    person = Participant(kit.phone(mac=None), "fr")
    person.start()
    person.run(level(2), stop_after=17)  # up to the procedures question
    return kit, person


def fuzz(examples: int):
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _valid(item, value) -> bool:
    if value is None:
        return True
    if item.kind == "multiple":
        return bool(value) and all(item.choice(v) for v in value)
    if item.kind == "rating":
        return value in (0, 1, 2, 3)
    return item.choice(value) is not None


@fuzz(120)
@given(item_id=st.sampled_from(["n_procedures", "f_unlock", "c_official", "n_manage", "x_unknown"]),
       values=st.lists(st.one_of(st.sampled_from(ODD), st.text(max_size=20)), max_size=4),
       extras=st.lists(st.tuples(st.sampled_from(("not_understood", "lang", "item", "code", "x")),
                                 st.sampled_from(ODD)), max_size=3),
       multipart=st.booleans())
def test_any_post_to_a_question_is_answered_and_stores_only_a_valid_value(scene, item_id, values, extras, multipart):
    kit, person = scene
    page = text(person.get(f"/questionnaire/v/{person.code}/q/n_procedures?lang=fr"))
    token = question(page).token
    visit_id = kit.apps.kit.survey.visits.find(person.code, "test").id
    before = kit.apps.kit.survey.visits.answers(visit_id)
    form = MultiDict([("csrf_token", token), *(("answer", value) for value in values), *extras])
    response = person.client.open(f"http://10.42.0.1/questionnaire/v/{person.code}/q/{item_id}", method="POST",
                                  data=form, content_type="multipart/form-data" if multipart else None)
    assert response.status_code < 500 and b"Traceback" not in response.data
    after = kit.apps.kit.survey.visits.answers(visit_id)
    changed = {key for key in after if after[key] != before.get(key)} | (set(before) - set(after))
    assert changed <= {"n_procedures"}, changed
    if changed:
        assert response.status_code == 303 and _valid(Q.item("n_procedures"), after["n_procedures"])
    else:
        assert response.status_code in (303, 400, 409, 422) or response.status_code == 404
