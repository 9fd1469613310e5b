"""Secrets made on the device itself, the first time they are needed, and kept in the store."""

from __future__ import annotations

import secrets
import time

from kiosk.store import Store


def get_or_create(store: Store, name: str, nbytes: int = 32) -> str:
    with store.read() as db:
        row = db.execute("SELECT value FROM kit_secrets WHERE name = ?", (name,)).fetchone()
    if row:
        return row["value"]
    with store.write() as db:
        db.execute("INSERT OR IGNORE INTO kit_secrets (name, value, created_at) VALUES (?, ?, ?)",
                   (name, secrets.token_hex(nbytes), int(time.time())))
        return db.execute("SELECT value FROM kit_secrets WHERE name = ?", (name,)).fetchone()["value"]
