"""Activity records ("accompagnements"), with the codes and French labels of the national mediators' tool,
La Coop de la médiation numérique (github.com/inclusion-numerique/coop-mediation-numerique).

Every list below names the upstream file it follows; all match upstream commit ``LA_COOP_COMMIT``, so the
next change there is a small diff here. La Coop has no activity import (its API v1 only answers GET): the
export is for the structure and funders, in La Coop's words, and a mediator re-types each record there.

Each record is anonymous: a kind, a duration, themes, the person's autonomy (or the workshop's level), a
referral, and optionally an age band, a gender and a social status — never a name. Themes that can reveal a
person's origin (``SENSITIVE_THEMES``) are kept only to be counted: they never appear in a per-record export.
The optional profile is cleared ``PROFILE_RETENTION_DAYS`` after the record (REFERENCE §4).
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from kiosk.services.clock import local_day
from kiosk.services.mediation.outings import Outing
from kiosk.store import Store

PROFILE_RETENTION_DAYS = 365

# The upstream commit every list below was checked against (tests/fixtures/la_coop/reference.json).
LA_COOP_COMMIT = "46aa33bdf21c42c2d5bbb2913f5c453cca5a9542"
# CRA/… below is apps/web/src/features/activites/use-cases/cra/… upstream.

# code → La Coop label. prisma/schema.prisma enum TypeActivite; CRA/fields/type-activite.ts. La Coop has
# two types since its migration remove_demarche_activite_type (April 2025); "information" is the kit's
# quick-entry preset, an individual accompaniment there.
KINDS = {
    "individuel": "Accompagnement individuel",
    "collectif": "Atelier collectif",
    "information": "Accompagnement individuel",
}
QUICK_INFORMATION_NOTE = "Information rapide"
DURATIONS = (15, 30, 45, 60, 90, 120)
DEFAULT_DURATION = {"information": 15, "individuel": 30, "collectif": 90}
# enum Thematique; CRA/fields/thematique.ts thematiquesNonAdministrativesLabels
ADMINISTRATIVE_THEME = "aide_aux_demarches_administratives"
DIGITAL_THEMES = {
    "diagnostic_numerique": "Diagnostic numérique",
    "prendre_en_main_du_materiel": "Prendre en main du matériel",
    "maintenance_de_materiel": "Maintenance de matériel",
    "gere_ses_contenus_numeriques": "Gérer ses contenus numériques",
    "navigation_sur_internet": "Navigation sur internet",
    "email": "E-mail",
    "bureautique": "Bureautique",
    "reseaux_sociaux": "Réseaux sociaux communication",
    "sante": "Santé",
    "banque_et_achats_en_ligne": "Banque et achats en ligne",
    "entrepreneuriat": "Accompagner un professionnel",
    "insertion_professionnelle": "Insertion professionnelle",
    "securite_numerique": "Prévention en sécurité numérique",
    "parentalite": "Parentalité",
    "scolarite_et_numerique": "Scolarité et numérique",
    "creer_avec_le_numerique": "Créer avec le numérique",
    "culture_numerique": "Culture numérique",
    "intelligence_artificielle": "Intelligence artificielle (IA)",
    ADMINISTRATIVE_THEME: "Aide aux démarches administratives",
}
# enum Thematique; CRA/fields/thematique.ts thematiquesAdministrativesLabels: allowed only together with
# ADMINISTRATIVE_THEME (CRA/validation/canHaveAdministrationThematiques.ts)
PROCEDURE_THEMES = {
    "papiers_elections_citoyennete": "Papiers - Élections - Citoyenneté",
    "famille_scolarite": "Famille - Scolarité",
    "social_sante": "Social - Santé",
    "travail_formation": "Travail - Formation - Entreprise",
    "logement": "Logement",
    "transports_mobilite": "Transports - Mobilité",
    "argent_impots": "Argent - Impôts",
    "justice": "Justice",
    "etrangers_europe": "Étrangers - Europe",
    "loisirs_sports_culture": "Loisirs - Sports - Culture",
    "associations": "Associations",
}
SENSITIVE_THEMES = frozenset({"etrangers_europe"})
# enum Materiel; CRA/fields/materiel.ts
MATERIAL = {"ordinateur": "Ordinateur", "telephone": "Téléphone", "tablette": "Tablette", "autre": "Autre",
            "aucun": "Pas de matériel"}
# enum Autonomie; CRA/individuel/fields/autonomie.ts (stars, out of 3)
AUTONOMY = {"entierement_accompagne": 1, "partiellement_autonome": 2, "autonome": 3}
# enum NiveauAtelier; CRA/collectif/fields/niveau-atelier.ts (stars, out of 3)
WORKSHOP_LEVELS = {"debutant": 1, "intermediaire": 2, "avance": 3}
# enum StructureDeRedirection; CRA/individuel/fields/structures-redirection.ts
REFERRALS = {
    "administration": "Administration (mairie, préfecture…)",
    "mediation_numerique": "Autre structure de médiation numérique",
    "operateur_ou_organisme_en_charge": "Opérateur ou organisme en charge de la démarche administrative",
    "aide_sociale": "Structure d’aide sociale (maison des solidarités, centre social…)",
    "insertion_professionnelle":
        "Structure d’insertion professionnelle (France Travail, mission locale, chambre de commerce…)",
    "aide_aux_demarches_administratives": "Structure d’aide aux démarches administratives (France Services…)",
    "autre": "Autre",
}
# enums Genre, TrancheAge, StatutSocial; apps/web/src/features/beneficiaire/domain/{genre,tranche-age,statut-social}.ts
GENDERS = {"masculin": "Masculin", "feminin": "Féminin"}
AGE_BANDS = {
    "moins_de_douze": "Moins de 12 ans",
    "douze_dix_huit": "12 - 17 ans",
    "dix_huit_vingt_quatre": "18 - 24 ans",
    "vingt_cinq_trente_neuf": "25 - 39 ans",
    "quarante_cinquante_neuf": "40 - 59 ans",
    "soixante_soixante_neuf": "60 - 69 ans",
    "soixante_dix_plus": "70 ans et plus",
}
SOCIAL_STATUSES = {"scolarise": "Scolarisé", "sans_emploi": "Sans emploi", "en_emploi": "En emploi",
                   "retraite": "Retraité"}
NOT_GIVEN = "Non communiqué"
NOT_GIVEN_STATUS = "Non communiqué ou hétérogène"
MAX_TITLE = 80

# La Coop's export of one's own activities (isSelfExport, no V1 data), column for column:
# apps/web/src/features/activites/use-cases/list/export/buildAccompagnementsWorksheet.ts. Ours add two at the end.
NATIONAL_COLUMNS = (
    "Date", "Enregistré le", "Dernière modification le", "Type", "Participants", "Bénéficiaire",
    "Canaux d’accompagnement", "Nom du lieu", "Adresse", "Commune", "Code postal", "Code Insee", "Durée (min)",
    "Nom de l’atelier", "Matériel numérique utilisé", "Thématique(s) d’accompagnement", "Tags",
    "Nom de la démarche administrative", "Niveau d’autonomie (ou de l’atelier)", "Bénéficiaire réorienté",
    "Structure de redirection", "Commune du bénéficiaire", "Code postal du bénéficiaire",
    "Code Insee du bénéficiaire", "Genre du bénéficiaire", "Tranche d’âge du bénéficiaire",
    "Statut du bénéficiaire", "Notes supplémentaires", "ID CRA",
)
EXTRA_COLUMNS = ("Type de lieu de la sortie", "Sortie")
EXPORT_COLUMNS = NATIONAL_COLUMNS + EXTRA_COLUMNS
CHANNEL = "Autre lieu"  # typeLieuLabels.Autre: the unit parks on a square, not the structure's own place
ANONYMOUS = "Anonyme"


class Tampered(ValueError):
    """A value no form of the dashboard can send."""


class Incomplete(ValueError):
    """The mediator must complete the form; ``fields`` says what."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


