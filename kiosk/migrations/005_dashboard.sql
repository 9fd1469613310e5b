-- the dashboard: outings, activity records, clock corrections, login attempts (filled by the dashboard work).
SELECT 1;
