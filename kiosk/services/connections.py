"""The connection log kept for lawful requests (décret 2021-1362): device, IP, start, end, bytes, and the
block of source ports the kit's NAT gave that IP (kiosk/adapters/natports.py).

No URL and no content is ever stored. Rows are purged ``connections.retention_days`` after they end.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from kiosk.store import Store

EXPORT_COLUMNS = ("device_mac", "ip_address", "start_utc", "end_utc", "bytes", "end_reason", "nat_source_ports")
DAY = 86_400


def _iso(epoch: int | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_csv(store: Store, since: int, until: int) -> str:
    """Sessions that overlap [since, until), as CSV with a header row."""
    with store.read() as db:
        rows = db.execute(
            "SELECT mac, ip, started_at, ended_at, bytes_used, end_reason, nat_ports FROM access_sessions "
            "WHERE started_at < ? AND (ended_at IS NULL OR ended_at >= ?) ORDER BY started_at, id",
            (until, since),
        ).fetchall()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([row["mac"] or "", row["ip"] or "", _iso(row["started_at"]), _iso(row["ended_at"]),
                         row["bytes_used"], row["end_reason"] or "", row["nat_ports"] or ""])
    return out.getvalue()


def purge(store: Store, now: float, retention_days: int) -> int:
    """Delete ended sessions older than the retention period; returns how many went."""
    cutoff = int(now) - retention_days * DAY
    with store.write() as db:
        cursor = db.execute("DELETE FROM access_sessions WHERE ended_at IS NOT NULL AND ended_at < ?", (cutoff,))
    return cursor.rowcount
