"""Limits on guessing resume and booklet codes, kept in memory only (no address is written to disk).

Only a lookup that finds nothing counts as a guess, and not one of a code that existed and was deleted (its
address stays on the paper booklet or in a bookmark: opening it again is no guess). A code that opens something
is always served to a phone
that is not held back, and to a held-back phone when that phone had opened the same code before it was held
back (the visit it started, its booklet): guessing elsewhere never locks a person out of their own pages.

Two budgets:
- per phone: ``per_phone`` wrong codes in ``phone_window_s``, then that phone waits;
- for the kit: once ``kit`` wrong codes were seen in ``kit_window_s``, every phone that typed a wrong code in
  that window waits too, until the kit's count falls back. A phone that typed no wrong code is never held
  back by others' guesses: it is served as usual, and its first wrong code counts like anyone's.

A held-back phone is told how long to wait; it learns nothing about the codes it tries meanwhile (an unknown
code and a code it never opened get the same answer).

With a store, the kit's count survives a restart (table ``guess_misses``: the times only). The per-phone
counts and the codes each phone opened stay in memory: writing them would put addresses on disk and link a
phone to a visit. After a restart, a guesser therefore gets its one lookup, then waits while the kit's
budget is spent. A store that cannot be read or written (a full disk) leaves the count in memory and logs
why: a wrong code is still answered as a wrong code.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TypeVar

from kiosk.store import Store, StoreError

T = TypeVar("T")
log = logging.getLogger(__name__)

REMEMBER_S = 86_400  # how long a phone keeps access to a code it opened, whatever it guesses afterwards
REMEMBER_PER_PHONE = 32  # codes remembered per phone (a shared tablet opens many visits in a day)
PHONES_REMEMBERED = 4096  # bound on memory: far more than a /24 of participants' phones


class TooManyGuesses(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many wrong codes; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s

    @property
    def minutes(self) -> int:
        return max(1, -(-self.retry_after_s // 60))


class GuessLimiter:
    def __init__(self, clock: Callable[[], float], per_phone: int = 10, phone_window_s: float = 600,
                 kit: int = 60, kit_window_s: float = 3600, store: Store | None = None) -> None:
        self._clock = clock
        self._per_phone = per_phone
        self._phone_window = phone_window_s
        self._kit = kit
        self._kit_window = kit_window_s
        self._keep = max(phone_window_s, kit_window_s)
        self._misses: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._opened: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._store = store
        if store is not None:
            now = clock()
            try:
                with store.read() as db:
                    # Times ahead of now come from a clock set back since (a Pi without a battery): ignored.
                    rows = db.execute("SELECT at FROM guess_misses WHERE at > ? AND at <= ? ORDER BY at",
                                      (now - kit_window_s, now)).fetchall()
            except StoreError as problem:
                log.warning("wrong codes not read back, counting from zero: %s", problem)
                rows = []
            self._all.extend(row["at"] for row in rows)

    def lookup(self, client: str, code: str | None, find: Callable[[str], T | None],
               gone: Callable[[str], bool] | None = None) -> T | None:
        """What ``find(code)`` gives (None for a wrong code, counted as a guess unless ``gone(code)``: it
        existed and was deleted). Raises TooManyGuesses when this phone is held back and ``code`` is not one
        it opened before."""
        now = self._clock()
        with self._lock:
            wait = self._wait(client, now)
            if wait is not None:
                if code is None or not self._knows(client, code, now):
                    raise TooManyGuesses(wait)
                reserved = False
            else:
                # Counted before the lookup, taken back if the code opens something: parallel requests
                # cannot slip extra guesses past the budget.
                self._misses.setdefault(client, deque()).append(now)
                self._all.append(now)
                reserved = True
        found = find(code) if code is not None else None
        if found is None and reserved and gone is not None and code is not None and gone(code):
            with self._lock:
                self._take_back(client, now)
        elif found is not None:
            with self._lock:
                if reserved:
                    self._take_back(client, now)
                self._remember_locked(client, code, now)  # type: ignore[arg-type]
        elif reserved:
            self._record(now)
        return found

    def remember(self, client: str, code: str) -> None:
        """This phone created ``code`` (a new visit or booklet): it may open it even while held back."""
        with self._lock:
            self._remember_locked(client, code, self._clock())

    def wait_s(self, client: str) -> int | None:
        """Seconds this phone must wait before its next wrong code counts, or None."""
        with self._lock:
            return self._wait(client, self._clock())

    def _record(self, at: float) -> None:
        if self._store is None:
            return
        try:
            with self._store.write() as db:
                db.execute("DELETE FROM guess_misses WHERE at <= ?", (at - self._kit_window,))
                db.execute("INSERT INTO guess_misses (at) VALUES (?)", (at,))
        except StoreError as problem:
            log.warning("wrong codes counted in memory only: %s", problem)

    # -- inside the lock ----------------------------------------------------------------------------------

    def _wait(self, client: str, now: float) -> int | None:
        self._all = _within(self._all, now - self._kit_window, now)
        mine = self._misses.get(client)
        if mine is not None:
            mine = self._misses[client] = _within(mine, now - self._keep, now)
            if not mine:
                del self._misses[client]
                return None
        if mine is None:
            return None
        recent = [t for t in mine if t > now - self._phone_window]
        waits = []
        if len(recent) >= self._per_phone:
            waits.append(recent[len(recent) - self._per_phone] + self._phone_window - now)
        if len(self._all) >= self._kit and any(t > now - self._kit_window for t in mine):
            waits.append(self._all[len(self._all) - self._kit] + self._kit_window - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def _take_back(self, client: str, at: float) -> None:
        for queue in (self._misses.get(client), self._all):
            if queue is not None and at in queue:
                queue.remove(at)
        if client in self._misses and not self._misses[client]:
            del self._misses[client]

    def _knows(self, client: str, code: str, now: float) -> bool:
        expires = self._opened.get(client, {}).get(code)
        return expires is not None and expires > now

    def _remember_locked(self, client: str, code: str, now: float) -> None:
        codes = self._opened.pop(client, {})
        codes.pop(code, None)
        codes[code] = now + REMEMBER_S
        for old in [c for c, expires in codes.items() if expires <= now][:] + list(codes)[:-REMEMBER_PER_PHONE]:
            codes.pop(old, None)
        self._opened[client] = codes  # most recently used last
        while len(self._opened) > PHONES_REMEMBERED:
            self._opened.popitem(last=False)


def _within(times: deque[float], after: float, now: float) -> deque[float]:
    """The times in (after, now]. Times ahead of now were counted before the kit's clock was set back: they
    are dropped, or a wrong clock would hold phones back until it caught up."""
    if times and times[-1] > now:
        times = deque(t for t in times if t <= now)
    while times and times[0] <= after:
        times.popleft()
    return times
