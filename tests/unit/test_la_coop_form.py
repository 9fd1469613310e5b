"""Records laid out as La Coop's activity form asks for them, so a mediator re-types an outing quickly: the
form's labels in the form's order (checked against tests/fixtures/la_coop/reference.json), La Coop's words for
each value, and never a theme that can reveal a person's origin."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from kiosk.services.mediation import la_coop_form
from kiosk.services.mediation.activity import DURATIONS, Incomplete, Record, Tampered, check_entry
from kiosk.services.mediation.la_coop_form import duration_text, form_fields
from kiosk.services.mediation.outings import Outing
from tests.unit.test_dashboard import Dashboard, build

REFERENCE = json.loads((Path(__file__).parents[1] / "fixtures" / "la_coop" / "reference.json").read_text("utf-8"))
OUTING = Outing(4, "Place du marché", "Clamecy", "58079", "market", "Ana", 1_790_000_000.0, None, "58500")
ADMIN = "aide_aux_demarches_administratives"


def _is_in_order(labels: list[str], reference: list[str]) -> bool:
    positions = [reference.index(label) for label in labels]
    return positions == sorted(positions) and len(set(positions)) == len(positions)


def test_la_coops_value_labels_are_the_kits():
    assert REFERENCE["autonomie_labels"] == la_coop_form.AUTONOMY_LABELS
    assert REFERENCE["niveau_atelier_labels"] == la_coop_form.WORKSHOP_LEVEL_LABELS
    assert {str(minutes): duration_text(minutes) for minutes in DURATIONS} == REFERENCE["duree_labels"]


def test_an_individual_record_reads_as_la_coops_individual_form_top_to_bottom():
    entry = check_entry("individuel", "90", ["email", ADMIN], ["logement", "etrangers_europe"],
                        material=["telephone"], autonomy="partiellement_autonome", referral="aide_sociale",
                        age_band="soixante_dix_plus")
    fields = form_fields(Record(9, 4, 1_790_000_000.0, "2026-09-21", entry), OUTING)
    labels = [field.label for field in fields]
    assert _is_in_order(labels, REFERENCE["cra_individuel_fields"]), labels
    values = {field.label: field.value for field in fields}
    assert values["Type d’activité"] == "Accompagnement individuel"
    assert values["Durée"] == "1h30" and values["Lieu de l’accompagnement"] == "Autre lieu"
    assert re.fullmatch(r"\d{2}/\d{2}/2026", values["Date de l’accompagnement"])
    assert values["Rechercher une commune par son nom ou son code postal"] == "Clamecy 58500"
    assert values["Thématique(s) d’accompagnement de médiation numérique"] == \
        "E-mail, Aide aux démarches administratives"
    assert values["Thématique(s) de la démarche administrative"] == "Logement", "origin-revealing theme left out"
    assert values["Niveau d’autonomie du bénéficiaire"] == "Autonome avec guidage en cas de besoin"
    assert values["Le bénéficiaire est-il orienté vers une autre structure ?"] == "Oui"
    assert values["Structure de redirection"].startswith("Structure d’aide sociale")
    assert (values["Genre"], values["Tranche d’âge"]) == ("Non communiqué", "70 ans et plus")
    assert "Titre de l’atelier" not in values and "Niveau de l’atelier" not in values


def test_a_workshop_reads_as_la_coops_workshop_form_and_a_quick_answer_carries_its_note():
    workshop = check_entry("collectif", "120", ["securite_numerique"], [], participants="7",
                           workshop_title="Arnaques en ligne", workshop_level="intermediaire",
                           group_counts={"feminin": "4", "masculin": "2", "soixante_dix_plus": "3", "retraite": "",
                                         "en_emploi": "0"})
    fields = form_fields(Record(10, 4, 1_790_000_000.0, "2026-09-21", workshop), OUTING)
    labels = [field.label for field in fields]
    assert _is_in_order(labels, REFERENCE["cra_collectif_fields"]), labels
    values = {field.label: field.value for field in fields}
    assert (values["Titre de l’atelier"], values["Bénéficiaires anonymes"]) == ("Arnaques en ligne", "7")
    assert (values["Durée"], values["Niveau de l’atelier"]) == ("2h", "Intermédiaire")
    assert (values["Genre"], values["Tranche d’âge"]) == ("Masculin : 2, Féminin : 4", "70 ans et plus : 3")
    assert "Statut du bénéficiaire" not in values, "nothing counted, nothing to type"
    assert "Le bénéficiaire est-il orienté vers une autre structure ?" not in values
    quick = check_entry("information", "15", ["email"], [])
    values = {field.label: field.value for field in form_fields(Record(11, None, 1_790_000_000.0, "2026-09-21", quick),
                                                                None)}
    assert values["Notes sur l’accompagnement"] == "Information rapide" and values["Durée"] == "15mn"
    assert "Rechercher une commune par son nom ou son code postal" not in values, "no outing, no commune to type"


@pytest.fixture
def mediator(tmp_path) -> Dashboard:
    dash = build(tmp_path)
    dash.login()
    return dash


def test_the_outing_view_lists_every_record_of_the_outing_and_only_those(mediator):
    assert mediator.post("/activity", {"kind": "individuel", "duration": "30", "themes": ["email"]}).status_code == 303
    mediator.start_outing()
    outing = mediator.context.outings.current()
    for data in ({"kind": "individuel", "duration": "45", "themes": ["bureautique"], "autonomy": "autonome"},
                 {"kind": "collectif", "duration": "60", "participants": "5", "themes": ["email"],
                  "workshop_title": "Boîte mail"}):
        assert mediator.post("/activity", data).status_code == 303
    page = mediator.visible(f"/la-coop/outing/{outing.id}")
    assert "Fiche 1 sur 2" in page and "Fiche 2 sur 2" in page and "Fiche 3" not in page
    assert page.index("Bureautique") < page.index("Boîte mail"), "in the order they were recorded"
    assert "Lieu de l’accompagnement" in page and "Clamecy" in page and "Clamecy (58079)" not in page
    assert "Bénéficiaires anonymes" in page and "Niveau d’autonomie du bénéficiaire" in page
    assert f'href="/la-coop/outing/{outing.id}"' in mediator.text(f"/reports/outing/{outing.id}")
    first = mediator.context.activity.between("", "", outing_id=outing.id)[0]
    single = mediator.visible(f"/la-coop/record/{first.id}")
    assert "Bureautique" in single and "Boîte mail" not in single and "Fiche 1" not in single
    assert f"/la-coop/record/{first.id}" in mediator.text("/activity")
    assert mediator.get("/la-coop/record/999").status_code == 404
    assert mediator.get("/la-coop/outing/999").status_code == 404


def test_the_la_coop_views_need_a_login(tmp_path):
    dash = build(tmp_path)
    for path in ("/la-coop/outing/1", "/la-coop/record/1"):
        response = dash.get(path)
        assert response.status_code == 303 and response.headers["Location"].startswith("/login?next=")


def test_a_workshop_cannot_count_more_people_by_gender_age_or_status_than_it_has():
    with pytest.raises(Incomplete) as refused:
        check_entry("collectif", "60", ["email"], [], participants="3", group_counts={"feminin": "2", "masculin": "2"})
    assert refused.value.fields == ["group_profile"]
    with pytest.raises(Incomplete):
        check_entry("collectif", "60", ["email"], [], participants="3", group_counts={"retraite": "deux"})
    with pytest.raises(Tampered):
        check_entry("collectif", "60", ["email"], [], participants="3", group_counts={"martien": "1"})
    person = check_entry("individuel", "30", ["email"], [], group_counts={"feminin": "1"})
    assert person.group_profile == (), "counts belong to workshops only"


def test_the_dashboard_asks_for_the_counts_and_the_postcode_and_says_what_is_wrong(mediator):
    refused_outing = mediator.start_outing(postcode="5850")
    assert refused_outing.status_code == 422
    assert "Un code postal a 5 chiffres." in html.unescape(refused_outing.get_data(as_text=True))
    assert mediator.start_outing(postcode="58500").status_code == 303
    assert mediator.context.outings.current().postcode == "58500"
    form = mediator.visible("/activity?kind=collectif")
    assert 'name="count_feminin"' in form and 'name="count_soixante_dix_plus"' in form
    refused = mediator.post("/activity", {"kind": "collectif", "duration": "60", "participants": "2",
                                          "themes": ["email"], "count_feminin": "2", "count_masculin": "1"})
    assert refused.status_code == 422
    assert "pas plus que de participants" in html.unescape(refused.get_data(as_text=True))
    assert mediator.post("/activity", {"kind": "collectif", "duration": "60", "participants": "2",
                                       "themes": ["email"], "count_feminin": "2"}).status_code == 303
    record = mediator.context.activity.recent(mediator.context.outings.current().id)[0]
    assert record.entry.group_profile == (("feminin", 2),)


def test_a_workshops_counts_are_cleared_with_the_profile_after_a_year(tmp_path):
    from kiosk.services.mediation.activity import PROFILE_RETENTION_DAYS, ActivityService
    from kiosk.store import Store

    store = Store(tmp_path / "kiosk.db")
    store.upgrade()
    service = ActivityService(store, lambda: 1_790_000_000.0)
    saved = service.record(check_entry("collectif", "60", ["email"], [], participants="5",
                                       group_counts={"feminin": "2", "retraite": "1"}))
    assert service.get(saved.id).entry.group_profile == (("feminin", 2), ("retraite", 1))
    assert service.purge(1_790_000_000.0 + 86_400 * (PROFILE_RETENTION_DAYS - 2)) == 0
    assert service.purge(1_790_000_000.0 + 86_400 * (PROFILE_RETENTION_DAYS + 2)) == 1
    kept = service.get(saved.id).entry
    assert kept.group_profile == () and kept.participants == 5, "the count of people stays, not their profile"
