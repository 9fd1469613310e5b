"""The kit's tablets: who they are, how they are wiped, their status and why, their pinned host keys.

Status changes are compare-and-set inside one transaction, so two mediators (or the CLI and the
dashboard) can never both lend the same tablet.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kiosk.store import Store
from provisioning.errors import ProvisionError, UsageError

READY, LENT, WIPING, ATTENTION, RETIRED = "ready", "lent", "wiping", "needs-attention", "retired"
STATUSES = (READY, LENT, WIPING, ATTENTION, RETIRED)
KINDS = ("android", "linux")
LINUX_SKELETON, ANDROID_USER, ANDROID_PARTIAL = "linux-skeleton", "android-user", "android-partial"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"{name!r} is not a tablet name: use up to 32 letters, digits, dots, dashes or underscores")
    return name


@dataclass(frozen=True)
class Device:
    name: str
    kind: str
    address: str | None
    serial: str | None
    strategy: str
    status: str
    reason: str
    status_at: float
    last_wipe: str | None
    enrolled_at: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return self.address if self.address else f"usb:{self.serial}"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Device:
        return cls(row["name"], row["kind"], row["address"], row["serial"], row["strategy"], row["status"],
                   row["reason"], row["status_at"], row["last_wipe"], row["enrolled_at"], json.loads(row["details"]))


@dataclass(frozen=True)
class PinnedKey:
    key_type: str
    key_base64: str
    fingerprint: str
    pinned_at: float = 0.0


_KEEP = object()


class Inventory:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock

    def enroll(self, name: str, kind: str, strategy: str, details: dict[str, Any], *, address: str | None = None,
               serial: str | None = None, reason: str = "enrolled: first wipe pending") -> Device:
        """Add a tablet, or update one enrolled again (a reinstalled laptop); it waits for a verified wipe."""
        check_name(name)
        if kind not in KINDS:
            raise UsageError(f"kind must be one of {', '.join(KINDS)}")
        now = self.clock()
        with self.store.write() as db:
            db.execute(
                "INSERT INTO tablets (name, kind, address, serial, strategy, status, reason, status_at, details,"
                " enrolled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " kind = excluded.kind, address = excluded.address, serial = excluded.serial,"
                " strategy = excluded.strategy, status = excluded.status, reason = excluded.reason,"
                " status_at = excluded.status_at, details = excluded.details, last_wipe = NULL",
                (name, kind, address, serial, strategy, WIPING, reason, now, json.dumps(details), now))
        return self.get(name)

    def find(self, name: str) -> Device | None:
        with self.store.read() as db:
            row = db.execute("SELECT * FROM tablets WHERE name = ?", (name,)).fetchone()
        return Device.from_row(row) if row else None

    def get(self, name: str) -> Device:
        device = self.find(name)
        if device is None:
            raise ProvisionError(f"no tablet named {name!r} (see: provision tablets list)")
        return device

    def all(self) -> list[Device]:
        with self.store.read() as db:
            rows = db.execute("SELECT * FROM tablets ORDER BY name").fetchall()
        return [Device.from_row(row) for row in rows]

    def with_status(self, status: str) -> list[Device]:
        return [device for device in self.all() if device.status == status]

    def transition(self, name: str, to: str, reason: str, allowed_from: Iterable[str] | None = None,
                   last_wipe: Any = _KEEP) -> Device:
        """Set a status if the current one allows it, atomically; raises ProvisionError otherwise."""
        if to not in STATUSES:
            raise ValueError(to)
        allowed = tuple(allowed_from) if allowed_from is not None else STATUSES
        with self.store.write() as db:
            row = db.execute("SELECT status FROM tablets WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise ProvisionError(f"no tablet named {name!r} (see: provision tablets list)")
            if row["status"] not in allowed:
                raise ProvisionError(f"{name} is {row['status']}, not {' or '.join(allowed)}")
            if last_wipe is _KEEP:
                db.execute("UPDATE tablets SET status = ?, reason = ?, status_at = ? WHERE name = ?",
                           (to, reason, self.clock(), name))
            else:
                db.execute("UPDATE tablets SET status = ?, reason = ?, status_at = ?, last_wipe = ? WHERE name = ?",
                           (to, reason, self.clock(), last_wipe, name))
        return self.get(name)

    def update_details(self, name: str, **changes: Any) -> Device:
        with self.store.write() as db:
            row = db.execute("SELECT details FROM tablets WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise ProvisionError(f"no tablet named {name!r}")
            details = json.loads(row["details"])
            details.update(changes)
            db.execute("UPDATE tablets SET details = ? WHERE name = ?", (json.dumps(details), name))
        return self.get(name)

    def pin_host_key(self, name: str, key: PinnedKey) -> None:
        with self.store.write() as db:
            db.execute("INSERT INTO tablet_host_keys (tablet, key_type, key_base64, fingerprint, pinned_at)"
                       " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tablet) DO UPDATE SET key_type = excluded.key_type,"
                       " key_base64 = excluded.key_base64, fingerprint = excluded.fingerprint,"
                       " pinned_at = excluded.pinned_at",
                       (name, key.key_type, key.key_base64, key.fingerprint, self.clock()))

    def host_key(self, name: str) -> PinnedKey | None:
        with self.store.read() as db:
            row = db.execute("SELECT key_type, key_base64, fingerprint, pinned_at FROM tablet_host_keys"
                             " WHERE tablet = ?", (name,)).fetchone()
        return PinnedKey(*row) if row else None
