-- The kit-wide budget of wrong resume and booklet codes (kiosk/services/survey/guesses.py), kept so that a restart
-- does not hand a guesser a fresh budget. Only when a wrong code was typed: no address, no code, nothing
-- that links a phone to a visit. Rows older than the budget's window are deleted as new ones come.
CREATE TABLE guess_misses (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL  -- the kit's clock (epoch seconds)
);
CREATE INDEX guess_misses_at ON guess_misses (at);
