"""Loaned tablets from the dashboard: lend, return, wipe — through the tablets' own rules (provisioning).

Talking to a tablet takes seconds to minutes, longer than a page may wait (and the dashboard has two
threads), so each action is checked and marked at once (the tablet shows `wiping`, or `lent` "being
prepared"), then carried out in a background thread. The page refreshes itself and shows the progress from
the store, as the command line's progress lines do. A power cut mid-wipe leaves the tablet `wiping`; the
next wipe resumes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from kiosk.settings import Settings
from kiosk.store import Store

if TYPE_CHECKING:
    from provisioning.tablets import Tablets

log = logging.getLogger("kiosk.tablets")


class TabletActionError(Exception):
    """The action is refused (unknown tablet, wrong status…); the message says why, for a person."""


class DashboardTablets:
    def __init__(self, settings: Settings, store: Store, clock: Callable[[], float] = time.time,
                 tablets_factory: Callable[[], Tablets] | None = None) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._factory = tablets_factory
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    @cached_property
    def tablets(self) -> Tablets:
        """Built on first use: paramiko and adb are only loaded when a tablet is really driven."""
        if self._factory is not None:
            return self._factory()
        from provisioning.tablets import Tablets

        return Tablets(self._settings, self._store, clock=self._clock)

    def busy(self) -> set[str]:
        with self._lock:
            return set(self._busy)

    def _claim(self, name: str) -> None:
        with self._lock:
            if name in self._busy:
                raise TabletActionError(f"{name} is already being handled")
            self._busy.add(name)

    def _release(self, name: str) -> None:
        with self._lock:
            self._busy.discard(name)

    def _start(self, name: str, work: Callable[[], object]) -> None:
        def target() -> None:
            try:
                work()
            except Exception:  # the wipe's own rules record reasons; this is a bug or a store failure
                log.exception("tablet action on %s failed", name)
            finally:
                try:
                    self.tablets.bus.flush()
                finally:
                    self._release(name)

        threading.Thread(target=target, name=f"tablet-{name}", daemon=True).start()

    def _act(self, name: str, check: Callable[[], Callable[[], object]]) -> None:
        """Claim the tablet, run ``check`` now (it marks the tablet and returns the slow part), start the rest."""
        from provisioning.errors import ProvisionError

        self._claim(name)
        try:
            work = check()
        except ProvisionError as problem:
            self._release(name)
            raise TabletActionError(str(problem)) from None
        except BaseException:
            self._release(name)
            raise
        self._start(name, work)

    def lend(self, name: str, accept_partial: bool = False) -> None:
        from provisioning.inventory import READY

        device = self._device(name)
        if device.status != READY:
            raise TabletActionError(f"{name} is {device.status}: only a ready tablet is lent")
        if device.last_wipe == "partial" and not accept_partial:
            raise TabletActionError(f"{name} was only partially wiped: confirm to lend it anyway")
        self._act(name, lambda: lambda: self.tablets.lend(name, accept_partial=accept_partial))

    def give_back(self, name: str) -> None:
        """Returned by the participant: `wiping` at once, wiped in the background."""
        from provisioning.inventory import LENT

        self._device(name)

        def check() -> Callable[[], object]:
            prepared = self.tablets.wiper.prepare(name, (LENT,), "returned: wipe pending")
            return lambda: self.tablets.wiper.execute(prepared)

        self._act(name, check)

    def wipe(self, name: str) -> None:
        from provisioning.wipe import WIPEABLE

        device = self._device(name)
        if device.status not in WIPEABLE:
            raise TabletActionError(f"{name} is {device.status}: a lent tablet is returned first, a retired one "
                                    "is never wiped")

        def check() -> Callable[[], object]:
            prepared = self.tablets.wiper.prepare(name)
            return lambda: self.tablets.wiper.execute(prepared)

        self._act(name, check)

    def _device(self, name: str):
        device = self.tablets.inventory.find(name) if len(name) <= 32 else None
        if device is None:
            raise TabletActionError(f"no tablet named {name!r}")
        return device

    def wait_idle(self, timeout_s: float) -> bool:
        """For tests and shutdown: wait until no action runs."""
        deadline = time.monotonic() + timeout_s
        while self.busy():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True
