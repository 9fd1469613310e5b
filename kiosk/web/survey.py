"""The questionnaire, one question per screen: start, answer (saved at each post), resume with a code,
results, the mediator's detailed view and a page to print. Plain forms and links: no JavaScript.

A visit's pages live under ``/questionnaire/v/<code>/``; the code is the only key (no cookie). Every form
carries a token bound to the phone and, for answers, to the visit and the question: a post made for one
visit or question is refused on another.

Mediator mode (an *assisted* visit, counted as such in the reports) needs an assist ticket from the dashboard
(``kiosk.web.assist``): ``?assist=<ticket>`` on the intro, then the same ticket in the start form.
"""

from __future__ import annotations

from babel.lists import format_list
from flask import Blueprint, abort, current_app, g, redirect, request, send_file, url_for
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from kiosk.services.survey import rules
from kiosk.services.survey.audio import clips_for
from kiosk.services.survey.content import Item, Questionnaire
from kiosk.services.survey.visits import (
    Finished,
    Incomplete,
    NotAsked,
    Tampered,
    TooManyTries,
    Visit,
    display_code,
    parse_answer,
)
from kiosk.web.assist import AssistTickets, kit_tickets
from kiosk.web.chart import bands_chart
from kiosk.web.survey_common import (
    check_token,
    client_key,
    context,
    page,
    problem,
    text_of,
    token,
    too_many,
    use_language,
)

blueprint = Blueprint("survey", __name__, url_prefix="/questionnaire")

START = "survey-start"
RESUME = "survey-resume"


def answer_purpose(visit: Visit, item_id: str) -> str:
    return f"survey-answer:{visit.id}:{item_id}"


def booklet_purpose(visit: Visit) -> str:
    return f"survey-booklet:{visit.id}"


def _see_other(endpoint: str, **values) -> Response:
    # A full navigation after each post: the captive sheet reloads nothing twice, "Done" appears on iOS.
    return redirect(url_for(endpoint, lang=g.lang, **values), code=303)


def _open(code: str) -> tuple[Visit, Questionnaire] | tuple[str, int, dict[str, str]]:
    """The visit of a code in the URL, in its language; or the page explaining why not."""
    services = context().services
    try:
        visit = services.visits.find(code, client_key())
    except TooManyTries as held:
        return too_many(held)
    if visit is None:
        return problem("unknown_code", 404)
    questionnaire = services.visits.questionnaire_of(visit)
    if questionnaire is None:
        return problem("unknown_code", 404)
    use_language(visit.language)
    return visit, questionnaire


def _questionnaire_pictures(questionnaire: Questionnaire) -> dict[str, str]:
    return {area.id: area.pictogram for area in questionnaire.areas}


def _assist_tickets() -> AssistTickets:
    app = current_app
    if "kiosk.assist" not in app.extensions:
        kit = context().kit
        app.extensions["kiosk.assist"] = kit_tickets(kit.store, kit.adapters.clock)
    return app.extensions["kiosk.assist"]


def _intro_page(ticket: str | None) -> tuple[str, int, dict[str, str]]:
    """The intro, in mediator mode with a valid ticket; a stale or foreign ticket gets a plain notice."""
    library = context().services.library
    assisted = bool(ticket) and _assist_tickets().valid(ticket)
    return page("survey/intro.html", questionnaires=list(library.questionnaires.values()),
                assisted=assisted, assist_ticket=ticket if assisted else None,
                assist_expired=bool(ticket) and not assisted, lang_args={"assist": ticket} if assisted else {},
                start_token=token(START), resume_token=token(RESUME), text_of=text_of, lang_endpoint="survey.intro")


@blueprint.get("")
def intro():
    return _intro_page(request.args.get("assist"))


@blueprint.post("/start")
def start():
    posted = check_token(START)
    services = context().services
    questionnaire = services.library.get(request.form.get("questionnaire", ""))
    if questionnaire is None:
        raise BadRequest("unknown questionnaire")
    ticket = request.form.get("assist")
    assisted = bool(ticket) and _assist_tickets().valid(ticket)
    if ticket and not assisted:
        return _intro_page(ticket)  # expired while the page was open: nothing started, the mediator sees why
    try:
        visit = services.visits.start(questionnaire, g.lang, nonce=posted, assisted=assisted,
                                      client=client_key())
    except Finished:
        return problem("unknown_code", 404)
    return _see_other("survey.code_page", code=visit.code)


