-- loaned tablets: inventory, pinned host keys, wipe jobs and their audit log (filled by the tablets work).
SELECT 1;
