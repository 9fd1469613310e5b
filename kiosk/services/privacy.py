"""What the kit stores, for how long, and purging what has outlived its retention ("purge now").

Each kind of data keeps its own rule, owned by its module; this one only runs them together and counts
what is kept. The dashboard also runs the purge by itself once a day while it is used, and
``kiosk dashboard purge`` does it from a timer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.services import connections
from kiosk.services.mediation.activity import PROFILE_RETENTION_DAYS, ActivityService
from kiosk.settings import Settings
from kiosk.store import Store

log = logging.getLogger("kiosk.privacy")
DAY_S = 86_400


@dataclass(frozen=True)
class Kept:
    sessions: int
    visits: int
    booklets: int
    appointments: int
    activity_records: int
    profiles: int  # activity records that still carry an anonymous profile
    outings: int
    wipe_jobs: int
    bookings: int = 0  # booked appointment slots (first name, optional contact)


class PrivacyService:
    def __init__(self, settings: Settings, store: Store, activity: ActivityService, clock: Callable[[], float],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._store = store
        self._activity = activity
        self._clock = clock
        self._monotonic = monotonic
        self._last_purge = float("-inf")
        self._lock = threading.Lock()

    @property
    def retention(self) -> dict[str, int]:
        settings = self._settings
        return {"connections": settings.connections.retention_days,
                "answers": settings.survey.answers_retention_days,
                "appointments": settings.survey.appointment_retention_days,
                "profiles": PROFILE_RETENTION_DAYS}

    def kept(self) -> Kept:
        def count(sql: str) -> int:
            return db.execute(sql).fetchone()[0]

        with self._store.read() as db:
            return Kept(
                sessions=count("SELECT count(*) FROM access_sessions"),
                visits=count("SELECT count(*) FROM survey_visits"),
                booklets=count("SELECT count(*) FROM survey_booklets"),
                appointments=count("SELECT count(*) FROM survey_appointments"),
                activity_records=count("SELECT count(*) FROM activity_records"),
                profiles=count("SELECT count(*) FROM activity_records WHERE gender IS NOT NULL "
                               "OR age_band IS NOT NULL OR social_status IS NOT NULL"),
                outings=count("SELECT count(*) FROM outings"),
                wipe_jobs=count("SELECT count(*) FROM wipe_jobs"),
                bookings=count("SELECT count(*) FROM appointment_slots WHERE booked IS NOT NULL"),
            )

    def purge_now(self) -> dict[str, int]:
        """Delete or anonymise everything past its retention; returns what went, per kind."""
        from kiosk.services.survey.visits import purge as purge_survey
        from provisioning.events import purge_events

        now = self._clock()
        done = {"sessions": connections.purge(self._store, now, self._settings.connections.retention_days)}
        done.update(purge_survey(self._store, now, self._settings))
        done["profiles"] = self._activity.purge(now)
        done["wipe_events"] = purge_events(self._store, now)
        with self._lock:
            self._last_purge = self._monotonic()
        log.info("purge: %s", done)
        return done

    def purge_if_due(self) -> dict[str, int] | None:
        with self._lock:
            due = self._monotonic() - self._last_purge >= DAY_S
            if due:
                self._last_purge = self._monotonic()
        return self.purge_now() if due else None