@dataclass(frozen=True)
class Entry:
    """A record as the mediator gave it, checked."""

    kind: str
    duration_min: int
    themes: tuple[str, ...] = ()
    procedure_themes: tuple[str, ...] = ()
    participants: int = 1
    material: tuple[str, ...] = ()
    autonomy: str | None = None
    workshop_level: str | None = None
    referral_structure: str | None = None
    workshop_title: str = ""
    gender: str | None = None
    age_band: str | None = None
    social_status: str | None = None
    # a workshop's anonymous participants: (code, count) of GENDERS, AGE_BANDS, SOCIAL_STATUSES, in their order
    group_profile: tuple[tuple[str, int], ...] = ()

    @property
    def referred(self) -> bool:
        return self.referral_structure is not None

    def group_count(self, codes: Mapping[str, str]) -> list[tuple[str, int]]:
        """The workshop's counts for one list (GENDERS, AGE_BANDS or SOCIAL_STATUSES)."""
        return [(code, count) for code, count in self.group_profile if code in codes]


@dataclass(frozen=True)
class Record:
    id: int
    outing_id: int | None
    recorded_at: float
    day: str
    entry: Entry

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Record:
        entry = Entry(row["kind"], row["duration_min"], tuple(row["themes"].split()),
                      tuple(row["procedure_themes"].split()), row["participants"], tuple(row["material"].split()),
                      autonomy=row["autonomy"], workshop_level=row["workshop_level"],
                      referral_structure=row["referral_structure"], workshop_title=row["workshop_title"],
                      gender=row["gender"], age_band=row["age_band"], social_status=row["social_status"],
                      group_profile=tuple((code, int(count)) for code, count in
                                          (pair.split("=") for pair in row["group_profile"].split())))
        return cls(row["id"], row["outing_id"], row["recorded_at"], row["day"], entry)


