"""The questionnaire's rules, as pure functions of the content and the answers: which items are asked
(skip rules), the band per area, the "to check" flags and the next steps. No global score, ever.

Answers map an item id to its value: a level 0–3 (rating), a choice id (challenge, single), a tuple of
choice ids (multiple), or None for "I don't understand the question" — an answer that counts as none.

Bands, per scored area, from the self-ratings of the items actually asked:
  mean level < 0.75 → beginner; < 1.5 → with help; < 2.5 → on my own for the essentials; else at ease.
  A failed mini-challenge in the area lowers the band by one step (once per area, never below beginner).
  No self-rating answered in the area → no band ("not assessed").
"To check": a challenge failed while its self-rating (``checks``) said "on my own" or better.

Next steps (one or two, the first rules that apply, in this order):
  1. the foundation band is beginner or with help → a beginners' workshop;
  2. the person has procedures to do and does not do them on their own → help with a procedure at a
     partner structure (the first procedure chosen);
  3. the weakest other area at "with help" or below → a workshop on that area (ties: the areas the person
     wants to learn first, then the questionnaire's order);
  4. every assessed area at "on my own" or better → a Pix course, later, online;
  5. otherwise a workshop on the first area the person wants to learn, or a talk with a mediator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kiosk.services.survey.content import Item, Questionnaire

AnswerValue = int | str | tuple[str, ...] | None
Answers = Mapping[str, AnswerValue]

BEGINNER, WITH_HELP, ON_MY_OWN, AT_EASE = range(4)
FOUNDATION = "foundation"


@dataclass(frozen=True)
class Flag:
    challenge: str
    rating: str
    area: str


@dataclass(frozen=True)
class Step:
    kind: str  # beginners_workshop, procedure_help, themed_workshop, pix_course, talk_to_mediator
    area: str | None = None
    procedure: str | None = None  # a choice id of the procedures item


def path(questionnaire: Questionnaire, answers: Answers) -> list[str]:
    """The items asked, in order, given the answers so far. Gates only jump forward, so this ends."""
    gates = {gate.after: gate for gate in questionnaire.gates}
    asked: list[str] = []
    position = 0
    while position < len(questionnaire.items):
        item = questionnaire.items[position]
        asked.append(item.id)
        gate = gates.get(item.id)
        if gate is not None:
            band = _band(questionnaire, gate.area, answers, asked)
            if band is not None and band <= gate.band_at_most:
                position = questionnaire.index(gate.skip_to)
                continue
        position += 1
    return asked


def current(questionnaire: Questionnaire, answers: Answers) -> str | None:
    """The first item on the path not answered yet; None when the questionnaire is complete."""
    return next((item_id for item_id in path(questionnaire, answers) if item_id not in answers), None)


def challenge_passed(item: Item, value: AnswerValue) -> bool | None:
    """True/False for an answered challenge; None when not answered or not understood."""
    if not isinstance(value, str):
        return None
    choice = item.choice(value)
    return None if choice is None else choice.correct


def _band(questionnaire: Questionnaire, area: str, answers: Answers, asked: list[str]) -> int | None:
    total = count = 0
    failed = False
    for item_id in asked:
        item = questionnaire.item(item_id)
        if item is None or item.area != area:
            continue
        value = answers.get(item_id)
        if item.kind == "rating" and isinstance(value, int) and not isinstance(value, bool):
            total += value
            count += 1
        elif item.kind == "challenge" and challenge_passed(item, value) is False:
            failed = True
    if count == 0:
        return None
    # integer comparisons of the mean against 0.75, 1.5 and 2.5
    if 4 * total < 3 * count:
        band = BEGINNER
    elif 2 * total < 3 * count:
        band = WITH_HELP
    elif 2 * total < 5 * count:
        band = ON_MY_OWN
    else:
        band = AT_EASE
    return max(BEGINNER, band - 1) if failed else band


def bands(questionnaire: Questionnaire, answers: Answers) -> dict[str, int | None]:
    asked = path(questionnaire, answers)
    return {area.id: _band(questionnaire, area.id, answers, asked) for area in questionnaire.scored_areas}


def flags(questionnaire: Questionnaire, answers: Answers) -> list[Flag]:
    found: list[Flag] = []
    for item_id in path(questionnaire, answers):
        item = questionnaire.item(item_id)
        if item is None or item.kind != "challenge" or item.checks is None:
            continue
        rating = answers.get(item.checks)
        if (challenge_passed(item, answers.get(item_id)) is False and isinstance(rating, int)
                and rating >= ON_MY_OWN):
            found.append(Flag(item.id, item.checks, item.area))
    return found


def _chosen(questionnaire: Questionnaire, role: str, answers: Answers, asked: list[str]) -> tuple[Item | None, list]:
    item = questionnaire.with_role(role)
    if item is None or item.id not in asked:
        return item, []
    value = answers.get(item.id)
    ids = value if isinstance(value, tuple) else (value,) if isinstance(value, str) else ()
    return item, [choice for choice in item.choices if choice.id in ids and not choice.exclusive]


def next_steps(questionnaire: Questionnaire, answers: Answers) -> list[Step]:
    asked = path(questionnaire, answers)
    area_bands = bands(questionnaire, answers)
    _, procedures = _chosen(questionnaire, "procedures", answers, asked)
    _, manage = _chosen(questionnaire, "manage_today", answers, asked)
    _, wishes = _chosen(questionnaire, "learn", answers, asked)
    wished_areas = [choice.area for choice in wishes if choice.area]
    steps: list[Step] = []

    def add(step: Step) -> None:
        if step not in steps and len(steps) < 2:
            steps.append(step)

    foundation = area_bands.get(FOUNDATION)
    if foundation is not None and foundation <= WITH_HELP:
        add(Step("beginners_workshop"))
    wants_procedures = any(choice.procedures for choice in wishes)
    if procedures and (any(choice.help_needed for choice in manage) or wants_procedures):
        add(Step("procedure_help", procedure=procedures[0].id))
    others = [area.id for area in questionnaire.scored_areas if area.id != FOUNDATION]
    weak = [area for area in others if area_bands.get(area) is not None and area_bands[area] <= WITH_HELP]
    if weak:
        lowest = min(area_bands[area] for area in weak)  # type: ignore[type-var]
        candidates = [area for area in weak if area_bands[area] == lowest]
        preferred = [area for area in wished_areas if area in candidates]
        add(Step("themed_workshop", area=(preferred or candidates)[0]))
    assessed = [band for band in area_bands.values() if band is not None]
    if assessed and all(band >= ON_MY_OWN for band in assessed):
        add(Step("pix_course"))
    if not steps:
        wished = [area for area in wished_areas if area in area_bands]
        add(Step("themed_workshop", area=wished[0]) if wished else Step("talk_to_mediator"))
    return steps
