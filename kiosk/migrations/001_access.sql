-- secrets, access sessions (which double as the legal connection log), the `none` firewall ledger.
CREATE TABLE kit_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE access_sessions (
    id INTEGER PRIMARY KEY,
    ip TEXT,
    mac TEXT,
    language TEXT NOT NULL,
    granted_by TEXT NOT NULL CHECK (granted_by IN ('portal', 'mediator')),
    started_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    idle_timeout_s INTEGER NOT NULL,
    quota_bytes INTEGER NOT NULL,
    bytes_base INTEGER NOT NULL DEFAULT 0,
    bytes_used INTEGER NOT NULL DEFAULT 0,
    last_activity_at INTEGER NOT NULL,
    ended_at INTEGER,
    end_reason TEXT,
    CHECK (ip IS NOT NULL OR mac IS NOT NULL)
);
CREATE INDEX access_sessions_open ON access_sessions (ended_at, ip, mac);
CREATE INDEX access_sessions_started ON access_sessions (started_at);
CREATE TABLE firewall_ledger (
    ip TEXT NOT NULL,
    mac TEXT NOT NULL,
    expires_at INTEGER,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (ip, mac)
);