def _one(value: str | None, allowed: Mapping[str, object] | Iterable[str], optional: bool = True) -> str | None:
    if value in (None, ""):
        if optional:
            return None
        raise Tampered("missing value")
    if value not in allowed:
        raise Tampered(f"unknown value {value[:40]!r}")
    return value


def _many(values: Iterable[str], allowed: Mapping[str, object]) -> tuple[str, ...]:
    chosen = list(dict.fromkeys(values))
    if any(value not in allowed for value in chosen):
        raise Tampered("unknown choice")
    return tuple(code for code in allowed if code in chosen)  # the vocabulary's order


GROUP_LISTS = (GENDERS, AGE_BANDS, SOCIAL_STATUSES)


def _group_profile(counts: Mapping[str, str | None], participants: int) -> tuple[tuple[str, int], ...]:
    """A workshop's counts by gender, age band and status; none may be above the participants, as in La Coop
    (CRA/collectif/validation/participantsAnonymes.ts)."""
    profile = []
    for codes in GROUP_LISTS:
        total = 0
        for code in codes:
            text = (counts.get(code) or "").strip()
            if not text:
                continue
            if not text.isdigit() or len(text) > 3:
                raise Incomplete(["group_profile"])
            if int(text):
                profile.append((code, int(text)))
                total += int(text)
        if total > participants:
            raise Incomplete(["group_profile"])
    return tuple(profile)


