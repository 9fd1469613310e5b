-- The block of NAT source ports each session's address left the kit through (kiosk/adapters/natports.py),
-- so the connection log can answer a lawful request that names the kit's public address and a port.
ALTER TABLE access_sessions ADD COLUMN nat_ports TEXT;
