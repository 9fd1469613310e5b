"""The kit's clock: which boot this is, how long since it, and setting the time.

A Raspberry Pi has no battery-backed clock: after a power cut it starts from the last time saved on the SD
card (fake-hwclock), or from 1970, until NTP, the 4G network or a mediator sets it. Setting the clock needs
root (CAP_SYS_TIME): the kiosk does it directly only when it runs as root, otherwise through the privileged
helper's ``set_clock`` operation, which accepts nothing but an epoch inside ``MIN_EPOCH..MAX_EPOCH``.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

# 2025-01-01T00:00:00Z: no kit runs this software before; 2037-12-31T00:00:00Z: still inside a 32-bit
# time_t, which 32-bit Raspberry Pi OS may use.
MIN_EPOCH = 1_735_689_600
MAX_EPOCH = 2_145_830_400
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
NETNS_DIR = Path("/run/netns")


class ClockError(Exception):
    """The clock could not be read or set; the message is for a person."""


def check_epoch(value: object) -> float:
    """A sane epoch (seconds, int or float) inside the accepted bounds, or ValueError saying why."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("the time must be a number of seconds since 1970")
    if not math.isfinite(value):
        raise ValueError("the time must be a finite number")
    if not MIN_EPOCH <= value <= MAX_EPOCH:
        raise ValueError(f"the time must lie between {MIN_EPOCH} (2025-01-01) and {MAX_EPOCH} (2037-12-31)")
    return float(value)


def in_test_namespace(netns_dir: Path = NETNS_DIR) -> bool:
    """True inside a named network namespace (``ip netns add``): a test stand, which shares the host machine's
    one clock. A kit runs in the initial namespace. Compared by inode, which needs no special privilege."""
    try:
        mine = os.stat("/proc/self/ns/net")
        names = list(netns_dir.iterdir()) if netns_dir.is_dir() else []
    except OSError:
        return False
    for name in names:
        try:
            other = os.stat(name)
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (mine.st_dev, mine.st_ino):
            return True
    return False


def set_system_clock(epoch: float) -> None:
    """Set CLOCK_REALTIME (root only). The value is checked again here: this is the one effect."""
    checked = check_epoch(epoch)
    if in_test_namespace():
        raise ClockError("this kit runs in a network namespace (a test stand): the machine's clock is left alone")
    try:
        time.clock_settime(time.CLOCK_REALTIME, checked)
    except PermissionError:
        raise ClockError("setting the clock needs root (or the privileged helper)") from None
    except OSError as problem:
        raise ClockError(f"the clock could not be set: {problem.strerror or problem}") from None


class SystemClock:
    """The kernel's view: this boot's identity and the seconds elapsed since it (counting suspend)."""

    def __init__(self, boot_id_file: Path = BOOT_ID_FILE) -> None:
        self._boot_id_file = boot_id_file
        self._fallback = f"unknown-{time.time() - time.clock_gettime(time.CLOCK_BOOTTIME):.0f}"

    def boot_id(self) -> str:
        try:
            return self._boot_id_file.read_text(encoding="ascii").strip() or self._fallback
        except OSError:
            return self._fallback

    def since_boot(self) -> float:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
