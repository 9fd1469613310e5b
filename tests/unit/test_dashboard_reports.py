"""Reports per outing, week and month, their charts, and the activity export with the national mediators'
tool's column names. Themes that can reveal a person's origin are counted, never shown per person."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime

import pytest
from openpyxl import load_workbook

from kiosk.services.clock import local_day
from kiosk.services.mediation.activity import EXPORT_COLUMNS, NATIONAL_COLUMNS, check_entry
from kiosk.services.mediation.reports import month_period, small, week_period
from tests.unit.test_dashboard import Dashboard, build

ADMIN = "aide_aux_demarches_administratives"


@pytest.fixture
def mediator(tmp_path) -> Dashboard:
    dash = build(tmp_path)
    dash.login()
    return dash


def save(dash: Dashboard, **values) -> None:
    data = {"kind": "individuel", "duration": "30", "themes": ["email"]}
    data.update(values)
    assert dash.post("/activity", data).status_code == 303


def rows(dash: Dashboard, path: str) -> list[dict[str, str]]:
    response = dash.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff"), "a byte-order mark, so that a French spreadsheet reads UTF-8"
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";")
    header = next(reader)
    assert tuple(header) == EXPORT_COLUMNS and tuple(header[:len(NATIONAL_COLUMNS)]) == NATIONAL_COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader]


def test_the_activity_export_has_the_national_tools_columns_and_values(mediator):
    mediator.start_outing()
    outing = mediator.context.outings.current()
    save(mediator, autonomy="partiellement_autonome", referral="aide_aux_demarches_administratives",
         material=["tablette"], age_band="soixante_dix_plus", gender="feminin", social_status="retraite")
    save(mediator, kind="collectif", duration="90", participants="6", workshop_title="Premiers pas",
         themes=[ADMIN], procedure_themes=["social_sante"], workshop_level="debutant")
    save(mediator, kind="information", duration="15", themes=["securite_numerique"])
    exported = rows(mediator, f"/reports/outing/{outing.id}/activities.csv")
    assert len(exported) == 1 + 6 + 1, "one row per accompaniment, as La Coop exports a workshop"
    first, *workshop, quick = exported
    assert first["Type"] == "Accompagnement individuel" and first["Bénéficiaire"] == "Anonyme"
    assert first["Canaux d’accompagnement"] == "Autre lieu" and first["Nom du lieu"] == "Place du marché"
    assert first["Commune"] == "Clamecy" and first["Code Insee"] == "58079" and first["Participants"] == "1"
    assert first["Durée (min)"] == "30" and first["Thématique(s) d’accompagnement"] == "E-mail"
    assert first["Niveau d’autonomie (ou de l’atelier)"] == "2/3"
    assert first["Bénéficiaire réorienté"] == "Oui"
    assert first["Structure de redirection"].startswith("Structure d’aide aux démarches administratives")
    assert first["Matériel numérique utilisé"] == "Tablette"
    assert (first["Genre du bénéficiaire"], first["Tranche d’âge du bénéficiaire"],
            first["Statut du bénéficiaire"]) == ("Féminin", "70 ans et plus", "Retraité")
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", first["Date"])
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4} à \d{2}:\d{2}", first["Enregistré le"])
    assert first["Sortie"] == str(outing.id) and first["ID CRA"]
    assert {row["Type"] for row in workshop} == {"Atelier collectif"}
    assert [row["Participants"] for row in workshop] == [f"{n}/6" for n in range(1, 7)]
    assert len({row["ID CRA"] for row in workshop}) == 1 and workshop[0]["ID CRA"] != first["ID CRA"]
    assert workshop[0]["Nom de l’atelier"] == "Premiers pas"
    assert workshop[0]["Thématique(s) d’accompagnement"] == "Aide aux démarches administratives\nSocial - Santé"
    assert workshop[0]["Niveau d’autonomie (ou de l’atelier)"] == "1/3"
    assert workshop[0]["Genre du bénéficiaire"] == "Non communiqué"
    assert quick["Notes supplémentaires"] == "Information rapide" and quick["Durée (min)"] == "15"


def test_the_export_has_the_places_postcode_and_spreads_a_workshops_counts_over_its_rows(mediator):
    mediator.start_outing(postcode="58500")
    outing = mediator.context.outings.current()
    save(mediator, kind="collectif", duration="60", participants="4", count_feminin="3", count_masculin="1",
         count_douze_dix_huit="2", count_scolarise="2")
    exported = rows(mediator, f"/reports/outing/{outing.id}/activities.csv")
    assert {row["Code postal"] for row in exported} == {"58500"}
    assert [row["Genre du bénéficiaire"] for row in exported] == ["Masculin", "Féminin", "Féminin", "Féminin"]
    assert [row["Tranche d’âge du bénéficiaire"] for row in exported] == ["12 - 17 ans"] * 2 + ["Non communiqué"] * 2
    assert [row["Statut du bénéficiaire"] for row in exported] == ["Scolarisé"] * 2 + [
        "Non communiqué ou hétérogène"] * 2


def test_the_xlsx_export_has_la_coops_columns_and_the_csvs_rows(mediator):
    mediator.start_outing()
    outing = mediator.context.outings.current()
    save(mediator, autonomy="autonome", material=["telephone", "ordinateur"], gender="masculin")
    save(mediator, kind="collectif", duration="120", participants="3", workshop_title="Sécurité",
         themes=["securite_numerique"], workshop_level="avance")
    save(mediator, duration="45", themes=[ADMIN], procedure_themes=["etrangers_europe", "logement"])
    response = mediator.get(f"/reports/outing/{outing.id}/activities.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert f'filename="activites-outing-{outing.id}.xlsx"' in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames == ["Activités"], "the sheet is named as in La Coop's export"
    header, *cells = [list(row) for row in book["Activités"].iter_rows(values_only=True)]
    assert tuple(header) == EXPORT_COLUMNS and tuple(header[:len(NATIONAL_COLUMNS)]) == NATIONAL_COLUMNS
    table = [dict(zip(header, row, strict=True)) for row in cells]
    assert len(table) == 1 + 3 + 1, "one row per accompaniment, as in the CSV"
    first, *workshop, procedure = table
    day = datetime.strptime(local_day(mediator.clock()), "%Y-%m-%d")
    assert first["Date"] == day, "a real date, so the spreadsheet sorts and filters by it"
    assert (first["Type"], first["Participants"], first["Durée (min)"]) == ("Accompagnement individuel", 1, 30)
    assert first["Matériel numérique utilisé"] == "Ordinateur\nTéléphone"
    assert (first["Niveau d’autonomie (ou de l’atelier)"], first["Bénéficiaire réorienté"]) == ("3/3", "Non")
    assert (first["Genre du bénéficiaire"], first["Sortie"]) == ("Masculin", outing.id)
    assert [row["Participants"] for row in workshop] == ["1/3", "2/3", "3/3"]
    assert {(row["Nom de l’atelier"], row["Niveau d’autonomie (ou de l’atelier)"], row["Durée (min)"])
            for row in workshop} == {("Sécurité", "3/3", 120)}
    assert procedure["Thématique(s) d’accompagnement"] == "Aide aux démarches administratives\nLogement"
    assert not any("tranger" in str(value) for row in cells for value in row)
    csv_rows = rows(mediator, f"/reports/outing/{outing.id}/activities.csv")
    as_text = [{column: "" if value is None else value.strftime("%d/%m/%Y") if isinstance(value, datetime)
                else str(value) for column, value in row.items()} for row in table]
    assert as_text == csv_rows, "the XLSX holds exactly what the CSV holds"


def test_an_origin_revealing_theme_never_appears_per_person(mediator):
    mediator.start_outing()
    outing = mediator.context.outings.current()
    save(mediator, duration="45", themes=[ADMIN], procedure_themes=["etrangers_europe", "logement"])
    exported = rows(mediator, f"/reports/outing/{outing.id}/activities.csv")
    assert exported[0]["Thématique(s) d’accompagnement"] == "Aide aux démarches administratives\nLogement"
    assert "tranger" not in mediator.get(f"/reports/outing/{outing.id}/activities.csv").get_data(as_text=True)
    report = mediator.visible(f"/reports/outing/{outing.id}")
    assert "Droits des étrangers: moins de 3" in report
    for _ in range(2):
        save(mediator, duration="45", themes=[ADMIN], procedure_themes=["etrangers_europe"])
    assert "Droits des étrangers: 3" in mediator.visible(f"/reports/outing/{outing.id}")


def test_small_counts_are_hidden_but_zero_is_not():
    assert [small(n) for n in range(5)] == [0, None, None, 3, 4]


def test_the_outing_report_counts_what_belongs_to_the_outing(mediator):
    kit = mediator.apps.kit
    save(mediator)  # before the outing: not in its report
    mediator.start_outing()
    outing = mediator.context.outings.current()
    save(mediator, themes=["email", "bureautique"])
    save(mediator, kind="collectif", duration="60", participants="5", themes=["email"])
    kit.access.grant("10.42.0.23", "5a:11:22:33:44:55", "fr")
    with kit.store.write() as db:
        day = local_day(mediator.clock())
        db.execute("INSERT INTO survey_visits (questionnaire, version, language, started_day, updated_day, "
                   "completed_day, results) VALUES ('competences', 1, 'fr', ?, ?, ?, ?)",
                   (day, day, day, json.dumps({"bands": {"foundation": 2, "safety": 0}, "steps": [], "flags": []})))
    page = mediator.visible(f"/reports/outing/{outing.id}")
    assert "Place du marché, Clamecy (58079)" in page
    figures = {label: int(count) for count, label in re.findall(r"<strong>(\d+)</strong> ([a-zé ]+)</p>", page)}
    assert figures["personnes rencontrées"] == 6 and figures["activités notées"] == 2
    assert figures["sessions internet"] == 1
    assert page.count("<svg") >= 3, "charts drawn on the server"
    assert "E-mail: 2" in page and "Bureautique: 1" in page
    assert "1 questionnaire(s) terminé(s)" in page


def test_week_and_month_reports_cover_their_days(mediator):
    kit = mediator.apps.kit
    save(mediator)
    today = local_day(mediator.clock())
    with kit.store.write() as db:
        db.execute("INSERT INTO uplink_usage (day, rx_bytes, tx_bytes) VALUES (?, 2000000, 500000)", (today,))
    week = "{}-W{:02d}".format(*date.fromisoformat(today).isocalendar()[:2])
    month = today[:7]
    for path in (f"/reports/week/{week}", f"/reports/month/{month}"):
        page = mediator.visible(path)
        assert "E-mail: 1" in page and "2.5 MB" in page
    mediator.clock.advance(40 * 86400)
    mediator.login()
    assert "E-mail: 1" not in mediator.visible(f"/reports/month/{local_day(mediator.clock())[:7]}")


def test_periods():
    assert (week_period("2026-W01").since, week_period("2026-W01").until) == ("2025-12-29", "2026-01-04")
    assert (month_period("2024-02").since, month_period("2024-02").until) == ("2024-02-01", "2024-02-29")


def test_the_printable_page_has_no_navigation_and_no_forms(mediator):
    mediator.start_outing()
    outing = mediator.context.outings.current()
    page = mediator.text(f"/reports/outing/{outing.id}?print=1")
    assert "<nav" not in page and "<form" not in page and "Bilan d'activité" in page


def test_check_entry_keeps_the_vocabulary_order_and_drops_duplicates():
    entry = check_entry("individuel", "30", ["email", "bureautique", "email"], [])
    assert entry.themes == ("email", "bureautique")
