"""The kit's health as the hardware reports it: battery or UPS, CPU temperature, throttling, free disk, and
how many devices hold a DHCP lease. Every reading may be absent (a laptop has no vcgencmd, a Pi on mains
reports no battery): absent is None, never an exception.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

try:  # a declared dependency, but the kit must still start on a system without it
    import psutil
except ImportError:  # pragma: no cover - depends on the system
    psutil = None

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
# vcgencmd get_throttled bits (Raspberry Pi firmware): now, and since boot (bit + 16)
UNDER_VOLTAGE, FREQ_CAPPED, THROTTLED, SOFT_TEMP_LIMIT = 0, 1, 2, 3


@dataclass(frozen=True)
class Power:
    percent: float
    plugged: bool | None
    minutes_left: int | None


@dataclass(frozen=True)
class Throttling:
    under_voltage: bool
    throttled: bool  # frequency capped, throttled or soft temperature limit, now
    happened_since_boot: bool

    @property
    def any_now(self) -> bool:
        return self.under_voltage or self.throttled


@dataclass(frozen=True)
class Disk:
    free_bytes: int
    total_bytes: int

    @property
    def free_percent(self) -> int:
        return int(self.free_bytes * 100 / self.total_bytes) if self.total_bytes else 0


def parse_throttled(output: str) -> Throttling | None:
    """``throttled=0x50005`` → flags; None when the text is not vcgencmd's answer."""
    _, _, value = output.strip().partition("throttled=")
    try:
        bits = int(value, 16)
    except ValueError:
        return None
    now = any(bits & (1 << bit) for bit in (FREQ_CAPPED, THROTTLED, SOFT_TEMP_LIMIT))
    return Throttling(bool(bits & (1 << UNDER_VOLTAGE)), now, bool(bits >> 16))


def parse_millidegrees(text: str) -> float | None:
    try:
        return int(text.strip()) / 1000
    except ValueError:
        return None


def count_leases(text: str, now: float) -> int:
    """dnsmasq lease lines still valid at ``now`` (expiry 0 means never)."""
    count = 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0].isdigit() and (fields[0] == "0" or int(fields[0]) > now):
            count += 1
    return count


class Health:
    """Reads the machine; construct with other paths or binaries to point it elsewhere (tests, other boards)."""

    def __init__(self, vcgencmd: str = "vcgencmd", thermal_zone: Path = THERMAL_ZONE, timeout_s: float = 3.0) -> None:
        self._vcgencmd = vcgencmd
        self._thermal_zone = thermal_zone
        self._timeout = timeout_s

    def power(self) -> Power | None:
        if psutil is None or not hasattr(psutil, "sensors_battery"):
            return None
        try:
            battery = psutil.sensors_battery()
        except (OSError, RuntimeError):
            return None
        if battery is None:
            return None
        seconds = battery.secsleft
        minutes = int(seconds // 60) if isinstance(seconds, int | float) and seconds >= 0 else None
        return Power(float(battery.percent), battery.power_plugged, minutes)

    def cpu_temperature(self) -> float | None:
        if psutil is not None and hasattr(psutil, "sensors_temperatures"):
            try:
                sensors = psutil.sensors_temperatures()
            except (OSError, RuntimeError):
                sensors = {}
            for name in ("cpu_thermal", "coretemp", "k10temp", "soc_thermal", "cpu-thermal"):
                if sensors.get(name):
                    return float(sensors[name][0].current)
        try:
            return parse_millidegrees(self._thermal_zone.read_text(encoding="ascii"))
        except OSError:
            return None

    def throttling(self) -> Throttling | None:
        try:
            done = subprocess.run([self._vcgencmd, "get_throttled"], capture_output=True, text=True,
                                  timeout=self._timeout, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return parse_throttled(done.stdout) if done.returncode == 0 else None

    def disk(self, path: Path) -> Disk | None:
        folder = path if path.is_dir() else path.parent
        try:
            usage = shutil.disk_usage(folder)
        except OSError:
            return None
        return Disk(usage.free, usage.total)

    def leases(self, lease_file: Path, now: float) -> int | None:
        try:
            return count_leases(lease_file.read_text(encoding="ascii", errors="replace"), now)
        except OSError:
            return None