@blueprint.post("/resume")
def resume():
    check_token(RESUME)
    services = context().services
    try:
        visit = services.visits.find(request.form.get("code"), client_key())
    except TooManyTries as held:
        return too_many(held)
    if visit is None:
        library = services.library
        return page("survey/intro.html", status=404, questionnaires=list(library.questionnaires.values()),
                    assisted=False, start_token=token(START), resume_token=token(RESUME), text_of=text_of,
                    resume_error=True, lang_endpoint="survey.intro")
    use_language(visit.language)
    return _see_other("survey.code_page", code=visit.code)


@blueprint.get("/v/<code>")
def code_page(code: str):
    opened = _open(code)
    if not isinstance(opened[0], Visit):
        return opened
    visit, questionnaire = opened
    if visit.completed:
        return _see_other("survey.results", code=visit.code)
    answers = context().services.visits.answers(visit.id)
    return page("survey/code.html", visit=visit, code=display_code(visit.code or ""), questionnaire=questionnaire,
                next_item=rules.current(questionnaire, answers), started=bool(answers), text_of=text_of)


def _question_page(visit: Visit, questionnaire: Questionnaire, item: Item, answers: dict, status: int = 200,
                   error: str | None = None, chosen=None):
    asked = rules.path(questionnaire, answers)
    position = asked.index(item.id)
    services = context().services
    clips = [(clip.role, services.audio.files(g.lang if questionnaire.speaks(g.lang) else questionnaire.languages[0],
                                              clip))
             for clip in clips_for(questionnaire, item, g.lang)]
    value = answers.get(item.id) if chosen is None else chosen
    selected = set(value) if isinstance(value, tuple) else {str(value)} if value is not None else set()
    return page("survey/question.html", status=status, visit=visit, questionnaire=questionnaire, item=item,
                area=questionnaire.area(item.area), position=position + 1, total=len(asked),
                previous=asked[position - 1] if position else None, last=position == len(asked) - 1,
                selected=selected, clips=[(role, files) for role, files in clips if files],
                csrf_token=token(answer_purpose(visit, item.id)), code=display_code(visit.code or ""),
                error=error, text_of=text_of, content_lang=g.lang if questionnaire.speaks(g.lang)
                else questionnaire.languages[0])


@blueprint.get("/v/<code>/q/<item_id>")
def question(code: str, item_id: str):
    opened = _open(code)
    if not isinstance(opened[0], Visit):
        return opened
    visit, questionnaire = opened
    if visit.completed:
        return _see_other("survey.results", code=visit.code)
    answers = context().services.visits.answers(visit.id)
    item = questionnaire.item(item_id)
    if item is None or item_id not in rules.path(questionnaire, answers):
        upcoming = rules.current(questionnaire, answers)
        if upcoming is None:
            abort(404)
        return _see_other("survey.question", code=visit.code, item_id=upcoming)
    return _question_page(visit, questionnaire, item, answers)


@blueprint.post("/v/<code>/q/<item_id>")
def answer(code: str, item_id: str):
    opened = _open(code)
    if not isinstance(opened[0], Visit):
        return opened
    visit, questionnaire = opened
    check_token(answer_purpose(visit, item_id))
    item = questionnaire.item(item_id)
    if item is None:
        abort(404)
    services = context().services
    not_understood = request.form.get("not_understood") == "1"
    try:
        value = parse_answer(item, request.form.getlist("answer"), not_understood)
    except Tampered:
        raise BadRequest("not a value this question offers") from None
    except Incomplete as problem_kind:
        answers = services.visits.answers(visit.id)
        if item_id not in rules.path(questionnaire, answers):
            return problem("not_asked", 409, visit=visit)
        chosen = tuple(request.form.getlist("answer")) if item.kind == "multiple" else None
        return _question_page(visit, questionnaire, item, answers, status=422, error=str(problem_kind),
                              chosen=chosen)
    try:
        visit = services.visits.answer(visit, item_id, value, g.lang)
    except Finished:
        return problem("finished", 409, visit=visit)
    except NotAsked:
        return problem("not_asked", 409, visit=visit)
    if visit.completed:
        return _see_other("survey.results", code=visit.code)
    answers = services.visits.answers(visit.id)
    asked = rules.path(questionnaire, answers)
    following = asked[asked.index(item_id) + 1:]
    # The next question on the path (pre-filled when the person came back to change an answer).
    upcoming = following[0] if following else rules.current(questionnaire, answers)
    return _see_other("survey.question", code=visit.code, item_id=upcoming)


