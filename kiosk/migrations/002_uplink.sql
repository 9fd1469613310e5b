-- the uplink's data usage per local day, the WAN counters' last reading, the last internet check.
CREATE TABLE uplink_usage (
    day TEXT PRIMARY KEY,
    rx_bytes INTEGER NOT NULL DEFAULT 0,
    tx_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE uplink_counters (
    interface TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    rx_bytes INTEGER NOT NULL,
    tx_bytes INTEGER NOT NULL,
    read_at INTEGER NOT NULL
);
CREATE TABLE uplink_check (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    interface TEXT,
    checked_at REAL NOT NULL,
    answered INTEGER NOT NULL,
    detail TEXT NOT NULL
);
