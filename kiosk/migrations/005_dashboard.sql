-- the dashboard: outings, activity records, tablet loans, appointment follow-up, and the clock's boots.
-- Nothing here names a participant. Times are the kit's clock (epoch seconds); days are the kit's local day.
--
-- "Everything recorded belongs to the current outing": the triggers below stamp each new internet session,
-- questionnaire visit, appointment request and tablet loan with the outing open at that moment, and with
-- the boot it was made in (clock_boots: the newest row is this boot, registered when `kiosk serve` starts).
-- When the clock is set later in the same boot, kiosk/services/clock.py shifts that boot's rows.
CREATE TABLE clock_boots (
    id INTEGER PRIMARY KEY,
    boot_id TEXT NOT NULL UNIQUE,      -- the kernel's /proc/sys/kernel/random/boot_id
    frame REAL NOT NULL,               -- wall clock minus seconds since boot: constant until the clock is set
    first_seen REAL NOT NULL,
    corrected REAL NOT NULL DEFAULT 0, -- seconds added to this boot's rows so far
    last_source TEXT,                  -- phone, network, system (NTP or anyone else)
    last_set_at REAL
);
CREATE TABLE outings (
    id INTEGER PRIMARY KEY,
    place TEXT NOT NULL,
    commune TEXT NOT NULL,
    insee_code TEXT NOT NULL,
    place_kind TEXT NOT NULL CHECK (place_kind IN ('market', 'square', 'school', 'health_centre', 'social_centre',
                                                   'other')),
    mediators TEXT NOT NULL DEFAULT '',  -- first names or initials, as the mediators write them
    started_at REAL NOT NULL,
    ended_at REAL,
    boot INTEGER,
    end_boot INTEGER
);
CREATE UNIQUE INDEX outings_one_open ON outings ((ended_at IS NULL)) WHERE ended_at IS NULL;
CREATE INDEX outings_started ON outings (started_at);
-- one accompaniment ("accompagnement"), with the national mediators' tool's codes
CREATE TABLE activity_records (
    id INTEGER PRIMARY KEY,
    outing_id INTEGER REFERENCES outings (id) ON DELETE SET NULL,
    recorded_at REAL NOT NULL,
    day TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('individuel', 'demarche', 'collectif', 'information')),
    participants INTEGER NOT NULL DEFAULT 1 CHECK (participants BETWEEN 1 AND 500),
    duration_min INTEGER NOT NULL CHECK (duration_min BETWEEN 1 AND 600),
    themes TEXT NOT NULL DEFAULT '',            -- digital-skill themes, space-separated codes
    procedure_themes TEXT NOT NULL DEFAULT '',  -- procedure themes, space-separated codes
    material TEXT NOT NULL DEFAULT '',
    autonomy TEXT CHECK (autonomy IN ('entierement_accompagne', 'partiellement_autonome', 'autonome')),
    referred INTEGER NOT NULL DEFAULT 0 CHECK (referred IN (0, 1)),
    referral_structure TEXT CHECK (referral_structure IN ('operateur_ou_organisme_en_charge',
        'aide_aux_demarches_administratives', 'administration', 'mediation_numerique', 'autre')),
    workshop_title TEXT NOT NULL DEFAULT '',
    -- the optional anonymous profile, cleared one year after the record (REFERENCE §4)
    gender TEXT CHECK (gender IN ('masculin', 'feminin')),
    age_band TEXT CHECK (age_band IN ('moins_de_douze', 'douze_dix_huit', 'dix_huit_vingt_quatre',
        'vingt_cinq_trente_neuf', 'quarante_cinquante_neuf', 'soixante_soixante_neuf', 'soixante_dix_plus')),
    social_status TEXT CHECK (social_status IN ('scolarise', 'sans_emploi', 'en_emploi', 'retraite')),
    boot INTEGER
);
CREATE INDEX activity_records_day ON activity_records (day);
CREATE INDEX activity_records_outing ON activity_records (outing_id);
CREATE TABLE tablet_loans (
    id INTEGER PRIMARY KEY,
    tablet TEXT NOT NULL,
    outing_id INTEGER REFERENCES outings (id) ON DELETE SET NULL,
    lent_at REAL NOT NULL,
    returned_at REAL,
    boot INTEGER
);
CREATE INDEX tablet_loans_lent ON tablet_loans (lent_at);
-- what became of an appointment request: kept after the request itself is purged, without its link
CREATE TABLE appointment_follow_up (
    id INTEGER PRIMARY KEY,
    appointment_id INTEGER UNIQUE,
    outing_id INTEGER,
    requested_day TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'cancelled')),
    status_day TEXT,
    boot INTEGER
);
CREATE INDEX appointment_follow_up_day ON appointment_follow_up (requested_day);

ALTER TABLE access_sessions ADD COLUMN outing_id INTEGER;
ALTER TABLE access_sessions ADD COLUMN boot INTEGER;
ALTER TABLE survey_visits ADD COLUMN boot INTEGER;
ALTER TABLE wipe_jobs ADD COLUMN boot INTEGER;

CREATE TRIGGER access_sessions_stamp AFTER INSERT ON access_sessions BEGIN
    UPDATE access_sessions SET outing_id = (SELECT id FROM outings WHERE ended_at IS NULL),
                               boot = (SELECT max(id) FROM clock_boots)
    WHERE id = NEW.id;
END;
CREATE TRIGGER survey_visits_stamp AFTER INSERT ON survey_visits BEGIN
    UPDATE survey_visits SET outing_id = coalesce(NEW.outing_id, (SELECT id FROM outings WHERE ended_at IS NULL)),
                             boot = (SELECT max(id) FROM clock_boots)
    WHERE id = NEW.id;
END;
CREATE TRIGGER survey_appointments_follow_up AFTER INSERT ON survey_appointments BEGIN
    INSERT OR IGNORE INTO appointment_follow_up (appointment_id, outing_id, requested_day, boot)
    VALUES (NEW.id, (SELECT id FROM outings WHERE ended_at IS NULL), NEW.created_day,
            (SELECT max(id) FROM clock_boots));
END;
CREATE TRIGGER survey_appointments_gone AFTER DELETE ON survey_appointments BEGIN
    UPDATE appointment_follow_up SET appointment_id = NULL WHERE appointment_id = OLD.id;
END;
CREATE TRIGGER tablets_lent AFTER UPDATE OF status ON tablets
WHEN NEW.status = 'lent' AND OLD.status <> 'lent' BEGIN
    INSERT INTO tablet_loans (tablet, outing_id, lent_at, boot)
    VALUES (NEW.name, (SELECT id FROM outings WHERE ended_at IS NULL), NEW.status_at,
            (SELECT max(id) FROM clock_boots));
END;
CREATE TRIGGER tablets_returned AFTER UPDATE OF status ON tablets
WHEN OLD.status = 'lent' AND NEW.status <> 'lent' BEGIN
    UPDATE tablet_loans SET returned_at = NEW.status_at WHERE tablet = NEW.name AND returned_at IS NULL;
END;
CREATE TRIGGER wipe_jobs_stamp AFTER INSERT ON wipe_jobs BEGIN
    UPDATE wipe_jobs SET boot = (SELECT max(id) FROM clock_boots) WHERE id = NEW.id;
END;
