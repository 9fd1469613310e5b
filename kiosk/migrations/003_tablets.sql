-- loaned tablets: inventory, pinned host keys, wipe jobs (the audit log) and their events.
-- No personal data anywhere here: a participant is never named, reasons name steps and counts only.
CREATE TABLE tablets (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('android', 'linux')),
    address TEXT,                  -- "host:port" (SSH, or ADB over TCP)
    serial TEXT,                   -- ADB serial of a tablet on USB
    strategy TEXT NOT NULL CHECK (strategy IN ('linux-skeleton', 'android-user', 'android-partial')),
    status TEXT NOT NULL CHECK (status IN ('ready', 'lent', 'wiping', 'needs-attention', 'retired')),
    reason TEXT NOT NULL DEFAULT '',
    status_at REAL NOT NULL,
    last_wipe TEXT CHECK (last_wipe IN ('clean', 'partial')),
    details TEXT NOT NULL DEFAULT '{}',   -- JSON: what enrollment learnt (guest account, skeleton manifest, users…)
    enrolled_at REAL NOT NULL,
    CHECK (address IS NOT NULL OR serial IS NOT NULL)
);
CREATE TABLE tablet_host_keys (
    tablet TEXT PRIMARY KEY REFERENCES tablets (name) ON DELETE CASCADE,
    key_type TEXT NOT NULL,
    key_base64 TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    pinned_at REAL NOT NULL
);
CREATE TABLE wipe_jobs (
    id INTEGER PRIMARY KEY,
    tablet TEXT NOT NULL REFERENCES tablets (name) ON DELETE CASCADE,
    strategy TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,                 -- NULL while the wipe runs, or after a power cut: it is resumed
    result TEXT CHECK (result IN ('clean', 'partial', 'failed')),
    reason TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX wipe_jobs_by_tablet ON wipe_jobs (tablet, ended_at);
CREATE TABLE wipe_events (
    id INTEGER PRIMARY KEY,        -- the dashboard polls "events after id N"
    tablet TEXT NOT NULL,
    job INTEGER,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'verifying', 'ready', 'needs-attention')),
    at REAL NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX wipe_events_at ON wipe_events (at);
