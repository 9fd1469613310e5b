"""The 4G modem as ModemManager sees it, read through ``mmcli -J`` (JSON output).

mmcli prints one JSON object whose nesting follows its dotted keys (``modem.generic.state``,
``modem.3gpp.operator-name``…); every value is a string, lists are lists of strings, and a value
ModemManager does not know (or reports as "unknown"/"none") is printed as ``"--"``.

No modem, no mmcli, ModemManager stopped, a hung mmcli or unreadable output all give a ``NoModem``
with a short reason: a kit with a HiLink dongle or a tethered phone has no ModemManager modem at all.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

MODEM_PATH_PREFIX = "/org/freedesktop/ModemManager1/Modem/"
UNKNOWN = "--"


class MmcliFormatError(ValueError):
    """mmcli's JSON does not have the expected shape."""


@dataclass(frozen=True)
class ModemStatus:
    path: str
    manufacturer: str | None
    model: str | None
    state: str | None  # "connected", "registered", "searching", "disabled", "failed"…
    failed_reason: str | None  # only when state is "failed", e.g. "sim-missing"
    operator_name: str | None
    operator_code: str | None  # MCC+MNC, e.g. "20801"
    registration: str | None  # "home", "roaming", "searching", "denied", "idle"…
    access_technologies: tuple[str, ...]  # e.g. ("lte",) or ("umts", "hsdpa")
    signal_percent: int | None

    @property
    def index(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class NoModem:
    """A normal answer: there is no modem to show, and why."""

    reason: str

    def __bool__(self) -> bool:
        return False


# --- pure parsing: decoded JSON in, values out --------------------------------------------------


def _known(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return None if value in ("", UNKNOWN) else value


def _section(document: Any, *names: str) -> dict[str, Any]:
    """A nested object, or {} when absent (mmcli leaves out sections a modem lacks, e.g. "3gpp")."""
    for name in names:
        if not isinstance(document, dict):
            return {}
        document = document.get(name, {})
    return document if isinstance(document, dict) else {}


def parse_modem_list(document: Any) -> list[str]:
    """``mmcli -J -L`` → the modems' D-Bus paths."""
    if not isinstance(document, dict) or not isinstance(document.get("modem-list"), list):
        raise MmcliFormatError('expected {"modem-list": [...]}')
    return [path for path in document["modem-list"] if isinstance(path, str) and path.startswith(MODEM_PATH_PREFIX)]


def _percent(value: Any) -> int | None:
    text = _known(value)
    if text is None or not text.isdigit():
        return None
    return min(int(text), 100)


def parse_modem(document: Any) -> ModemStatus:
    """``mmcli -J -m N`` → ModemStatus."""
    modem = _section(document, "modem")
    generic = _section(modem, "generic")
    if not generic:
        raise MmcliFormatError('expected {"modem": {"generic": {...}}}')
    three_gpp = _section(modem, "3gpp")
    state = _known(generic.get("state"))
    technologies = generic.get("access-technologies")
    if not isinstance(technologies, list):
        technologies = []
    return ModemStatus(
        path=_known(modem.get("dbus-path")) or "",
        manufacturer=_known(generic.get("manufacturer")),
        model=_known(generic.get("model")),
        state=state,
        failed_reason=_known(generic.get("state-failed-reason")) if state == "failed" else None,
        operator_name=_known(three_gpp.get("operator-name")),
        operator_code=_known(three_gpp.get("operator-code")),
        registration=_known(three_gpp.get("registration-state")),
        access_technologies=tuple(t for t in (_known(item) for item in technologies) if t),
        signal_percent=_percent(_section(generic, "signal-quality").get("value")),
    )


def parse_network_time(document: Any) -> datetime | None:
    """``mmcli -J -m N --time`` → the network's time, timezone-aware, or None when unknown.

    ModemManager writes ISO 8601 with the offset when the network sent one; otherwise the offset may
    still come separately as ``modem.timezone.current`` (minutes east of UTC).
    """
    text = _known(_section(document, "modem", "time").get("current"))
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        offset = _known(_section(document, "modem", "timezone").get("current"))
        try:
            minutes = int(offset) if offset is not None else None
        except ValueError:
            minutes = None
        if minutes is None or abs(minutes) >= 24 * 60:
            return None
        moment = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    return moment


def modem_selector(path_or_index: str | int) -> str | None:
    """What ``mmcli -m`` accepts: an index or a full modem path; None for anything else."""
    text = str(path_or_index).strip()
    if text.isdigit():
        return text
    if text.startswith(MODEM_PATH_PREFIX) and text[len(MODEM_PATH_PREFIX):].isdigit():
        return text
    return None


def explain_failure(stderr: str) -> str:
    """mmcli's error text → a short reason for a person."""
    lowered = stderr.lower()
    if "couldn't find the modemmanager process" in lowered:
        return "ModemManager is not running"
    if "couldn't find modem" in lowered:
        return "modem not found"
    if "modem has no time capabilities" in lowered:
        return "modem gives no network time"
    if "modem not enabled" in lowered:
        return "modem not enabled"
    first_line = stderr.strip().splitlines()[0] if stderr.strip() else "no message"
    return f"mmcli failed: {first_line.removeprefix('error: ')[:120]}"


# --- effects: running mmcli ---------------------------------------------------------------------


class ModemManagerCli:
    """Runs ``mmcli -J``; every answer is a value, never an exception."""

    def __init__(self, mmcli: str = "mmcli", timeout_s: float = 10.0) -> None:
        self._mmcli = mmcli
        self._timeout = timeout_s

    def _run(self, *args: str) -> Any | NoModem:
        if not self._mmcli:
            return NoModem("ModemManager not used (uplink.mmcli is empty)")
        try:
            done = subprocess.run([self._mmcli, "-J", *args], capture_output=True, text=True,
                                  timeout=self._timeout, check=False)
        except FileNotFoundError:
            return NoModem(f"mmcli is not installed ({self._mmcli} not found)")
        except subprocess.TimeoutExpired:
            return NoModem(f"mmcli did not answer within {self._timeout:g} s")
        except OSError as problem:
            return NoModem(f"mmcli cannot run: {problem.strerror or problem}")
        if done.returncode != 0:
            return NoModem(explain_failure(done.stderr))
        try:
            return json.loads(done.stdout)
        except ValueError:
            return NoModem("mmcli gave unreadable output")

    def list_modems(self) -> list[str] | NoModem:
        document = self._run("-L")
        if isinstance(document, NoModem):
            return document
        try:
            return parse_modem_list(document)
        except MmcliFormatError:
            return NoModem("mmcli gave unreadable output")

    def modem(self, path_or_index: str | int) -> ModemStatus | NoModem:
        selector = modem_selector(path_or_index)
        if selector is None:
            return NoModem(f"not a modem index or path: {str(path_or_index)[:60]!r}")
        document = self._run("-m", selector)
        if isinstance(document, NoModem):
            return document
        try:
            return parse_modem(document)
        except MmcliFormatError:
            return NoModem("mmcli gave unreadable output")

    def first_modem(self) -> ModemStatus | NoModem:
        """The first modem ModemManager lists (a kit has one)."""
        paths = self.list_modems()
        if isinstance(paths, NoModem):
            return paths
        if not paths:
            return NoModem("no modem found")
        return self.modem(paths[0])

    def network_time(self, path_or_index: str | int | None = None) -> datetime | None:
        """The time the mobile network announced, or None (no modem, no time, unknown)."""
        if path_or_index is None:
            paths = self.list_modems()
            if isinstance(paths, NoModem) or not paths:
                return None
            path_or_index = paths[0]
        selector = modem_selector(path_or_index)
        if selector is None:
            return None
        document = self._run("-m", selector, "--time")
        if isinstance(document, NoModem):
            return None
        return parse_network_time(document)
