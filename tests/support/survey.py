"""A participant answering the questionnaire through the portal's test client, as a browser would: it
reads each page, takes the form's token and posts what a person could tick."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import KIT_IP

BASE = f"http://{KIT_IP}"
_FORM = re.compile(r'<form method="post" action="(?P<action>[^"]+)"[^>]*>(?P<body>.*?)</form>', re.S)


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def forms(page: str) -> dict[str, str]:
    """action → the token of that form."""
    found = {}
    for match in _FORM.finditer(page):
        token = re.search(r'name="csrf_token" value="([^"]+)"', match.group("body"))
        found[html.unescape(match.group("action"))] = token.group(1) if token else ""
    return found


def token_for(page: str, action_part: str) -> tuple[str, str]:
    for action, token in forms(page).items():
        if action_part in action:
            return action, token
    raise AssertionError(f"no form posting to *{action_part}* in:\n{page[:3000]}")


@dataclass
class Question:
    item: str
    action: str
    token: str
    values: list[str]  # the values the page offers for "answer"
    kind: str  # "radio" or "checkbox"
    page: str


def question(page: str) -> Question:
    action, token = token_for(page, "/q/")
    values = re.findall(r'name="answer" value="([^"]+)"', page)
    kind = "checkbox" if 'type="checkbox" name="answer"' in page else "radio"
    return Question(action.rsplit("/", 1)[1], action, token, values, kind, page)


class Participant:
    def __init__(self, client: FlaskClient, lang: str = "fr") -> None:
        self.client = client
        self.lang = lang
        self.code: str | None = None

    def get(self, path: str) -> TestResponse:
        return self.client.get(path if path.startswith("http") else BASE + path)

    def post(self, path: str, data: dict) -> TestResponse:
        return self.client.post(path if path.startswith("http") else BASE + path, data=data)

    def follow(self, response: TestResponse) -> TestResponse:
        assert response.status_code == 303, (response.status_code, text(response)[:2000])
        return self.get(response.headers["Location"])

    def start(self, assist: str | None = None) -> TestResponse:
        """Opens the intro (with the dashboard's assist ticket ``assist``, if given), presses start; returns the
        "your code" page."""
        intro = text(self.get(f"/questionnaire?lang={self.lang}" + (f"&assist={assist}" if assist else "")))
        action, token = token_for(intro, "/questionnaire/start")
        data = {"csrf_token": token, "lang": self.lang, "questionnaire": "competences"}
        carried = re.search(r'name="assist" value="([^"]*)"', intro)
        if carried:
            data["assist"] = html.unescape(carried.group(1))
        response = self.post(action, data)
        location = response.headers["Location"]
        self.code = location.split("/v/")[1].split("?")[0]
        return self.follow(response)

    def first_question(self) -> TestResponse:
        page = text(self.get(f"/questionnaire/v/{self.code}"))
        link = re.search(r'href="([^"]+/q/[^"]+)"', page)
        assert link, page[:2000]
        return self.get(html.unescape(link.group(1)))

    def answer(self, page: str, values: list[str] | None = None, not_understood: bool = False,
               extra: dict | None = None) -> TestResponse:
        q = question(page)
        data: dict = {"csrf_token": q.token, "lang": self.lang}
        if values:
            data["answer"] = values
        if not_understood:
            data["not_understood"] = "1"
        data.update(extra or {})
        return self.post(q.action, data)

    def run(self, choose: Callable[[Question], list[str] | None], limit: int = 40,
            stop_after: int | None = None) -> TestResponse:
        """Answer from the current question on; ``choose`` returns the values, or None for "I don't
        understand". Stops at the results page (or after ``stop_after`` answers)."""
        response = self.first_question()
        for count in range(limit):
            page = text(response)
            q = question(page)
            picked = choose(q)
            posted = self.answer(page, picked, not_understood=picked is None)
            response = self.follow(posted)
            if "/results" in posted.headers["Location"] or (stop_after and count + 1 >= stop_after):
                return response
        raise AssertionError("the questionnaire did not end")


def level(n: int) -> Callable[[Question], list[str] | None]:
    """Rate every skill at level n, pass every challenge (the first correct-looking choice is not known
    here: take the choice ids the content marks right), tick the first choice of the others."""
    from kiosk.services.survey.content import load_library

    questionnaire = load_library().default

    def choose(q: Question) -> list[str] | None:
        item = questionnaire.item(q.item)
        assert item is not None
        if item.kind == "rating":
            return [str(n)]
        if item.kind == "challenge":
            return [next(choice.id for choice in item.choices if choice.correct)]
        return [item.choices[0].id]

    return choose
