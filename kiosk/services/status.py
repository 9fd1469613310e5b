"""The kit at a glance, for the dashboard's first page: uplink, participants, tablets, power, temperature,
disk, clock. Slow readings (ModemManager, vcgencmd) are cached for a few seconds, since the page refreshes
itself and several phones may show it."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kiosk.adapters.health import Disk, Health, Power, Throttling
from kiosk.services.access import AccessService
from kiosk.services.uplink import UplinkService, UplinkStatus
from kiosk.store import Store, StoreError

log = logging.getLogger("kiosk.status")
T = TypeVar("T")

HOT_CELSIUS = 80.0  # a Pi 4/5 starts throttling around 80-85 °C
LOW_DISK_BYTES = 500_000_000
LOW_DISK_PERCENT = 10
UPLINK_CACHE_S = 20.0
THROTTLE_CACHE_S = 30.0
TABLET_ORDER = ("ready", "lent", "wiping", "needs-attention", "retired")


@dataclass(frozen=True)
class TabletLine:
    name: str
    kind: str
    status: str
    reason: str
    last_wipe: str | None
    step: str  # the latest wipe event's detail while it runs


@dataclass(frozen=True)
class Snapshot:
    now: float
    uplink: UplinkStatus | None
    devices: int | None  # holding a DHCP lease
    granted: int  # open internet sessions
    tablets: dict[str, int]
    tablets_busy: bool
    power: Power | None
    temperature: float | None
    throttling: Throttling | None
    disk: Disk | None
    problems: list[str] = field(default_factory=list)

    @property
    def hot(self) -> bool:
        return self.temperature is not None and self.temperature >= HOT_CELSIUS

    @property
    def low_disk(self) -> bool:
        return self.disk is not None and (self.disk.free_bytes < LOW_DISK_BYTES
                                          or self.disk.free_percent < LOW_DISK_PERCENT)


class _Cached:
    def __init__(self, seconds: float, monotonic: Callable[[], float]) -> None:
        self._seconds = seconds
        self._monotonic = monotonic
        self._value: Any = None
        self._at = float("-inf")
        self._lock = threading.Lock()

    def get(self, read: Callable[[], T]) -> T:
        with self._lock:
            if self._monotonic() - self._at < self._seconds:
                return self._value
            self._value, self._at = read(), self._monotonic()
            return self._value


def tablet_lines(store: Store) -> list[TabletLine]:
    """Every tablet with its status, and what its running wipe is doing (the latest event's step)."""
    with store.read() as db:
        rows = db.execute("SELECT name, kind, status, reason, last_wipe FROM tablets ORDER BY name").fetchall()
        steps = dict(db.execute("SELECT tablet, detail FROM wipe_events WHERE id IN "
                                "(SELECT max(id) FROM wipe_events GROUP BY tablet)").fetchall())
    return [TabletLine(row["name"], row["kind"], row["status"], row["reason"], row["last_wipe"],
                       steps.get(row["name"], "") if row["status"] == "wiping" else "") for row in rows]


class StatusService:
    def __init__(self, store: Store, access: AccessService, uplink: UplinkService, health: Health,
                 lease_file: Path, clock: Callable[[], float], monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._access = access
        self._uplink = uplink
        self._health = health
        self._lease_file = lease_file
        self._clock = clock
        self._uplink_cache = _Cached(UPLINK_CACHE_S, monotonic)
        self._throttle_cache = _Cached(THROTTLE_CACHE_S, monotonic)

    def _uplink_status(self) -> UplinkStatus | None:
        try:
            return self._uplink.status(check_internet=False)  # no data spent: the last check is shown
        except StoreError as problem:
            log.warning("uplink status: %s", problem)
            return None

    def snapshot(self) -> Snapshot:
        now = self._clock()
        problems: list[str] = []
        try:
            granted = len(self._access.open_sessions())
            lines = tablet_lines(self._store)
        except StoreError as problem:
            log.warning("status: %s", problem)
            granted, lines = 0, []
            problems.append("storage")
        counts = Counter(line.status for line in lines)
        tablets = {status: counts[status] for status in TABLET_ORDER if counts[status]}
        return Snapshot(
            now=now, uplink=self._uplink_cache.get(self._uplink_status),
            devices=self._health.leases(self._lease_file, now), granted=granted, tablets=tablets,
            tablets_busy=counts["wiping"] > 0, power=self._health.power(), temperature=self._health.cpu_temperature(),
            throttling=self._throttle_cache.get(self._health.throttling), disk=self._health.disk(self._store.path),
            problems=problems)
