"""Every participant page weighs at most 30 KB transferred (headers, HTML, style sheets, images; audio
aside, as it loads only when played) and asks for nothing outside the kit: measured over every page of
the portal, the questionnaire (every question, in every language), the booklet and the appointment."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from werkzeug.test import TestResponse

from kiosk.services.survey.content import load_library
from kiosk.settings import KNOWN_LANGUAGES
from kiosk.web.assist import kit_tickets
from tests.support.survey import BASE, Participant, level, question, text, token_for
from tests.support.system import REPO
from tests.unit.test_portal_probes import accept

LIMIT = 30_000  # bytes
REPORT = REPO / "tests" / "artifacts" / "page-weights.txt"
_ASSET = re.compile(r'<(?:link[^>]+href|img[^>]+src|script[^>]+src|source[^>]+src|iframe[^>]+src)="([^"]+)"')
_ANY_URL = re.compile(r'(?:href|src|action|poster|data)="([^"]*)"')


def _size(response: TestResponse) -> int:
    head = len(f"HTTP/1.1 {response.status}\r\n") + sum(len(f"{k}: {v}\r\n") for k, v in response.headers.items())
    return head + 2 + len(response.get_data())


def pages(kit) -> Iterator[tuple[str, TestResponse, Participant]]:
    """Every page a participant can reach, with a name."""
    questionnaire = load_library().default
    for lang in KNOWN_LANGUAGES:
        person = Participant(kit.phone(ip=f"10.42.0.{30 + KNOWN_LANGUAGES.index(lang)}", mac=None), lang)
        yield f"{lang} landing", person.get(f"/?lang={lang}"), person
        yield f"{lang} info", person.get(f"/info?lang={lang}"), person
        yield f"{lang} intro", person.get(f"/questionnaire?lang={lang}"), person
        ticket = kit_tickets(kit.apps.kit.store, kit.clock).issue()
        yield f"{lang} intro (mediator)", person.get(f"/questionnaire?lang={lang}&assist={ticket}"), person
        yield f"{lang} intro (expired mediator link)", person.get(f"/questionnaire?lang={lang}&assist=x.y"), person
        yield f"{lang} code", person.start(), person
        response = person.first_question()
        for _ in questionnaire.items:
            page = text(response)
            item = re.search(r"/q/(\w+)", token_for(page, "/q/")[0]).group(1)
            yield f"{lang} question {item}", response, person
            if item == "n_procedures":
                yield f"{lang} question {item} (error)", person.answer(page, []), person
            posted = person.answer(page, level(2)(question(page)))
            response = person.follow(posted)
            if "/results" in posted.headers["Location"]:
                break
        yield f"{lang} results", response, person
        results = text(response)
        yield f"{lang} details", person.get(f"/questionnaire/v/{person.code}/details?lang={lang}"), person
        yield f"{lang} print", person.get(f"/questionnaire/v/{person.code}/print?lang={lang}"), person
        action, token = token_for(results, "/booklet/add-visit/")
        yield f"{lang} results, wrong booklet code", person.post(action, {"csrf_token": token, "lang": lang,
                                                                         "booklet_code": "ZZZZZZZZZ"}), person
        action, token = token_for(text(person.get(f"/questionnaire?lang={lang}")), "/resume")
        yield f"{lang} intro, wrong resume code", person.post(action, {"csrf_token": token, "lang": lang,
                                                                       "code": "ZZZZZZ"}), person
        action, token = token_for(text(person.get(f"/booklet?lang={lang}")), "/booklet/open")
        yield f"{lang} booklet open, wrong code", person.post(action, {"csrf_token": token, "lang": lang,
                                                                       "code": "ZZZZZZZZZ"}), person
        action, token = token_for(results, "/booklet/from-visit/")
        created = person.post(action, {"csrf_token": token, "lang": lang})
        booklet = created.headers["Location"].split("/booklet/")[1].split("?")[0]
        shown = person.follow(created)
        action, token = token_for(text(shown), "/start")
        second = person.post(action, {"csrf_token": token, "lang": lang})
        person.code = second.headers["Location"].split("/v/")[1][:6]
        person.run(level(3))
        yield f"{lang} booklet, two visits", person.get(f"/booklet/{booklet}?lang={lang}"), person
        yield f"{lang} booklet open", person.get(f"/booklet?lang={lang}"), person
        yield f"{lang} booklet delete", person.get(f"/booklet/{booklet}/delete?lang={lang}"), person
        yield f"{lang} booklet deleted", person.get(f"/booklet/deleted?lang={lang}"), person
        yield f"{lang} appointment", person.get(f"/appointment?lang={lang}"), person
        form = text(person.get(f"/appointment?lang={lang}"))
        action, token = token_for(form, "/appointment")
        sent_empty = person.post(action, {"csrf_token": token, "lang": lang, "slot": "any",
                                          "structure": "Médiathèque"})
        assert sent_empty.status_code == 422
        yield f"{lang} appointment (errors)", sent_empty, person
        yield f"{lang} appointment done", person.get(f"/appointment/done?lang={lang}"), person
        yield f"{lang} unknown code", person.get(f"/questionnaire/v/ZZZZZZ?lang={lang}"), person
        yield f"{lang} out-of-date form", person.post("/questionnaire/start", {"lang": lang}), person
        assert accept(person.client, lang=lang).status_code == 303
        yield f"{lang} connected", person.get(f"/welcome?lang={lang}"), person


language_links: list[tuple[str, int]] = []


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> list[tuple[str, int, int, list[str]]]:
    from kiosk import create_app
    from kiosk.runtime import Adapters
    from tests.conftest import FixedUplink, ManualClock, PortalKit, make_settings

    tmp = tmp_path_factory.mktemp("weights")
    settings = make_settings(tmp, survey__partner_structures=["Maison France Services", "Médiathèque"])
    clock, uplink = ManualClock(), FixedUplink()
    kit = PortalKit(create_app(settings, Adapters(uplink=uplink, clock=clock)), clock, uplink, tmp / "leases", settings)
    results = []
    asset_sizes: dict[str, int] = {}
    language_links.clear()
    for name, response, person in pages(kit):
        assert response.status_code < 500, name
        page = text(response)
        assets = _ASSET.findall(page)
        for asset in assets:
            if asset not in asset_sizes:
                fetched = person.get(asset.replace("&amp;", "&"))
                assert fetched.status_code == 200, (name, asset)
                asset_sizes[asset] = _size(fetched)
        total = _size(response) + sum(asset_sizes[asset] for asset in assets)
        results.append((name, response.status_code, total, _ANY_URL.findall(page)))
        for link, code in re.findall(r'<a href="([^"]+)" lang="(\w\w)"', page)[:2]:
            switched = person.get(link.replace("&amp;", "&"))
            language_links.append((f"{name} → {code}", switched.status_code))
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("".join(f"{total:6d} B  {status}  {name}\n" for name, status, total, _ in
                              sorted(results, key=lambda row: -row[2])), encoding="utf-8")
    return results


def test_every_page_weighs_at_most_30_kb_with_its_style_sheets(measured):
    assert len(measured) > 5 * 30, "every question in every language was measured"
    heavy = [(name, total) for name, _status, total, _ in measured if total > LIMIT]
    assert heavy == [], heavy
    heaviest = max(measured, key=lambda row: row[2])
    print(f"heaviest page: {heaviest[0]}, {heaviest[2]} bytes; report in {REPORT}")


def test_no_page_asks_for_anything_outside_the_kit(measured):
    for name, _status, _total, urls in measured:
        outside = [url for url in urls if re.match(r"^(?:[a-z]+:)?//", url, re.I) and not url.startswith(BASE)]
        assert outside == [], (name, outside)


def test_no_page_needs_javascript(measured, portal_kit):
    person = Participant(portal_kit().phone(), "fr")
    person.start()
    for path in ("/questionnaire", f"/questionnaire/v/{person.code}", "/booklet", "/appointment"):
        page = text(person.get(path))
        assert "<script" not in page and " onclick=" not in page and "javascript:" not in page, path


def test_the_language_links_of_every_page_lead_somewhere(measured):
    assert len(language_links) > 100
    broken = [(name, status) for name, status in language_links if status >= 400]
    assert broken == [], broken
