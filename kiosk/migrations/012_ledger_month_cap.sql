-- The monthly-cap budget the `none` firewall backend would give the kernel (no row: no cap).
CREATE TABLE firewall_month_cap (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    budget INTEGER NOT NULL,
    set_at INTEGER NOT NULL
);
