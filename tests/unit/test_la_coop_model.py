"""The kit's activity vocabulary, rules and export against La Coop de la médiation numérique's current model.

tests/fixtures/la_coop/reference.json holds facts copied from La Coop's repository (enum codes, labels and the
export's header) with the upstream commit they come from; every kit list is checked against it, so a change
upstream shows here as a failing list, not as a wrong report months later.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from kiosk.services.mediation import activity
from kiosk.services.mediation.activity import ActivityService, Incomplete, Record, Tampered, check_entry, export_rows
from kiosk.services.mediation.outings import Outing
from kiosk.store import MIGRATIONS, Store, _statements

REFERENCE = json.loads((Path(__file__).parents[1] / "fixtures" / "la_coop" / "reference.json").read_text("utf-8"))


def test_the_reference_and_the_code_name_the_same_upstream_commit():
    assert REFERENCE["commit"] == activity.LA_COOP_COMMIT


def test_the_export_header_is_la_coops_current_header_column_for_column():
    assert list(activity.NATIONAL_COLUMNS) == REFERENCE["export_header_self_without_v1"]
    assert activity.EXPORT_COLUMNS[:len(activity.NATIONAL_COLUMNS)] == activity.NATIONAL_COLUMNS
    assert "La démarche est-elle finalisée ?" not in activity.EXPORT_COLUMNS


@pytest.mark.parametrize(("kit", "upstream"), [
    ("DIGITAL_THEMES", "thematique_non_administrative"), ("PROCEDURE_THEMES", "thematique_administrative"),
    ("MATERIAL", "materiel"), ("REFERRALS", "structure_de_redirection"), ("AUTONOMY", "autonomie_etoiles"),
    ("WORKSHOP_LEVELS", "niveau_atelier_etoiles"),
])
def test_each_kit_list_has_la_coops_codes_labels_and_order(kit, upstream):
    assert list(getattr(activity, kit).items()) == list(REFERENCE[upstream].items())


@pytest.mark.parametrize(("kit", "upstream"), [
    ("GENDERS", "genre"), ("AGE_BANDS", "tranche_age"), ("SOCIAL_STATUSES", "statut_social")])
def test_the_profile_lists_are_la_coops_and_not_given_reads_as_there(kit, upstream):
    reference = dict(REFERENCE[upstream])
    not_given = reference.pop("non_communique")
    assert getattr(activity, kit) == reference
    assert not_given == (activity.NOT_GIVEN_STATUS if kit == "SOCIAL_STATUSES" else activity.NOT_GIVEN)


def test_only_la_coops_two_activity_types_reach_the_export():
    assert set(activity.KINDS.values()) == set(REFERENCE["type_activite"].values())
    assert "demarche" not in activity.KINDS
    assert REFERENCE["type_lieu_autre"] == activity.CHANNEL


def test_a_procedure_without_the_administrative_theme_is_refused_with_what_to_fix():
    with pytest.raises(Incomplete) as refused:
        check_entry("individuel", "30", ["email"], ["logement"])
    assert refused.value.fields == ["procedure_themes"]
    entry = check_entry("individuel", "30", ["aide_aux_demarches_administratives"], ["logement", "associations"])
    assert entry.procedure_themes == ("logement", "associations")


def test_the_former_procedure_kind_and_unknown_levels_cannot_be_sent():
    with pytest.raises(Tampered):
        check_entry("demarche", "45", ["aide_aux_demarches_administratives"], ["logement"])
    with pytest.raises(Tampered):
        check_entry("collectif", "90", ["email"], [], participants="5", workshop_level="expert")


def test_a_workshop_has_a_level_and_an_individual_an_autonomy_in_the_same_column():
    workshop = check_entry("collectif", "90", ["email"], [], participants="3", workshop_level="intermediaire",
                           autonomy="autonome")
    assert workshop.workshop_level == "intermediaire" and workshop.autonomy is None
    person = check_entry("individuel", "30", ["email"], [], autonomy="autonome", workshop_level="avance")
    assert person.autonomy == "autonome" and person.workshop_level is None
    outing = Outing(4, "Place du marché", "Clamecy", "58079", "market", "Ana", 0.0, None)
    column = activity.NATIONAL_COLUMNS.index("Niveau d’autonomie (ou de l’atelier)")
    rows = export_rows(Record(9, 4, 1_790_000_000.0, "2026-09-21", workshop), outing)
    assert [row[column] for row in rows] == ["2/3"] * 3
    assert [row[activity.NATIONAL_COLUMNS.index("Participants")] for row in rows] == ["1/3", "2/3", "3/3"]
    assert rows[0][activity.NATIONAL_COLUMNS.index("Code Insee")] == "58079"
    assert rows[0][activity.NATIONAL_COLUMNS.index("ID CRA")] == "9"
    single = export_rows(Record(10, 4, 1_790_000_000.0, "2026-09-21", person), outing)
    assert single[0][column] == "3/3" and single[0][activity.NATIONAL_COLUMNS.index("Participants")] == "1"


# --- the migration of records stored before La Coop's 2025 model -------------------------------------------

OLD_INSERT = ("INSERT INTO activity_records (outing_id, recorded_at, day, kind, participants, duration_min, themes, "
              "procedure_themes, material, autonomy, referred, referral_structure, workshop_title, gender, age_band, "
              "social_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
OLD_RECORDS = [  # one of every kind the former model allowed, every optional field used somewhere
    (1, 1_780_000_000.0, "2026-05-28", "demarche", 1, 45, "", "logement etrangers_europe", "telephone",
     "partiellement_autonome", 1, "operateur_ou_organisme_en_charge", "", "feminin", "soixante_dix_plus", "retraite"),
    (1, 1_780_000_100.0, "2026-05-28", "demarche", 1, 45, "email", "argent_impots", "", None, 0, None, "", None,
     None, None),
    (1, 1_780_000_200.0, "2026-05-28", "individuel", 1, 30, "email navigation_sur_internet", "social_sante", "",
     "autonome", 0, None, "", "masculin", None, None),
    (1, 1_780_000_300.0, "2026-05-28", "individuel", 1, 30, "sante", "", "ordinateur", None, 1,
     "mediation_numerique", "", None, "douze_dix_huit", "scolarise"),
    (None, 1_780_000_400.0, "2026-05-28", "collectif", 8, 90, "securite_numerique", "", "tablette", None, 0, None,
     "Premiers pas", None, None, None),
    (None, 1_780_000_500.0, "2026-05-28", "information", 1, 15, "email", "", "", None, 1, "administration", "",
     None, None, None),
]


def _store_at_version_7(path: Path) -> None:
    with sqlite3.connect(path, isolation_level=None) as db:
        db.execute("BEGIN")
        for script in MIGRATIONS[:7]:
            for statement in _statements(script):
                db.execute(statement)
        db.execute("PRAGMA user_version = 7")
        db.execute("INSERT INTO outings (id, place, commune, insee_code, place_kind, mediators, started_at) "
                   "VALUES (1, 'Place du marché', 'Clamecy', '58079', 'market', 'Ana', 1779990000)")
        db.executemany(OLD_INSERT, OLD_RECORDS)
        db.execute("COMMIT")


def test_every_old_record_survives_the_upgrade_in_la_coops_current_model(tmp_path):
    path = tmp_path / "kiosk.db"
    _store_at_version_7(path)
    store = Store(path)
    store.upgrade()
    records = ActivityService(store, lambda: 1_780_000_600.0).between("2026-05-01", "2026-06-01")
    assert len(records) == len(OLD_RECORDS)
    first, second, person, plain, workshop, quick = (record.entry for record in records)
    # a "demarche" is now an individual accompaniment with the administrative theme and its procedures
    assert (first.kind, first.themes, first.procedure_themes) == (
        "individuel", ("aide_aux_demarches_administratives",), ("logement", "etrangers_europe"))
    assert (second.kind, second.themes, second.procedure_themes) == (
        "individuel", ("email", "aide_aux_demarches_administratives"), ("argent_impots",))
    # an individual record that named a procedure gets the theme the procedure now requires
    assert person.themes == ("email", "navigation_sur_internet", "aide_aux_demarches_administratives")
    assert plain.themes == ("sante",) and workshop.themes == ("securite_numerique",) and quick.kind == "information"
    # nothing else was lost
    assert (first.duration_min, first.material, first.autonomy, first.referral_structure) == (
        45, ("telephone",), "partiellement_autonome", "operateur_ou_organisme_en_charge")
    assert (first.gender, first.age_band, first.social_status) == ("feminin", "soixante_dix_plus", "retraite")
    assert (plain.referral_structure, plain.age_band, plain.social_status) == (
        "mediation_numerique", "douze_dix_huit", "scolarise")
    assert (workshop.participants, workshop.workshop_title, workshop.workshop_level) == (8, "Premiers pas", None)
    assert workshop.group_profile == (), "no anonymous counts were kept before migration 011"
    with store.read() as db:
        assert db.execute("SELECT postcode FROM outings").fetchone()[0] == "", "no postcode was asked before 010"
    assert [record.outing_id for record in records] == [1, 1, 1, 1, None, None]
    # every migrated record passes today's rules, as if typed in today's form
    for entry in (first, second, person, plain, workshop, quick):
        check_entry(entry.kind, str(entry.duration_min), entry.themes, entry.procedure_themes,
                    participants=str(entry.participants), material=entry.material, autonomy=entry.autonomy,
                    referral=entry.referral_structure, workshop_title=entry.workshop_title, gender=entry.gender,
                    age_band=entry.age_band, social_status=entry.social_status)


def test_the_upgraded_store_refuses_the_former_kind_and_takes_the_new_referrals(tmp_path):
    path = tmp_path / "kiosk.db"
    _store_at_version_7(path)
    store = Store(path)
    store.upgrade()
    with pytest.raises(sqlite3.IntegrityError), sqlite3.connect(path) as db:
        db.execute("INSERT INTO activity_records (recorded_at, day, kind, duration_min) "
                   "VALUES (1, 'd', 'demarche', 45)")
    service = ActivityService(store, lambda: 1_780_000_600.0)
    saved = service.record(check_entry("individuel", "30", ["email"], [], referral="aide_sociale"))
    assert saved.entry.referral_structure == "aide_sociale"
