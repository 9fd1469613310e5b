"""Wipe events: published in-process (the terminal's progress lines) and recorded in the store, so the
dashboard — another process — can poll them with `events_since()` and show every tablet live.

States: queued → running → verifying → ready | needs-attention. `detail` says which step, or why; it never
holds personal data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.store import Store, StoreError

QUEUED, RUNNING, VERIFYING, READY, ATTENTION = "queued", "running", "verifying", "ready", "needs-attention"
EVENT_STATES = (QUEUED, RUNNING, VERIFYING, READY, ATTENTION)
KEEP_EVENTS_SECONDS = 30 * 86400

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    tablet: str
    job: int | None
    state: str
    at: float
    detail: str = ""
    id: int | None = None

    def as_dict(self) -> dict:
        return {"id": self.id, "tablet": self.tablet, "job": self.job, "state": self.state, "at": self.at,
                "detail": self.detail}


Subscriber = Callable[[Event], None]


class EventBus:
    """Publish to subscribers in this process and to the store's `wipe_events` table.

    Events are written by one background thread, a batch per transaction: twenty tablets wiped at once would
    otherwise queue a synchronous commit (an fsync on the SD card) for every line of progress. A tablet's
    status is never an event: it is written synchronously by the inventory. Call `flush()` before exiting.
    """

    def __init__(self, store: Store | None = None, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._pending: list[Event] = []
        self._writing = False
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, tablet: str, job: int | None, state: str, detail: str = "") -> Event:
        if state not in EVENT_STATES:
            raise ValueError(state)
        event = Event(tablet, job, state, self.clock(), detail)
        if self.store is not None:
            with self._changed:
                self._pending.append(event)
                if self._writer is None:
                    self._writer = threading.Thread(target=self._write_loop, name="wipe-events", daemon=True)
                    self._writer.start()
                self._changed.notify_all()
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:  # a display's bug must never decide a wipe
                log.exception("a wipe event subscriber failed")
        return event

    def _write_loop(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    self._changed.wait()
                batch, self._pending = self._pending, []
                self._writing = True
            try:
                with self.store.write() as db:
                    db.executemany("INSERT INTO wipe_events (tablet, job, state, at, detail) VALUES (?, ?, ?, ?, ?)",
                                   [(e.tablet, e.job, e.state, e.at, e.detail) for e in batch])
            except StoreError as problem:
                # A full disk must not stop a wipe; the tablet's status itself is written separately.
                log.warning("could not record %d wipe event(s): %s", len(batch), problem)
            finally:
                with self._changed:
                    self._writing = False
                    self._changed.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every published event is in the store; False if that took longer than `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._pending or self._writing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True


def events_since(store: Store, after_id: int = 0, limit: int = 500) -> list[Event]:
    """Recorded events with an id above `after_id`, oldest first: what the dashboard polls."""
    with store.read() as db:
        rows = db.execute("SELECT id, tablet, job, state, at, detail FROM wipe_events WHERE id > ?"
                          " ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
    return [Event(row["tablet"], row["job"], row["state"], row["at"], row["detail"], row["id"]) for row in rows]


def purge_events(store: Store, now: float, keep_seconds: float = KEEP_EVENTS_SECONDS) -> int:
    with store.write() as db:
        return db.execute("DELETE FROM wipe_events WHERE at < ?", (now - keep_seconds,)).rowcount
