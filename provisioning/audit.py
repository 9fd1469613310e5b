"""Wipe jobs, which are also the audit log: tablet, start, end, strategy, result, reason — nothing personal.

A job without an end is a wipe that was running when the kit lost power: the next run resumes it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.store import Store

CLEAN, PARTIAL, FAILED = "clean", "partial", "failed"


@dataclass(frozen=True)
class Job:
    id: int
    tablet: str
    strategy: str
    started_at: float
    ended_at: float | None
    result: str | None
    reason: str
    attempts: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(row["id"], row["tablet"], row["strategy"], row["started_at"], row["ended_at"], row["result"],
                   row["reason"], row["attempts"])


class Jobs:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock

    def open(self, tablet: str, strategy: str) -> tuple[Job, bool]:
        """The tablet's unfinished job if there is one (resumed: True), else a new one."""
        with self.store.write() as db:
            row = db.execute("SELECT * FROM wipe_jobs WHERE tablet = ? AND ended_at IS NULL ORDER BY id DESC"
                             " LIMIT 1", (tablet,)).fetchone()
            if row is not None:
                return Job.from_row(row), True
            cursor = db.execute("INSERT INTO wipe_jobs (tablet, strategy, started_at) VALUES (?, ?, ?)",
                                (tablet, strategy, self.clock()))
            job_id = cursor.lastrowid
        return self.get(job_id), False

    def count_attempt(self, job_id: int) -> None:
        """An attempt begins; the first one is the wipe's start (a job queued by `return --later` waits)."""
        with self.store.write() as db:
            db.execute("UPDATE wipe_jobs SET started_at = CASE WHEN attempts = 0 THEN ? ELSE started_at END,"
                       " attempts = attempts + 1 WHERE id = ?", (self.clock(), job_id))

    def close(self, job_id: int, result: str, reason: str) -> Job:
        with self.store.write() as db:
            db.execute("UPDATE wipe_jobs SET ended_at = ?, result = ?, reason = ? WHERE id = ?",
                       (self.clock(), result, reason, job_id))
        return self.get(job_id)

    def get(self, job_id: int) -> Job:
        with self.store.read() as db:
            return Job.from_row(db.execute("SELECT * FROM wipe_jobs WHERE id = ?", (job_id,)).fetchone())

    def history(self, tablet: str | None = None, limit: int = 50) -> list[Job]:
        """Most recent first."""
        query = "SELECT * FROM wipe_jobs"
        parameters: tuple = ()
        if tablet:
            query += " WHERE tablet = ?"
            parameters = (tablet,)
        with self.store.read() as db:
            rows = db.execute(query + " ORDER BY id DESC LIMIT ?", (*parameters, limit)).fetchall()
        return [Job.from_row(row) for row in rows]