def check_entry(kind: str | None, duration: str | None, themes: Iterable[str], procedure_themes: Iterable[str], *,
                participants: str | None = None, material: Iterable[str] = (), autonomy: str | None = None,
                workshop_level: str | None = None, referral: str | None = None, workshop_title: str | None = None,
                gender: str | None = None, age_band: str | None = None, social_status: str | None = None,
                group_counts: Mapping[str, str | None] | None = None) -> Entry:
    """Form values → Entry. Values a form cannot produce raise Tampered; what the mediator must correct raises
    Incomplete: no theme, a procedure without the administrative theme (La Coop refuses it), a bad count or name,
    more participants by gender, age band or status than in the workshop (``group_counts``: code → count)."""
    kind = _one(kind, KINDS, optional=False)
    if not (duration or "").isdigit() or int(duration) not in DURATIONS:
        raise Tampered("unknown duration")
    group = kind == "collectif"
    count_text = (participants or "1").strip()
    if group and (not count_text.isdigit() or not 1 <= int(count_text) <= 500):
        raise Incomplete(["participants"])
    title = " ".join((workshop_title or "").split())
    if len(title) > MAX_TITLE or any(ord(ch) < 32 for ch in title):
        raise Incomplete(["workshop_title"])
    unknown = set(group_counts or {}) - {code for codes in GROUP_LISTS for code in codes}
    if unknown:
        raise Tampered("unknown count")
    entry = Entry(
        kind=kind, duration_min=int(duration), themes=_many(themes, DIGITAL_THEMES),
        procedure_themes=_many(procedure_themes, PROCEDURE_THEMES),
        participants=int(count_text) if group else 1, material=_many(material, MATERIAL),
        autonomy=None if group else _one(autonomy, AUTONOMY),
        workshop_level=_one(workshop_level, WORKSHOP_LEVELS) if group else None,
        referral_structure=_one(referral, REFERRALS), workshop_title=title if group else "",
        gender=_one(gender, GENDERS), age_band=_one(age_band, AGE_BANDS),
        social_status=_one(social_status, SOCIAL_STATUSES),
        group_profile=_group_profile(group_counts or {}, int(count_text)) if group else ())
    if not entry.themes and not entry.procedure_themes:
        raise Incomplete(["themes"])
    if entry.procedure_themes and ADMINISTRATIVE_THEME not in entry.themes:
        raise Incomplete(["procedure_themes"])
    return entry


