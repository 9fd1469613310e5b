"""A record laid out as La Coop's activity form asks for it, field after field, each with the form's own label
and the choice to tick there, so that a mediator re-types an outing's records without hunting for a field.

Labels and order follow La Coop's forms at ``activity.LA_COOP_COMMIT`` (CRA/… is
apps/web/src/features/activites/use-cases/cra/… upstream): CRA/individuel/components/CraIndividuelForm.tsx and
CRA/collectif/components/CraCollectifForm.tsx, with their fields in CRA/components/fields/ (RendezVousFields,
MaterielField, ThematiquesFields) and CRA/{individuel,collectif}/components/fields/. They are La Coop's French
words on purpose, whatever the dashboard's language: they are what the mediator sees on La Coop's screen.

Fields the kit never records (tags, the procedure's name, a linked beneficiary) are left out: La Coop's
defaults stand. A theme that can reveal a person's origin is never shown per record (see activity.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kiosk.services.mediation.activity import (
    ADMINISTRATIVE_THEME,
    AGE_BANDS,
    ANONYMOUS,
    CHANNEL,
    DIGITAL_THEMES,
    GENDERS,
    KINDS,
    MATERIAL,
    NOT_GIVEN,
    NOT_GIVEN_STATUS,
    PROCEDURE_THEMES,
    QUICK_INFORMATION_NOTE,
    REFERRALS,
    SENSITIVE_THEMES,
    SOCIAL_STATUSES,
    Entry,
    Record,
)
from kiosk.services.mediation.outings import Outing

# CRA/individuel/fields/autonomie.ts autonomieLabels; CRA/collectif/fields/niveau-atelier.ts niveauAtelierLabels
AUTONOMY_LABELS = {"entierement_accompagne": "Avec guidage",
                   "partiellement_autonome": "Autonome avec guidage en cas de besoin", "autonome": "Autonome"}
WORKSHOP_LEVEL_LABELS = {"debutant": "Débutant", "intermediaire": "Intermédiaire", "avance": "Avancé"}

# The form's labels (its legends, or the placeholder where a field has no label).
TYPE = "Type d’activité"  # the choice made in CreateCraModal before the form opens
BENEFICIARY = "Lier à un bénéficiaire"
WORKSHOP_TITLE = "Titre de l’atelier"
ANONYMOUS_PARTICIPANTS = "Bénéficiaires anonymes"
DATE = "Date de l’accompagnement"
DURATION = "Durée"
PLACE = "Lieu de l’accompagnement"
COMMUNE = "Rechercher une commune par son nom ou son code postal"
MATERIAL_LABEL = "Matériel numérique utilisé"
THEMES = "Thématique(s) d’accompagnement de médiation numérique"
PROCEDURES = "Thématique(s) de la démarche administrative"
AUTONOMY_LABEL = "Niveau d’autonomie du bénéficiaire"
WORKSHOP_LEVEL = "Niveau de l’atelier"
REFERRED = "Le bénéficiaire est-il orienté vers une autre structure ?"
REFERRAL = "Structure de redirection"
GENDER = "Genre"
AGE_BAND = "Tranche d’âge"
STATUS = "Statut du bénéficiaire"
NOTES_INDIVIDUAL = "Notes sur l’accompagnement"
ANONYMOUS_CHOICE = f"Ne pas lier ({ANONYMOUS.lower()})"


@dataclass(frozen=True)
class Field:
    label: str
    value: str


def duration_text(minutes: int) -> str:
    """As La Coop's duration list shows it (apps/web/src/utils/dureeAsString.ts): 15mn, 1h, 1h30."""
    hours, rest = divmod(minutes, 60)
    if hours == 0:
        return f"{rest}mn"
    return f"{hours}h" if rest == 0 else f"{hours}h{rest}"


def _commune(outing: Outing | None) -> str:
    """What to type in La Coop's commune search: the name, and the postcode when the outing has one."""
    if outing is None:
        return ""
    return f"{outing.commune} {outing.postcode}" if outing.postcode else outing.commune


def _counts(entry: Entry, codes: dict[str, str]) -> str:
    return ", ".join(f"{codes[code]} : {count}" for code, count in entry.group_count(codes))


def form_fields(record: Record, outing: Outing | None) -> list[Field]:
    """The record's values in the order of La Coop's form for its type; empty choices left out."""
    entry = record.entry
    group = entry.kind == "collectif"
    day = datetime.fromtimestamp(record.recorded_at).strftime("%d/%m/%Y")
    visible_procedures = [code for code in entry.procedure_themes if code not in SENSITIVE_THEMES]
    fields = [Field(TYPE, KINDS[entry.kind])]
    if group:
        fields += [Field(WORKSHOP_TITLE, entry.workshop_title), Field(ANONYMOUS_PARTICIPANTS, str(entry.participants)),
                   Field(GENDER, _counts(entry, GENDERS)), Field(AGE_BAND, _counts(entry, AGE_BANDS)),
                   Field(STATUS, _counts(entry, SOCIAL_STATUSES))]
    else:
        fields.append(Field(BENEFICIARY, ANONYMOUS_CHOICE))
    fields += [Field(DATE, day), Field(DURATION, duration_text(entry.duration_min)), Field(PLACE, CHANNEL),
               Field(COMMUNE, _commune(outing)),
               Field(MATERIAL_LABEL, ", ".join(MATERIAL[code] for code in entry.material)),
               Field(THEMES, ", ".join(DIGITAL_THEMES[code] for code in entry.themes))]
    if ADMINISTRATIVE_THEME in entry.themes:
        fields.append(Field(PROCEDURES, ", ".join(PROCEDURE_THEMES[code] for code in visible_procedures)))
    if group:
        fields.append(Field(WORKSHOP_LEVEL, WORKSHOP_LEVEL_LABELS.get(entry.workshop_level or "", "")))
    else:
        fields += [Field(AUTONOMY_LABEL, AUTONOMY_LABELS.get(entry.autonomy or "", "")),
                   Field(REFERRED, "Oui" if entry.referred else "Non")]
        if entry.referral_structure:
            fields.append(Field(REFERRAL, REFERRALS[entry.referral_structure]))
        fields += [Field(GENDER, GENDERS.get(entry.gender or "", NOT_GIVEN)),
                   Field(AGE_BAND, AGE_BANDS.get(entry.age_band or "", NOT_GIVEN)),
                   Field(STATUS, SOCIAL_STATUSES.get(entry.social_status or "", NOT_GIVEN_STATUS))]
    if entry.kind == "information":
        fields.append(Field(NOTES_INDIVIDUAL, QUICK_INFORMATION_NOTE))
    return [field for field in fields if field.value]

