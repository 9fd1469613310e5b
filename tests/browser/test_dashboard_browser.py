"""A mediator's phone (Debian's Chromium through Playwright, phone-sized, JavaScript off) on the dashboard of a
running ``kiosk serve``: log in, start an outing, record an activity in three taps, see it in the report,
download the CSV and check its columns, then lend a simulated Android tablet and watch it being wiped, live.

The tablet is the tablets' stand: a simulated device speaking ADB over TCP, driven by Debian's real adb
server. Screenshots are kept in tests/artifacts/ (and copied to $KIOSK_SCREENSHOTS_DIR when it is set).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from kiosk.services.auth import write_password_file
from kiosk.services.mediation.activity import EXPORT_COLUMNS, NATIONAL_COLUMNS
from tests.browser import test_portal_browser as portal_browser
from tests.browser.test_portal_browser import ARTIFACTS, SCREENSHOTS_ENV, SMALL_PHONE, _screenshot, _write_config
from tests.stands import tablets as stands
from tests.stands.tablets import open_tablets, tablet_settings
from tests.support.system import free_port, kiosk_command, stop, wait_for_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser
browser = portal_browser.browser
adb_server = stands.adb_server
android_tablets = stands.android_tablets  # fixtures

PASSWORD = "tricycle au marché"  # noqa: S105 - the test kit's own password
SLOW_STEPS = {"am switch-user": 1.2, "pm remove-user": 1.5}  # long enough to see the wipe happen


@dataclass
class Dashboard:
    port: int
    requests: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def owns(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme == "http" and parts.netloc == f"127.0.0.1:{self.port}"


@pytest.fixture
def served(tmp_path: Path, adb_server, android_tablets) -> Iterator[tuple[int, object]]:
    """``kiosk serve`` with a dashboard password, and one simulated Android tablet enrolled and ready."""
    portal_port, dashboard_port = free_port(), free_port()
    while dashboard_port == portal_port:
        dashboard_port = free_port()
    config = _write_config(tmp_path, portal_port, dashboard_port)
    password_file = tmp_path / "secrets" / "dashboard.password"
    write_password_file(password_file, PASSWORD)
    settings = tablet_settings(tmp_path, adb_port=adb_server.port)
    with config.open("a", encoding="utf-8") as handle:
        handle.write("\n[tablets]\n" + "".join(
            f"{key.split('.')[1]} = {json.dumps(settings[key], ensure_ascii=False)}\n"
            for key in ("tablets.ssh_key", "tablets.adb_server_port", "tablets.android_apps",
                        "tablets.step_timeout_seconds", "tablets.retries")))
    text = config.read_text(encoding="utf-8").replace(
        "[dashboard]\n", f"[dashboard]\npassword_file = {json.dumps(str(password_file))}\n")
    config.write_text(text, encoding="utf-8")

    tablet = android_tablets(delays=SLOW_STEPS)
    tablets = open_tablets(settings)
    tablets.enroll_android("tab-1", address=tablet.serial)
    assert tablets.wipe(["tab-1"])[0].status == "ready"

    process = subprocess.Popen(kiosk_command("--config", str(config), "serve"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        wait_for_port(dashboard_port, process)
        yield dashboard_port, tablet
    finally:
        print(f"--- kiosk serve output ---\n{stop(process)}")


@pytest.fixture
def mediator_phone(browser: Browser, served, tmp_path: Path) -> Iterator[tuple[Page, Dashboard, object]]:
    """The mediator's phone: narrow, touch, French, JavaScript off (every page must work without it)."""
    port, tablet = served
    context = browser.new_context(java_script_enabled=False, viewport=SMALL_PHONE,
                                  device_scale_factor=2, is_mobile=True, has_touch=True, locale="fr-FR",
                                  accept_downloads=True)
    dashboard = Dashboard(port, [])
    context.on("request", lambda request: dashboard.requests.append(request.url))
    try:
        yield context.new_page(), dashboard, tablet
    finally:
        context.close()


def screenshot(page: Page, name: str, full_page: bool = True) -> None:
    if full_page:
        _screenshot(page, name)
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))
    extra = os.environ.get(SCREENSHOTS_ENV)
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy2(ARTIFACTS / name, Path(extra) / name)


def _status_of(page: Page, name: str):
    return page.locator(f"#tablet-{name} .status")


