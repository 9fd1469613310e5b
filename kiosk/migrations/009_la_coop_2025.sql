-- Activity records in La Coop de la médiation numérique's current model (upstream commit 46aa33b, kiosk/services/
-- mediation/activity.py): the "demarche" kind is gone, procedure themes go with the theme aide_aux_demarches_administratives,
-- two referral structures and the workshop's level are new. SQLite cannot change a CHECK: the table is rebuilt.
CREATE TABLE activity_records_new (
    id INTEGER PRIMARY KEY,
    outing_id INTEGER REFERENCES outings (id) ON DELETE SET NULL,
    recorded_at REAL NOT NULL,
    day TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('individuel', 'collectif', 'information')),
    participants INTEGER NOT NULL DEFAULT 1 CHECK (participants BETWEEN 1 AND 500),
    duration_min INTEGER NOT NULL CHECK (duration_min BETWEEN 1 AND 600),
    themes TEXT NOT NULL DEFAULT '',            -- La Coop themes outside procedures, space-separated codes
    procedure_themes TEXT NOT NULL DEFAULT '',  -- procedure themes, only with aide_aux_demarches_administratives
    material TEXT NOT NULL DEFAULT '',
    autonomy TEXT CHECK (autonomy IN ('entierement_accompagne', 'partiellement_autonome', 'autonome')),
    workshop_level TEXT CHECK (workshop_level IN ('debutant', 'intermediaire', 'avance')),
    referred INTEGER NOT NULL DEFAULT 0 CHECK (referred IN (0, 1)),
    referral_structure TEXT CHECK (referral_structure IN ('administration', 'mediation_numerique',
        'operateur_ou_organisme_en_charge', 'aide_sociale', 'insertion_professionnelle',
        'aide_aux_demarches_administratives', 'autre')),
    workshop_title TEXT NOT NULL DEFAULT '',
    -- the optional anonymous profile, cleared one year after the record (REFERENCE §4)
    gender TEXT CHECK (gender IN ('masculin', 'feminin')),
    age_band TEXT CHECK (age_band IN ('moins_de_douze', 'douze_dix_huit', 'dix_huit_vingt_quatre',
        'vingt_cinq_trente_neuf', 'quarante_cinquante_neuf', 'soixante_soixante_neuf', 'soixante_dix_plus')),
    social_status TEXT CHECK (social_status IN ('scolarise', 'sans_emploi', 'en_emploi', 'retraite')),
    boot INTEGER
);
-- A "demarche" was help with an online procedure for one person: La Coop made those individual accompaniments
-- with the administrative theme (migrations merge_thematique_administrative_with_thematique and
-- remove_demarche_activite_type). Any record with a procedure theme gets that theme too, as La Coop did, so that
-- every stored record keeps its procedure themes and obeys the new rule. Nothing else changes.
INSERT INTO activity_records_new (id, outing_id, recorded_at, day, kind, participants, duration_min, themes,
    procedure_themes, material, autonomy, workshop_level, referred, referral_structure, workshop_title, gender,
    age_band, social_status, boot)
SELECT id, outing_id, recorded_at, day,
    CASE kind WHEN 'demarche' THEN 'individuel' ELSE kind END,
    participants, duration_min,
    CASE WHEN (kind = 'demarche' OR procedure_themes != '')
              AND (' ' || themes || ' ') NOT LIKE '% aide_aux_demarches_administratives %'
         THEN trim(themes || ' aide_aux_demarches_administratives') ELSE themes END,
    procedure_themes, material, autonomy, NULL, referred, referral_structure, workshop_title, gender, age_band,
    social_status, boot
FROM activity_records;
DROP TABLE activity_records;
ALTER TABLE activity_records_new RENAME TO activity_records;
CREATE INDEX activity_records_day ON activity_records (day);
CREATE INDEX activity_records_outing ON activity_records (outing_id);
