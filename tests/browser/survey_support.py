"""What the questionnaire's browser tests share: ``kiosk serve`` with the spoken clips built, phones with
JavaScript off, and a participant who reads the page and taps like a person."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from kiosk.services.survey.content import load_library
from tests.browser.test_portal_browser import CHROMIUM, CHROMIUM_ARGS, Phone, Portal, _screenshot, _write_config
from tests.support.system import free_port, kiosk_command, need_binary, stop, wait_for_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

QUESTIONNAIRE = load_library().default
STRUCTURES = ["Maison France Services de Clamecy", "Médiathèque de Corbigny"]
screenshot = _screenshot


@pytest.fixture
def survey_portal(tmp_path: Path) -> Iterator[Portal]:
    """``kiosk serve`` with partner structures and the French and Arabic clips built by the real command."""
    need_binary("espeak-ng")
    need_binary("opusenc")
    portal_port, dashboard_port = free_port(), free_port()
    while dashboard_port == portal_port:
        dashboard_port = free_port()
    config = _write_config(tmp_path, portal_port, dashboard_port)
    audio = tmp_path / "audio"
    with config.open("a", encoding="utf-8") as handle:
        handle.write(f"\n[survey]\naudio_dir = {json.dumps(str(audio))}\n"
                     f"partner_structures = {json.dumps(STRUCTURES, ensure_ascii=False)}\n")
    built = subprocess.run(kiosk_command("--config", str(config), "content", "build-audio", "--language", "fr",
                                         "--language", "ar"), capture_output=True, text=True, timeout=300,
                           cwd=tmp_path, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    process = subprocess.Popen(kiosk_command("--config", str(config), "serve"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        wait_for_port(portal_port, process)
        yield Portal(portal_port)
    finally:
        print(f"--- kiosk serve output ---\n{stop(process)}")


def new_phone(browser: Browser, locale: str = "fr-FR", javascript: bool = False) -> Phone:
    """A small phone's captive sheet (JavaScript off), or, for the accessibility checks only, a tab with
    JavaScript on so that axe-core can run in it. 320 × 568: the smallest phones still in use."""
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 320, "height": 568},
                                  device_scale_factor=2, is_mobile=True, has_touch=True, locale=locale)
    page = context.new_page()
    tab = Phone(page)
    context.on("request", lambda request: tab.requests.append(request.url))
    return tab


def item_of(page: Page) -> str:
    return urlsplit(page.url).path.rsplit("/", 1)[1]


def answer(page: Page, item_id: str, level: int) -> None:
    """Tap the answer a person at this level would give, then "Next". Challenges: right from level 2 on."""
    item = QUESTIONNAIRE.item(item_id)
    assert item is not None, item_id
    if item.kind == "rating":
        value = str(level)
    elif item.kind == "challenge":
        value = next(choice.id for choice in item.choices if choice.correct == (level >= 2))
    else:
        value = item.choices[0].id
    page.locator(f'label:has(input[name="answer"][value="{value}"])').click()
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state("load")


def code_on(page: Page) -> str:
    return re.sub(r"[^0-9A-Z]", "", page.locator(".bigcode").inner_text())


__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "QUESTIONNAIRE", "Phone", "Portal", "answer", "code_on", "item_of",
           "new_phone", "screenshot", "survey_portal"]
