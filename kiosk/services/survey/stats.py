"""Anonymous aggregate statistics of the questionnaire, for the mediators' dashboard and funders' reports.

Only counts over a period (days, inclusive) and optionally one outing: visits started and completed,
mediator-assisted ones, per language, per band of each area, per need, per next step, "to check" flags.
Never an appointment request, never a resume or booklet code, never a sensitive need (a choice marked
``sensitive`` in the content: it can reveal a person's origin).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from kiosk.services.survey.content import BANDS, Library
from kiosk.store import Store


@dataclass
class Summary:
    since: str
    until: str
    outing_id: int | None
    started: int = 0
    completed: int = 0
    assisted: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    # area -> band name (or "not_assessed") -> count, completed visits only
    bands: dict[str, dict[str, int]] = field(default_factory=dict)
    # needs item id -> choice id -> count (sensitive choices left out)
    needs: dict[str, dict[str, int]] = field(default_factory=dict)
    next_steps: dict[str, int] = field(default_factory=dict)
    to_check: dict[str, int] = field(default_factory=dict)  # area -> flags


def summary(store: Store, library: Library, since: str, until: str, outing_id: int | None = None) -> Summary:
    """Counts for visits started between ``since`` and ``until`` (YYYY-MM-DD, both included)."""
    args = (since, until, outing_id, outing_id)
    with store.read() as db:
        visits = db.execute(
            "SELECT v.id, v.questionnaire, v.language, v.assisted, v.results FROM survey_visits v "
            "WHERE v.started_day >= ? AND v.started_day <= ? AND (? IS NULL OR v.outing_id = ?)", args).fetchall()
        answers = db.execute(
            "SELECT a.visit_id, a.item, a.value FROM survey_answers a JOIN survey_visits v ON v.id = a.visit_id "
            "WHERE v.results IS NOT NULL AND v.started_day >= ? AND v.started_day <= ? "
            "AND (? IS NULL OR v.outing_id = ?)", args).fetchall()
    result = Summary(since, until, outing_id, started=len(visits))
    languages: Counter[str] = Counter()
    bands: dict[str, Counter[str]] = {}
    steps: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    questionnaire_of: dict[int, str] = {}
    for visit in visits:
        languages[visit["language"]] += 1
        result.assisted += visit["assisted"]
        questionnaire_of[visit["id"]] = visit["questionnaire"]
        if not visit["results"]:
            continue
        result.completed += 1
        snapshot = json.loads(visit["results"])
        for area, band in snapshot["bands"].items():
            bands.setdefault(area, Counter())[BANDS[band] if band is not None else "not_assessed"] += 1
        for kind, area, _procedure in snapshot["steps"]:
            steps[f"{kind}:{area}" if area else kind] += 1
        for _challenge, _rating, area in snapshot["flags"]:
            flags[area] += 1
    needs: dict[str, Counter[str]] = {}
    for row in answers:
        questionnaire = library.get(questionnaire_of.get(row["visit_id"], ""))
        item = questionnaire.item(row["item"]) if questionnaire else None
        if item is None or item.kind not in ("single", "multiple") or row["value"] is None:
            continue
        chosen = json.loads(row["value"])
        for choice_id in chosen if isinstance(chosen, list) else [chosen]:
            choice = item.choice(choice_id)
            if choice is not None and not choice.sensitive:
                needs.setdefault(item.id, Counter())[choice_id] += 1
    result.languages = dict(languages)
    result.bands = {area: dict(counter) for area, counter in bands.items()}
    result.needs = {item: dict(counter) for item, counter in needs.items()}
    result.next_steps = dict(steps)
    result.to_check = dict(flags)
    return result