def test_a_mediator_runs_an_outing_from_the_phone(mediator_phone, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page, dashboard, tablet = mediator_phone

    # Every page is behind the login.
    page.goto(dashboard.url + "reports", wait_until="load")
    assert urlsplit(page.url).path == "/login"
    expect(page.get_by_role("heading", level=1)).to_have_text("Tableau de bord des médiateurs")
    _screenshot(page, "dashboard-login.png")
    page.fill("#password", "pas le bon")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator(".note.error")).to_contain_text("Mot de passe incorrect")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/reports")

    # Start an outing.
    page.get_by_role("link", name="État").click()
    expect(page.locator(".outing-card h2")).to_have_text("Aucune sortie en cours")
    page.get_by_role("link", name="Commencer une sortie").click()
    page.fill("#place", "Place de l'église")
    page.fill("#commune", "Clamecy")
    page.fill("#insee_code", "58079")
    page.locator("label.chip-choice", has_text="Place").first.click()
    page.fill("#mediators", "Awa, Jules")
    _screenshot(page, "dashboard-outing.png")
    page.get_by_role("button", name="Commencer la sortie").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/")
    expect(page.locator(".outing-card h2")).to_have_text("Place de l'église")
    expect(page.locator(".note.ok")).to_contain_text("Sortie commencée")
    _screenshot(page, "dashboard-status.png")

    # Record an activity: the kind, a theme, save. A procedure alone is refused in plain words, as La Coop does.
    page.get_by_role("link", name="Noter une activité").click()
    expect(page.locator("ul.kinds")).not_to_contain_text("Aide à une démarche")
    page.get_by_role("link", name=re.compile("Accompagnement individuel")).click()  # tap 1
    page.locator("label.chip-choice", has_text="Logement").click()  # tap 2
    page.locator("label.chip-choice", has_text="45 min").click()
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator(".note.error")).to_contain_text(
        "Une démarche va avec le thème « Aide aux démarches administratives » : cochez-le aussi")
    expect(page.locator("input[name=procedure_themes][value=logement]")).to_be_checked()  # nothing to re-tick
    page.locator("label.chip-choice", has_text="Aide aux démarches administratives").click()
    screenshot(page, "dashboard-activity.png", full_page=False)  # as the phone shows it: Save at hand
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator(".note.ok")).to_have_text("Enregistré.")
    expect(page.locator(".records li").first).to_contain_text("Accompagnement individuel · 45 min")

    # See it in the outing's report, and download the activities.
    page.get_by_role("link", name="Bilans").click()
    page.get_by_role("link", name=re.compile("Place de l'église")).click()
    expect(page.locator("section.figures")).to_contain_text("1 activités notées")
    expect(page.locator("main")).to_contain_text("Logement: 1")
    assert page.locator("svg.chart").count() >= 2
    _screenshot(page, "dashboard-report.png")
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger les activités (CSV)").click()
    saved = download.value.path()
    assert saved is not None
    text = Path(saved).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert tuple(rows[0]) == EXPORT_COLUMNS and tuple(rows[0][:len(NATIONAL_COLUMNS)]) == NATIONAL_COLUMNS
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["Type"] == "Accompagnement individuel"
    assert record["Thématique(s) d’accompagnement"] == "Aide aux démarches administratives\nLogement"
    assert record["Nom du lieu"] == "Place de l'église" and record["Commune"] == "Clamecy"
    assert record["Code Insee"] == "58079"
    assert len(rows) == 2

    # Lend the tablet, get it back, and watch its wipe on the page, which refreshes itself.
    page.get_by_role("link", name="Tablettes").click()
    expect(_status_of(page, "tab-1")).to_have_text("Prête")
    page.locator("#tablet-tab-1").get_by_role("button", name="Prêter").click()
    give_back = page.locator("#tablet-tab-1").get_by_role("button", name="Rendue : l'effacer")
    expect(give_back).to_be_visible(timeout=30_000)  # shown once the tablet is ready for the participant
    expect(_status_of(page, "tab-1")).to_have_text("Prêtée")
    assert tablet.state.current != 0, "the participant's own user is in front"
    _screenshot(page, "dashboard-tablets-lent.png")
    give_back.click()
    expect(_status_of(page, "tab-1")).to_have_text("Effacement")
    _screenshot(page, "dashboard-tablets-wiping.png")
    url_before = page.url
    expect(_status_of(page, "tab-1")).to_have_text("Prête", timeout=60_000)  # no tap: the page refreshed itself
    assert page.url == url_before
    expect(page.locator("#tablet-tab-1 .reason")).to_have_text("vérifiée propre")
    assert tablet.state.user_ids() == [0]
    _screenshot(page, "dashboard-tablets.png")

    # The loan belongs to the outing.
    page.get_by_role("link", name="Bilans").click()
    page.get_by_role("link", name=re.compile("Place de l'église")).click()
    expect(page.locator("section.figures")).to_contain_text("1 prêts de tablettes")

    # The questionnaire in mediator mode: a link and its QR code, opened here on a tablet's browser.
    page.get_by_role("link", name="Tablettes").click()
    page.get_by_role("link", name=re.compile("Questionnaire accompagné")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Questionnaire accompagné")
    expect(page.locator("svg.qr")).to_be_visible()
    _screenshot(page, "dashboard-assisted.png")
    link = page.locator("#assisted-link").get_attribute("href")
    assert link and "/questionnaire?assist=" in link
    assert page.context.browser is not None
    tablet_browser = page.context.browser.new_context(java_script_enabled=False, locale="fr-FR")
    try:
        on_tablet = tablet_browser.new_page()
        on_tablet.goto(link, wait_until="load")
        expect(on_tablet.locator(".notice.assisted")).to_contain_text("Mode médiateur")
        on_tablet.locator("form[action='/questionnaire/start'] button").click()
        on_tablet.locator("a.button").click()
        expect(on_tablet.locator(".notice.assisted")).to_have_text("Rempli avec un médiateur")
    finally:
        tablet_browser.close()

    outside = [url for url in dashboard.requests if not dashboard.owns(url)]
    assert outside == [], f"the dashboard made the phone fetch from elsewhere: {outside}"


def test_the_clock_page_reads_the_phones_time_when_scripts_run(browser, served) -> None:
    from playwright.sync_api import expect

    port, _tablet = served
    context = browser.new_context(viewport=SMALL_PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="fr-FR")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(f"http://127.0.0.1:{port}/clock", wait_until="load")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(lambda url: urlsplit(url).path == "/clock")
        expect(page.locator("#difference")).to_have_text("Votre téléphone et le kit sont à la même heure.")
        expect(page.locator("#phone-time")).to_have_text(re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}"))
        assert errors == [], f"the page's script failed (or the CSP blocked it): {errors}"
        _screenshot(page, "dashboard-clock.png")
    finally:
        context.close()


@pytest.fixture
def dashboard_only(tmp_path: Path) -> Iterator[int]:
    """``kiosk serve`` with a dashboard password and no tablet: what re-typing into La Coop needs."""
    portal_port, dashboard_port = free_port(), free_port()
    while dashboard_port == portal_port:
        dashboard_port = free_port()
    config = _write_config(tmp_path, portal_port, dashboard_port)
    password_file = tmp_path / "secrets" / "dashboard.password"
    write_password_file(password_file, PASSWORD)
    text = config.read_text(encoding="utf-8").replace(
        "[dashboard]\n", f"[dashboard]\npassword_file = {json.dumps(str(password_file))}\n")
    config.write_text(text, encoding="utf-8")
    process = subprocess.Popen(kiosk_command("--config", str(config), "serve"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        wait_for_port(dashboard_port, process)
        yield dashboard_port
    finally:
        print(f"--- kiosk serve output ---\n{stop(process)}")


def test_at_the_end_of_an_outing_a_mediator_reads_each_record_in_la_coops_form_order(browser, dashboard_only) -> None:
    from openpyxl import load_workbook
    from playwright.sync_api import expect

    reference = json.loads((Path(__file__).parents[1] / "fixtures" / "la_coop" / "reference.json")
                           .read_text(encoding="utf-8"))
    context = browser.new_context(java_script_enabled=False, viewport=SMALL_PHONE,
                                  device_scale_factor=2, is_mobile=True, has_touch=True, locale="fr-FR",
                                  accept_downloads=True)
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{dashboard_only}/outing", wait_until="load")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(lambda url: urlsplit(url).path == "/outing")
        page.fill("#place", "Parking de la mairie")
        page.fill("#commune", "Clamecy")
        page.fill("#insee_code", "58079")
        page.fill("#postcode", "58500")
        page.get_by_role("button", name="Commencer la sortie").click()
        page.wait_for_url(lambda url: urlsplit(url).path == "/")

        # An individual accompaniment with its autonomy, then a workshop of 4.
        page.get_by_role("link", name="Noter", exact=True).click()
        page.get_by_role("link", name=re.compile("Accompagnement individuel")).click()
        page.locator("label.chip-choice", has_text="E-mail").first.click()
        page.locator("label.chip-choice", has_text="60 min").click()
        page.locator("summary").click()
        page.locator("label.chip-choice", has_text="Autonome avec un peu d'aide").click()
        page.get_by_role("button", name="Enregistrer").click()
        expect(page.locator(".note.ok")).to_have_text("Enregistré.")
        page.get_by_role("link", name="Noter", exact=True).click()
        page.get_by_role("link", name=re.compile("Atelier collectif")).click()
        page.locator("label.chip-choice", has_text="Sécurité en ligne").click()
        page.fill("#participants", "4")
        page.fill("#workshop_title", "Éviter les arnaques")
        page.locator("summary").click()
        page.fill("#count_feminin", "3")
        page.fill("#count_masculin", "1")
        page.fill("#count_soixante_dix_plus", "2")
        page.get_by_role("button", name="Enregistrer").click()
        expect(page.locator(".note.ok")).to_have_text("Enregistré.")

        # End the outing: its report offers the records as La Coop's form asks for them.
        page.get_by_role("link", name="Sortie", exact=True).click()
        page.get_by_role("button", name="Terminer la sortie").click()
        page.get_by_role("link", name="À saisir dans La Coop").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("À saisir dans La Coop")
        sheets = page.locator("section.sheet")
        expect(sheets).to_have_count(2)
        expect(sheets.nth(0).locator("h2")).to_contain_text("Fiche 1 sur 2")
        individual = [(term.inner_text(), sheets.nth(0).locator("dd").nth(index).inner_text())
                      for index, term in enumerate(sheets.nth(0).locator("dt").all())]
        workshop = [(term.inner_text(), sheets.nth(1).locator("dd").nth(index).inner_text())
                    for index, term in enumerate(sheets.nth(1).locator("dt").all())]
        for fields, order in ((individual, reference["cra_individuel_fields"]),
                              (workshop, reference["cra_collectif_fields"])):
            positions = [order.index(label) for label, _value in fields]
            assert positions == sorted(positions), f"not in La Coop's form order: {fields}"
        assert individual[:4] == [("Type d’activité", "Accompagnement individuel"),
                                  ("Lier à un bénéficiaire", "Ne pas lier (anonyme)"),
                                  ("Date de l’accompagnement", individual[2][1]), ("Durée", "1h")]
        assert dict(individual)["Lieu de l’accompagnement"] == "Autre lieu"
        assert dict(individual)["Rechercher une commune par son nom ou son code postal"] == "Clamecy 58500"
        assert dict(individual)["Thématique(s) d’accompagnement de médiation numérique"] == "E-mail"
        assert dict(individual)["Niveau d’autonomie du bénéficiaire"] == "Autonome avec guidage en cas de besoin"
        assert dict(workshop)["Titre de l’atelier"] == "Éviter les arnaques"
        assert dict(workshop)["Bénéficiaires anonymes"] == "4" and dict(workshop)["Durée"] == "1h30"
        assert (dict(workshop)["Genre"], dict(workshop)["Tranche d’âge"]) == (
            "Masculin : 1, Féminin : 3", "70 ans et plus : 2")
        assert dict(workshop)["Thématique(s) d’accompagnement de médiation numérique"] == \
            "Prévention en sécurité numérique"
        _screenshot(page, "dashboard-la-coop.png")

        # The same outing as an XLSX, read back: 1 + 4 rows.
        page.get_by_role("link", name="Le bilan de la sortie").click()
        with page.expect_download() as download:
            page.get_by_role("link", name="Télécharger les activités (XLSX)").click()
        saved = download.value.path()
        assert saved is not None
        book = load_workbook(io.BytesIO(Path(saved).read_bytes()))
        header, *rows = list(book["Activités"].iter_rows(values_only=True))
        assert tuple(header) == EXPORT_COLUMNS and len(rows) == 5
        assert [row[header.index("Participants")] for row in rows] == [1, "1/4", "2/4", "3/4", "4/4"]
        assert {row[header.index("Code postal")] for row in rows} == {"58500"}
        assert [row[header.index("Genre du bénéficiaire")] for row in rows[1:]] == [
            "Masculin", "Féminin", "Féminin", "Féminin"]
    finally:
        context.close()