class ActivityService:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def record(self, entry: Entry) -> Record:
        """Save a record in the open outing (if any), on the kit's clock; durable when this returns."""
        now = self._clock()
        with self._store.write() as db:
            cursor = db.execute(
                "INSERT INTO activity_records (outing_id, recorded_at, day, kind, participants, duration_min, "
                "themes, procedure_themes, material, autonomy, workshop_level, referred, referral_structure, "
                "workshop_title, gender, age_band, social_status, group_profile, boot) VALUES ("
                "(SELECT id FROM outings WHERE ended_at IS NULL), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "(SELECT max(id) FROM clock_boots))",
                (now, local_day(now), entry.kind, entry.participants, entry.duration_min, " ".join(entry.themes),
                 " ".join(entry.procedure_themes), " ".join(entry.material), entry.autonomy, entry.workshop_level,
                 int(entry.referred),
                 entry.referral_structure, entry.workshop_title, entry.gender, entry.age_band, entry.social_status,
                 " ".join(f"{code}={count}" for code, count in entry.group_profile)))
            row = db.execute("SELECT * FROM activity_records WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return Record.from_row(row)

    def delete(self, record_id: int) -> bool:
        """Undo a record made by mistake: only today's records can go."""
        with self._store.write() as db:
            return db.execute("DELETE FROM activity_records WHERE id = ? AND day = ?",
                              (record_id, local_day(self._clock()))).rowcount > 0

    def recent(self, outing_id: int | None, limit: int = 10) -> list[Record]:
        with self._store.read() as db:
            rows = db.execute("SELECT * FROM activity_records WHERE outing_id IS ? ORDER BY recorded_at DESC, id DESC "
                              "LIMIT ?", (outing_id, limit)).fetchall()
        return [Record.from_row(row) for row in rows]

    def get(self, record_id: int) -> Record | None:
        with self._store.read() as db:
            row = db.execute("SELECT * FROM activity_records WHERE id = ?", (record_id,)).fetchone()
        return Record.from_row(row) if row else None

    def count(self, outing_id: int) -> int:
        with self._store.read() as db:
            return db.execute("SELECT count(*) FROM activity_records WHERE outing_id = ?", (outing_id,)).fetchone()[0]

    def between(self, since_day: str, until_day: str, outing_id: int | None = None) -> list[Record]:
        with self._store.read() as db:
            if outing_id is not None:
                rows = db.execute("SELECT * FROM activity_records WHERE outing_id = ? ORDER BY recorded_at, id",
                                  (outing_id,)).fetchall()
            else:
                rows = db.execute("SELECT * FROM activity_records WHERE day >= ? AND day <= ? "
                                  "ORDER BY recorded_at, id", (since_day, until_day)).fetchall()
        return [Record.from_row(row) for row in rows]

    def purge(self, now: float) -> int:
        """Clear the optional profile of records older than a year; returns how many were anonymised."""
        cutoff = (date.fromisoformat(local_day(now)) - timedelta(days=PROFILE_RETENTION_DAYS)).isoformat()
        with self._store.write() as db:
            return db.execute("UPDATE activity_records SET gender = NULL, age_band = NULL, social_status = NULL, "
                              "group_profile = '' WHERE day < ? AND (gender IS NOT NULL OR age_band IS NOT NULL "
                              "OR social_status IS NOT NULL OR group_profile != '')", (cutoff,)).rowcount


def _cell(values: Iterable[str]) -> str:
    return "\n".join(values)


def _level(entry: Entry) -> str:
    if entry.autonomy:
        return f"{AUTONOMY[entry.autonomy]}/{len(AUTONOMY)}"
    if entry.workshop_level:
        return f"{WORKSHOP_LEVELS[entry.workshop_level]}/{len(WORKSHOP_LEVELS)}"
    return ""


def theme_labels(entry: Entry) -> list[str]:
    """La Coop's labels of a record's themes, digital then procedures; sensitive themes left out."""
    return ([DIGITAL_THEMES[code] for code in entry.themes]
            + [PROCEDURE_THEMES[code] for code in entry.procedure_themes if code not in SENSITIVE_THEMES])


def _spread(entry: Entry, codes: Mapping[str, str]) -> list[str | None]:
    """A workshop's counts for one list as one value per participant, like the anonymous beneficiaries La Coop
    makes of them (CRA/collectif/createBeneficiairesForParticipantsAnonymes.ts); La Coop draws the order at random,
    the kit keeps the vocabulary's. A row's gender, age and status are not one person's: only the totals are."""
    if entry.kind != "collectif":
        return [entry.gender if codes is GENDERS else entry.age_band if codes is AGE_BANDS else entry.social_status]
    spread: list[str | None] = [code for code, count in entry.group_count(codes) for _ in range(count)]
    return spread + [None] * (entry.participants - len(spread))


def export_rows(record: Record, outing: Outing | None) -> list[list[str]]:
    """One record as La Coop's columns (then ours): one row per accompaniment, as La Coop exports a workshop —
    participants numbered "1/12", "2/12"… Sensitive themes never appear here."""
    entry = record.entry
    genders, ages, statuses = (_spread(entry, codes) for codes in GROUP_LISTS)
    recorded = datetime.fromtimestamp(record.recorded_at)
    count = entry.participants
    rows = []
    for index in range(count):
        rows.append([
            recorded.strftime("%d/%m/%Y"), recorded.strftime("%d/%m/%Y à %H:%M"), "", KINDS[entry.kind],
            "1" if count == 1 else f"{index + 1}/{count}", ANONYMOUS, CHANNEL, outing.place if outing else "", "",
            outing.commune if outing else "", outing.postcode if outing else "", outing.insee_code if outing else "",
            str(entry.duration_min),
            entry.workshop_title, _cell(MATERIAL[code] for code in entry.material), _cell(theme_labels(entry)), "",
            "", _level(entry), "Oui" if entry.referred else "Non",
            REFERRALS[entry.referral_structure] if entry.referral_structure else "", "", "", "",
            GENDERS.get(genders[index] or "", NOT_GIVEN), AGE_BANDS.get(ages[index] or "", NOT_GIVEN),
            SOCIAL_STATUSES.get(statuses[index] or "", NOT_GIVEN_STATUS),
            QUICK_INFORMATION_NOTE if entry.kind == "information" and index == 0 else "", str(record.id),
            outing.place_kind if outing else "", str(outing.id) if outing else "",
        ])
    return rows


def export_table(records: Iterable[Record], outings: Mapping[int, Outing]) -> list[list[str]]:
    """The header, then every record's rows."""
    table = [list(EXPORT_COLUMNS)]
    for record in records:
        table += export_rows(record, outings.get(record.outing_id) if record.outing_id else None)
    return table


def export_csv(records: Iterable[Record], outings: Mapping[int, Outing]) -> str:
    """CSV for a French spreadsheet: UTF-8 with a byte-order mark, semicolons, La Coop's columns."""
    out = io.StringIO()
    out.write("\ufeff")
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(export_table(records, outings))
    return out.getvalue()
