"""Wipe jobs: the state machine, retries with backoff, verification, events, and many tablets at once.

    lent ──return──► wiping ──steps──► verifying ──proven──► ready
                       ▲                   └──anything else──► needs-attention ──wipe NAME──┐
                       └──────────── a power cut leaves it here; the next run resumes ◄──────┘

A tablet is `ready` only when its verification found nothing: a failed step, a timeout, an unreachable
tablet, a refused host key, a full disk or one leftover file all end in `needs-attention` with the reason.
Steps are idempotent, so resuming simply runs the whole wipe again under the same job.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from provisioning.audit import FAILED, Job, Jobs
from provisioning.errors import DeviceProblem, ProvisionError
from provisioning.events import ATTENTION, QUEUED, READY, RUNNING, VERIFYING, EventBus
from provisioning.inventory import ATTENTION as ST_ATTENTION
from provisioning.inventory import LENT, RETIRED, WIPING, Device, Inventory
from provisioning.inventory import READY as ST_READY
from provisioning.plans import Plan, Verdict

log = logging.getLogger(__name__)
T = TypeVar("T")

WIPEABLE = (ST_READY, WIPING, ST_ATTENTION)  # a lent tablet is returned first; a retired one is never wiped


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, so tablets refused together by sshd's MaxStartups do not retry
    together."""

    base: float = 0.5
    cap: float = 8.0

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter


@dataclass(frozen=True)
class Prepared:
    device: Device
    job: Job
    resumed: bool


class Wiper:
    def __init__(self, inventory: Inventory, jobs: Jobs, bus: EventBus, plan_for: Callable[[Device], Plan],
                 attempts: int = 3, backoff: Backoff | None = None, sleep: Callable[[float], None] = time.sleep):
        self.inventory = inventory
        self.jobs = jobs
        self.bus = bus
        self.plan_for = plan_for
        self.attempts = max(1, attempts)
        self.backoff = backoff or Backoff()
        self.sleep = sleep

    def prepare(self, name: str, allowed_from: Iterable[str] = WIPEABLE,
                reason: str = "wipe pending") -> Prepared:
        """Mark the tablet `wiping` (durably, before anything touches it) and open or resume its job."""
        device = self.inventory.get(name)
        if device.status == LENT and LENT not in allowed_from:
            raise ProvisionError(f"{name} is lent: return it first (provision tablets return {name})")
        if device.status == RETIRED:
            raise ProvisionError(f"{name} is retired")
        if device.status != WIPING:
            device = self.inventory.transition(name, WIPING, reason, allowed_from)
        job, resumed = self.jobs.open(name, device.strategy)
        interrupted = resumed and job.attempts > 0  # an open job never attempted was queued by `return --later`
        self.bus.publish(name, job.id, QUEUED, "resuming an interrupted wipe" if interrupted else "")
        return Prepared(device, job, interrupted)

    def execute(self, prepared: Prepared) -> Device:
        name, job = prepared.device.name, prepared.job
        try:
            verdict = self._attempts(prepared)
        except DeviceProblem as problem:
            return self._finish(name, job, None, problem.reason)
        except Exception as problem:  # a bug must never leave a tablet looking ready
            log.exception("wipe of %s failed unexpectedly", name)
            return self._finish(name, job, None, f"unexpected error ({type(problem).__name__}): see the kit's log")
        if verdict.findings:
            return self._finish(name, job, None, "; ".join(verdict.findings))
        return self._finish(name, job, verdict, verdict.note or "verified clean")

    def retrying(self, action: Callable[[], T], on_retry: Callable[[str], None] | None = None) -> T:
        """Run `action`, again after a backoff while it fails with a transient problem (no connection, a
        dropped one), at most `attempts` times in all."""
        for attempt in range(1, self.attempts + 1):
            try:
                return action()
            except DeviceProblem as problem:
                if not problem.transient or attempt == self.attempts:
                    raise
                pause = self.backoff.delay(attempt)
                if on_retry is not None:
                    on_retry(f"{problem.reason}; retrying in {pause:.1f} s (attempt {attempt + 1} of "
                             f"{self.attempts})")
                self.sleep(pause)
        raise AssertionError("unreachable")

    def _attempts(self, prepared: Prepared) -> Verdict:
        device, job = prepared.device, prepared.job

        def attempt() -> Verdict:
            self.jobs.count_attempt(job.id)
            return self._once(device, job.id)

        return self.retrying(attempt, lambda detail: self.bus.publish(device.name, job.id, RUNNING, detail))

    def _once(self, device: Device, job_id: int) -> Verdict:
        plan = self.plan_for(device)
        self.bus.publish(device.name, job_id, RUNNING, "connecting")
        with plan.open() as session:
            for step in plan.steps():
                self.bus.publish(device.name, job_id, RUNNING, step.label)
                step.action(session)
            self.bus.publish(device.name, job_id, VERIFYING, "")
            return plan.verify(session)

    def _finish(self, name: str, job: Job, verdict: Verdict | None, reason: str) -> Device:
        if verdict is None:
            self.jobs.close(job.id, FAILED, reason)
            device = self.inventory.transition(name, ST_ATTENTION, reason, (WIPING,), last_wipe=None)
            self.bus.publish(name, job.id, ATTENTION, reason)
        else:
            self.jobs.close(job.id, verdict.result, reason)
            device = self.inventory.transition(name, ST_READY, reason, (WIPING,), last_wipe=verdict.result)
            self.bus.publish(name, job.id, READY, reason)
        log.info("wipe of %s: %s (%s)", name, device.status, reason)
        return device

    def run(self, name: str, allowed_from: Iterable[str] = WIPEABLE) -> Device:
        return self.execute(self.prepare(name, allowed_from))

    def run_many(self, names: Iterable[str], parallel: int) -> list[Device]:
        """Queue every tablet first (each shows `queued` at once), then wipe them in a bounded pool."""
        prepared = [self.prepare(name) for name in names]
        if not prepared:
            return []
        try:
            with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(prepared))),
                                    thread_name_prefix="wipe") as pool:
                return list(pool.map(self.execute, prepared))
        finally:
            self.bus.flush()
