-- Wrong dashboard passwords (kiosk/services/auth.py LoginLimiter), kept so that a restart or a power cut does
-- not hand a password guesser a fresh budget. The address is a staff-network one (participants never reach
-- the dashboard); it is cleared when that address logs in, the time still counting for the kit. Rows older
-- than the limiter's window are deleted as new ones come.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,  -- the kit's clock (epoch seconds)
    client TEXT        -- NULL once that address has logged in
);
CREATE INDEX login_failures_at ON login_failures (at);
