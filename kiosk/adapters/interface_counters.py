"""Bytes an interface received and sent, from the kernel's counters under /sys/class/net."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_INTERFACE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


@dataclass(frozen=True)
class CounterReading:
    interface: str
    rx_bytes: int
    tx_bytes: int
    # Changes when the counters start again from zero for a reason a smaller value would not show:
    # a reboot (boot id) or the interface being re-created, e.g. a USB modem plugged back (ifindex).
    identity: str

    @property
    def total(self) -> int:
        return self.rx_bytes + self.tx_bytes


def parse_counter(text: str) -> int:
    value = int(text.strip())
    if value < 0:
        raise ValueError("a byte counter is never negative")
    return value


class InterfaceCounters:
    def __init__(self, base: str | Path = "/sys/class/net",
                 boot_id_file: str | Path = "/proc/sys/kernel/random/boot_id") -> None:
        self._base = Path(base)
        self._boot_id_file = Path(boot_id_file)

    def read(self, interface: str) -> CounterReading | None:
        """The interface's counters, or None when it does not exist (modem unplugged) or cannot be read."""
        if not _INTERFACE.match(interface) or interface in (".", ".."):
            return None
        folder = self._base / interface
        try:
            rx = parse_counter((folder / "statistics" / "rx_bytes").read_text(encoding="ascii"))
            tx = parse_counter((folder / "statistics" / "tx_bytes").read_text(encoding="ascii"))
        except (OSError, ValueError):
            return None
        return CounterReading(interface, rx, tx, f"{self._read(self._boot_id_file)}/{self._read(folder / 'ifindex')}")

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return ""
