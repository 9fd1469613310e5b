"""A phone's captive mini-browser, played by Debian's Chromium with JavaScript off, against ``kiosk serve``.

The landing page, the switch to Arabic (right to left) and the charter's acceptance are full page
navigations: no script runs, as in the sheets iOS and Android open on joining the Wi-Fi.
Screenshots are kept in tests/artifacts/ (and copied to $KIOSK_SCREENSHOTS_DIR when it is set).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.support.system import REPO, free_port, kiosk_command, stop, unavailable, wait_for_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "tests" / "artifacts"
SCREENSHOTS_ENV = "KIOSK_SCREENSHOTS_DIR"
SMALL_PHONE = {"width": 320, "height": 568}  # the smallest phones still in use: the README's screenshots

ARABIC = "العربية"
ACCEPT_AR = "أوافق، الدخول إلى الإنترنت"
CONNECTED_AR = "أنت متصل"

pytestmark = pytest.mark.browser


@dataclass
class Portal:
    """A running ``kiosk serve``, reached on 127.0.0.1."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def owns(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme == "http" and parts.netloc == f"127.0.0.1:{self.port}"


@dataclass
class Phone:
    """A browser tab with the URLs of every request it made."""

    page: Page
    requests: list[str] = field(default_factory=list)


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _write_config(tmp_path: Path, portal_port: int, dashboard_port: int) -> Path:
    leases = tmp_path / "dnsmasq.leases"
    leases.touch()
    config = tmp_path / "kiosk.toml"
    config.write_text(
        "[store]\n"
        f"path = {_toml_string(str(tmp_path / 'kiosk.db'))}\n"
        "\n[portal]\n"
        f'listen = "127.0.0.1:{portal_port}"\n'
        f'public_url = "http://127.0.0.1:{portal_port}/"\n'
        "\n[dashboard]\n"
        f'listen = "127.0.0.1:{dashboard_port}"\n'
        "\n[network]\n"
        f"dhcp_leases = {_toml_string(str(leases))}\n"
        # This machine has no internet: the uplink is judged by its default route alone.
        "\n[uplink]\ncheck_enabled = false\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    """The real server, as the kit's service runs it, on free local ports."""
    portal_port = free_port()
    dashboard_port = free_port()
    while dashboard_port == portal_port:
        dashboard_port = free_port()
    config = _write_config(tmp_path, portal_port, dashboard_port)
    process = subprocess.Popen(kiosk_command("--config", str(config), "serve"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        wait_for_port(portal_port, process)
        yield Portal(portal_port)
    finally:
        output = stop(process)
        print(f"--- kiosk serve output ---\n{output}")  # shown by pytest when the test fails


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        unavailable("the playwright Python package is missing (pip install -e '.[test]')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Phone]:
    """A small Android phone's captive sheet: no JavaScript, narrow touch screen."""
    context: BrowserContext = browser.new_context(
        java_script_enabled=False,
        viewport=SMALL_PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="fr-FR",
    )
    try:
        page = context.new_page()
        tab = Phone(page)
        context.on("request", lambda request: tab.requests.append(request.url))
        yield tab
    finally:
        context.close()


def _screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    """Keep a PNG (the whole page, or the first screen) as a test artefact, and in $KIOSK_SCREENSHOTS_DIR if
    asked."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    extra = os.environ.get(SCREENSHOTS_ENV)
    if extra:
        target = Path(extra)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / name)
    return path


def _assert_language(page: Page, code: str, direction: str) -> None:
    from playwright.sync_api import expect

    html = page.locator("html")
    expect(html).to_have_attribute("lang", code)
    expect(html).to_have_attribute("dir", direction)


def _accept_button(page: Page, name: str) -> Locator:
    """The charter's button, or a clear failure when the kit believes it has no uplink."""
    button = page.get_by_role("button", name=name)
    if button.count() == 0:
        notice = page.locator(".notice.down")
        explanation = notice.inner_text() if notice.count() else "(no notice either)"
        pytest.fail(f"no accept button on the landing page; the uplink check (default route) reads as down? "
                    f"The page says: {explanation}")
    return button


def test_phone_without_javascript_switches_to_arabic_accepts_and_is_connected(portal: Portal, phone: Phone) -> None:
    from playwright.sync_api import expect

    page = phone.page
    response = page.goto(portal.url, wait_until="load")
    assert response is not None and response.status == 200, response
    _assert_language(page, "fr", "ltr")
    assert page.locator("script").count() == 0, "the portal must work without JavaScript"
    _screenshot(page, "portal-landing-fr.png")

    page.get_by_role("link", name=ARABIC, exact=True).click()
    page.wait_for_url(lambda url: urlsplit(url).query == "lang=ar", wait_until="load")
    _assert_language(page, "ar", "rtl")
    _screenshot(page, "portal-landing-ar.png")

    _accept_button(page, ACCEPT_AR).click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/welcome", wait_until="load")
    _assert_language(page, "ar", "rtl")
    expect(page.get_by_role("heading", level=1)).to_have_text(CONNECTED_AR)
    _screenshot(page, "portal-welcome-ar.png")

    assert urlsplit(page.url).path == "/welcome"
    assert phone.requests, "no request was seen"
    outside = [url for url in phone.requests if not portal.owns(url)]
    assert outside == [], f"the portal made the phone fetch from elsewhere: {outside}"
