"""Failed attempts allowed per client and for the whole kit in a sliding window, kept in memory only
(no address is written to disk). Used for dashboard logins (questionnaire codes: kiosk.services.guesses)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class TooManyAttempts(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many attempts; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class FailureLimiter:
    def __init__(self, per_client: int, overall: int, window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._per_client = per_client
        self._overall = overall
        self._window = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    def _trim(self, queue: deque[float], now: float) -> None:
        while queue and queue[0] <= now - self._window:
            queue.popleft()

    def check(self, client: str) -> None:
        """Raises TooManyAttempts when this client (or everyone) has failed too often recently."""
        now = self._clock()
        with self._lock:
            mine = self._failures[client]
            self._trim(mine, now)
            self._trim(self._all, now)
            for queue, limit in ((mine, self._per_client), (self._all, self._overall)):
                if len(queue) >= limit:
                    raise TooManyAttempts(max(1, int(queue[0] + self._window - now) + 1))
            if not mine:
                del self._failures[client]

    def failed(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            self._failures[client].append(now)
            self._all.append(now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
