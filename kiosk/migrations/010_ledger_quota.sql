-- The byte budget the `none` firewall backend would give the kernel's quota for a grant (NULL: no limit).
ALTER TABLE firewall_ledger ADD COLUMN quota_bytes INTEGER;
