-- Codes of deleted booklets and of the visits deleted with them, as SHA-256 digests only: a later lookup of
-- such an address (the paper QR code, a bookmark) is then not counted as a guess (kiosk/services/survey/guesses.py).
-- Nothing else is kept: no day, no address, no answer.
CREATE TABLE deleted_codes (
    digest TEXT PRIMARY KEY
);