def _results_values(visit: Visit, questionnaire: Questionnaire) -> dict:
    services = context().services
    results = services.visits.results(visit)
    if results is None:
        return {}
    rows = [(text_of(questionnaire, area.title), results.bands.get(area.id)) for area in questionnaire.scored_areas]
    strongest = max((band for band in results.bands.values() if band is not None), default=None)
    procedures = questionnaire.with_role("procedures")
    return {"results": results, "visit": visit, "questionnaire": questionnaire, "text_of": text_of,
            "chart": bands_chart(rows, rtl=g.lang == "ar"), "rows": rows,
            "strong_areas": format_list([label for label, band in rows
                                         if band is not None and band == strongest and band >= 2], locale=g.lang),
            "area_title": lambda area_id: text_of(questionnaire, questionnaire.area(area_id).title),
            "procedure_title": lambda choice_id: text_of(questionnaire, procedures.choice(choice_id).text)
            if procedures and procedures.choice(choice_id) else "",
            "code": display_code(visit.code or ""), "pictures": _questionnaire_pictures(questionnaire)}


@blueprint.get("/v/<code>/results")
def results(code: str):
    opened = _open(code)
    if not isinstance(opened[0], Visit):
        return opened
    visit, questionnaire = opened
    if not visit.completed:
        return _see_other("survey.code_page", code=visit.code)
    booklet = context().services.booklets.get(visit.booklet_id) if visit.booklet_id else None
    return page("survey/results.html", booklet=booklet, booklet_token=token(booklet_purpose(visit)),
                **_results_values(visit, questionnaire))


def _detail_rows(questionnaire: Questionnaire, answers: dict) -> list[dict]:
    asked = rules.path(questionnaire, answers)
    flagged = {flag.challenge for flag in rules.flags(questionnaire, answers)}
    flagged |= {flag.rating for flag in rules.flags(questionnaire, answers)}
    rows = []
    for item in questionnaire.items:
        row = {"item": item, "asked": item.id in asked, "answered": item.id in answers, "flag": item.id in flagged,
               "passed": None, "answer": ""}
        value = answers.get(item.id)
        if item.kind == "rating" and isinstance(value, int):
            row["answer"] = text_of(questionnaire, questionnaire.scale[value].text)
        elif isinstance(value, str):
            choice = item.choice(value)
            row["answer"] = text_of(questionnaire, choice.text) if choice else ""
            if item.kind == "challenge":
                row["passed"] = rules.challenge_passed(item, value)
        elif isinstance(value, tuple):
            row["answer"] = ", ".join(text_of(questionnaire, c.text) for c in item.choices if c.id in value)
        rows.append(row)
    return rows


@blueprint.get("/v/<code>/details")
def details(code: str):
    opened = _open(code)
    if not isinstance(opened[0], Visit):
        return opened
    visit, questionnaire = opened
    if not visit.completed:
        return _see_other("survey.code_page", code=visit.code)
    answers = context().services.visits.answers(visit.id)
    return page("survey/details.html", detail_rows=_detail_rows(questionnaire, answers),
                **_results_values(visit, questionnaire))


@blueprint.get("/v/<code>/print")
def print_page(code: str):
    opened = _open(code)
    if not isinstance(opened[0], Visit):
        return opened
    visit, questionnaire = opened
    if not visit.completed:
        return _see_other("survey.code_page", code=visit.code)
    booklet = context().services.booklets.get(visit.booklet_id) if visit.booklet_id else None
    return page("survey/print.html", booklet=booklet, **_results_values(visit, questionnaire))


@blueprint.get("/audio/<language>/<name>")
def audio(language: str, name: str):
    path = context().services.audio.path(language, name)
    if path is None:
        abort(404)
    response = send_file(path, mimetype="audio/ogg" if name.endswith(".opus") else "audio/mpeg",
                         conditional=True, max_age=86_400)
    response.headers["Cache-Control"] = "public, max-age=86400, immutable"  # names change with the text
    return response
