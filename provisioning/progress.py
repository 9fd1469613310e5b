"""A progress line per tablet in the terminal, fed by wipe events.

On a terminal the lines are redrawn in place; into a file or a pipe each event is one plain line.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from provisioning.events import Event

_UP_AND_CLEAR = "\x1b[{n}F"
_CLEAR_LINE = "\x1b[2K"


class Progress:
    def __init__(self, stream: TextIO, tty: bool | None = None, clock=time.monotonic):
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.clock = clock
        self._lines: dict[str, tuple[str, str, float]] = {}
        self._drawn = 0
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            started = self._lines.get(event.tablet, ("", "", self.clock()))[2]
            self._lines[event.tablet] = (event.state, event.detail, started)
            if self.tty:
                self._redraw()
            else:
                self.stream.write(self._line(event.tablet) + "\n")
            self.stream.flush()

    def _line(self, tablet: str) -> str:
        state, detail, started = self._lines[tablet]
        elapsed = self.clock() - started
        return f"{tablet:<14} {state:<16} {elapsed:5.1f} s  {detail}".rstrip()

    def _redraw(self) -> None:
        if self._drawn:
            self.stream.write(_UP_AND_CLEAR.format(n=self._drawn))
        for tablet in self._lines:
            self.stream.write(_CLEAR_LINE + self._line(tablet)[:200] + "\n")
        self._drawn = len(self._lines)
