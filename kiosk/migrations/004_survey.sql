-- the questionnaire: visits, answers, booklets, appointment requests (kiosk/services/survey/: visits.py, booklet.py,
-- appointments.py). No IP or MAC address anywhere; dates are days (YYYY-MM-DD, the kit's local time), never times.
-- outing_id: the mediators' outing ("sortie") a visit belongs to. The dashboard work adds the outings table and
-- fills this column; until then it stays NULL.
CREATE TABLE survey_booklets (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    created_day TEXT NOT NULL,
    updated_day TEXT NOT NULL
);
CREATE TABLE survey_visits (
    id INTEGER PRIMARY KEY,
    resume_code TEXT UNIQUE,
    questionnaire TEXT NOT NULL,
    version INTEGER NOT NULL,
    language TEXT NOT NULL,
    assisted INTEGER NOT NULL DEFAULT 0 CHECK (assisted IN (0, 1)),
    outing_id INTEGER,
    booklet_id INTEGER REFERENCES survey_booklets (id) ON DELETE CASCADE,
    started_day TEXT NOT NULL,
    updated_day TEXT NOT NULL,
    completed_day TEXT,
    results TEXT
);
CREATE INDEX survey_visits_updated ON survey_visits (updated_day);
CREATE INDEX survey_visits_booklet ON survey_visits (booklet_id);
CREATE INDEX survey_visits_completed ON survey_visits (completed_day, outing_id);
CREATE TABLE survey_answers (
    visit_id INTEGER NOT NULL REFERENCES survey_visits (id) ON DELETE CASCADE,
    item TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (visit_id, item)
);
-- a form posted twice (a double tap, a replayed post) creates one thing: its token is kept a few days
CREATE TABLE survey_requests (
    nonce TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    result TEXT NOT NULL,
    day TEXT NOT NULL
);
-- personal data, with its own consent; never linked to answers, never in statistics
CREATE TABLE survey_appointments (
    id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    contact TEXT NOT NULL,
    structure TEXT NOT NULL,
    slot TEXT NOT NULL,
    language TEXT NOT NULL,
    created_day TEXT NOT NULL
);
CREATE INDEX survey_appointments_created ON survey_appointments (created_day);
