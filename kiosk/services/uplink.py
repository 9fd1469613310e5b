"""The uplink: which interface carries the way out, whether the internet answers, what the modem says,
and how much data the uplink carried against the monthly cap.

The internet check costs data on a metered link, so it is rate-limited kit-wide: the last answer is kept
in the store, and the portal's process, the CLI and the dashboard share it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Protocol

from kiosk.adapters.interface_counters import CounterReading, InterfaceCounters
from kiosk.adapters.modem import ModemManagerCli, ModemStatus, NoModem
from kiosk.adapters.reachability import DefaultRoute, HttpProbe, ProbeResult
from kiosk.store import Store, StoreError

log = logging.getLogger("kiosk.uplink")

Clock = Callable[[], float]


class Route(Protocol):
    def interface(self) -> str | None: ...


class Probe(Protocol):
    def check(self) -> ProbeResult: ...


class Modems(Protocol):
    def first_modem(self) -> ModemStatus | NoModem: ...


class Counters(Protocol):
    def read(self, interface: str) -> CounterReading | None: ...


@dataclass(frozen=True)
class UplinkConfig:
    wan_interface: str
    check_enabled: bool
    check_url: str
    check_seconds: int
    monthly_cap_bytes: int  # 0: no cap
    warn_percent: int
    probe_timeout_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: Any) -> UplinkConfig:
        uplink = settings.uplink
        return cls(
            wan_interface=settings.network.wan_interface,
            check_enabled=bool(uplink.check_enabled and uplink.check_url),
            check_url=uplink.check_url,
            check_seconds=uplink.check_minutes * 60,
            monthly_cap_bytes=uplink.monthly_cap_mb * 1_000_000,
            warn_percent=uplink.warn_percent,
        )


@dataclass(frozen=True)
class InternetCheck:
    answered: bool
    checked_at: float
    detail: str  # "HTTP 204", "HTTP 500", "timed out"…
    interface: str | None  # the default route's interface when it was checked


@dataclass(frozen=True)
class UplinkStatus:
    now: float
    interface: str | None  # carrying the IPv4 default route
    wan_interface: str  # the configured uplink, whose data is counted
    checks_enabled: bool
    internet: bool | None  # None: checks disabled or never ran
    checked_at: float | None
    internet_detail: str | None
    modem: ModemStatus | None
    modem_reason: str | None  # why there is no modem to show
    today_bytes: int
    month_bytes: int
    monthly_cap_bytes: int
    warn_percent: int

    @property
    def cap_percent(self) -> int | None:
        if not self.monthly_cap_bytes:
            return None
        return self.month_bytes * 100 // self.monthly_cap_bytes

    @property
    def cap_warning(self) -> bool:
        return bool(self.monthly_cap_bytes) and self.month_bytes * 100 >= self.monthly_cap_bytes * self.warn_percent

    @property
    def cap_exceeded(self) -> bool:
        return bool(self.monthly_cap_bytes) and self.month_bytes >= self.monthly_cap_bytes


def usage_delta(last: tuple[str, int, int] | None, reading: CounterReading) -> tuple[int, int]:
    """Bytes (received, sent) since the last reading ``(identity, rx, tx)``.

    Counters start again from zero when the Pi reboots or the interface is re-created: then (new identity,
    or a value lower than the last one) the new value is all new traffic.
    """
    if last is None or last[0] != reading.identity:
        return reading.rx_bytes, reading.tx_bytes

    def since(previous: int, current: int) -> int:
        return current - previous if current >= previous else current

    return since(last[1], reading.rx_bytes), since(last[2], reading.tx_bytes)


class UplinkService:
    def __init__(self, store: Store, config: UplinkConfig, *, modems: Modems, counters: Counters,
                 probe: Probe | None, route: Route, clock: Clock, local_timezone: tzinfo | None = None,
                 route_ttl_s: float = 2.0) -> None:
        self._store = store
        self._config = config
        self._modems = modems
        self._counters = counters
        self._probe = probe
        self._route = route
        self._clock = clock
        self._tz = local_timezone  # None: the system's local time
        self._route_ttl = route_ttl_s
        self._lock = threading.Lock()  # guards the fields below
        self._check_lock = threading.Lock()  # one real check at a time
        self._last: InternetCheck | None = None
        self._worker: threading.Thread | None = None
        self._route_cached: str | None = None
        self._route_read_at = float("-inf")

    @classmethod
    def from_settings(cls, store: Store, settings: Any, clock: Clock = time.time) -> UplinkService:
        config = UplinkConfig.from_settings(settings)
        probe = HttpProbe(config.check_url, config.probe_timeout_s) if config.check_enabled else None
        return cls(store, config, modems=ModemManagerCli(settings.uplink.mmcli), counters=InterfaceCounters(),
                   probe=probe, route=DefaultRoute(), clock=clock)

    @property
    def config(self) -> UplinkConfig:
        return self._config

    @property
    def checks_enabled(self) -> bool:
        return self._config.check_enabled and self._probe is not None

    # --- the internet check ---------------------------------------------------------------------

    def _fresh(self, check: InternetCheck | None, interface: str | None, now: float) -> bool:
        # A clock that went backwards (the Pi has no RTC) makes the answer stale rather than eternal.
        return (check is not None and check.interface == interface
                and 0 <= now - check.checked_at < self._config.check_seconds)

    def check_internet(self) -> InternetCheck | None:
        """The last internet check, refreshed when older than check_minutes; None when checks are disabled
        or there is no default route (nothing to check). Blocks for at most the probe's timeout."""
        probe = self._probe
        if probe is None or not self._config.check_enabled:
            return None
        interface = self._route.interface()
        if interface is None:
            return None
        with self._lock:
            mine = self._last
        if self._fresh(mine, interface, self._clock()):
            return mine
        with self._check_lock:
            with self._lock:
                mine = self._last  # a thread that held the check lock before us may have just checked
            now = self._clock()
            for candidate in (mine, self._stored_check()):  # the store: another process may have checked
                if self._fresh(candidate, interface, now):
                    with self._lock:
                        self._last = candidate
                    return candidate
            result = probe.check()
            checked = InternetCheck(result.answered, self._clock(), result.detail, interface)
            with self._lock:
                self._last = checked
            self._save_check(checked)
            log.info("internet check through %s: %s", interface, checked.detail)
            return checked

    def last_check(self) -> InternetCheck | None:
        """The most recent check this process or another one (through the store) made; no request."""
        with self._lock:
            mine = self._last
        stored = self._stored_check()
        known = [check for check in (mine, stored) if check is not None]
        return max(known, key=lambda check: check.checked_at) if known else None

    def _stored_check(self) -> InternetCheck | None:
        try:
            with self._store.read() as db:
                row = db.execute("SELECT interface, checked_at, answered, detail FROM uplink_check "
                                 "WHERE id = 1").fetchone()
        except StoreError as problem:
            log.warning("cannot read the last internet check: %s", problem)
            return None
        if row is None:
            return None
        return InternetCheck(bool(row["answered"]), row["checked_at"], row["detail"], row["interface"])

    def _save_check(self, check: InternetCheck) -> None:
        try:
            with self._store.write() as db:
                db.execute(
                    "INSERT INTO uplink_check (id, interface, checked_at, answered, detail) VALUES (1, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET interface = excluded.interface, "
                    "checked_at = excluded.checked_at, answered = excluded.answered, detail = excluded.detail",
                    (check.interface, check.checked_at, int(check.answered), check.detail),
                )
        except StoreError as problem:
            log.warning("cannot keep the internet check in the store: %s", problem)

    # --- the portal's question ------------------------------------------------------------------

    def _route_interface(self) -> str | None:
        now = time.monotonic()
        with self._lock:
            if now - self._route_read_at < self._route_ttl:
                return self._route_cached
        interface = self._route.interface()
        with self._lock:
            self._route_cached, self._route_read_at = interface, now
        return interface

    def is_up(self) -> bool:
        """True when there is a default route and the last internet check did not fail.

        The portal asks on every page, from several threads: this never waits for the network. A stale
        check is refreshed in a background thread, because a synchronous one would hold a participant's
        page (and one of the few portal threads) for up to the probe's timeout on a bad 4G link.
        """
        interface = self._route_interface()
        if interface is None:
            return False
        if not self.checks_enabled:
            return True
        with self._lock:
            last = self._last
        if not self._fresh(last, interface, self._clock()):
            self._refresh_in_background()
        return last is None or last.interface != interface or last.answered

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(target=self._background_check, name="uplink-check", daemon=True)
            self._worker.start()

    def _background_check(self) -> None:
        try:
            self.check_internet()
        except Exception:
            log.exception("the background internet check failed")

    def wait_for_background_check(self, timeout_s: float) -> bool:
        """Wait until no background check runs; False if one still runs after ``timeout_s``."""
        with self._lock:
            worker = self._worker
        if worker is None:
            return True
        worker.join(timeout_s)
        return not worker.is_alive()

    # --- data usage -----------------------------------------------------------------------------

    def _day(self, now: float) -> date:
        return datetime.fromtimestamp(now, tz=self._tz).date()

    def record_usage(self) -> int:
        """Add what the WAN interface carried since the last reading to today's row; returns the bytes added.

        Meant for the housekeeping thread, about once a minute. The last reading is kept in the store, so a
        restart of the kit's process neither counts twice nor loses what was carried meanwhile. Raises
        StoreError when the store cannot be written.
        """
        interface = self._config.wan_interface
        reading = self._counters.read(interface)
        if reading is None:
            return 0  # no such interface now (modem unplugged): its next reading starts from zero
        now = self._clock()
        with self._store.write() as db:
            row = db.execute("SELECT identity, rx_bytes, tx_bytes FROM uplink_counters WHERE interface = ?",
                             (interface,)).fetchone()
            last = (row["identity"], row["rx_bytes"], row["tx_bytes"]) if row is not None else None
            if last == (reading.identity, reading.rx_bytes, reading.tx_bytes):
                return 0  # nothing moved: spare the SD card a write
            rx, tx = usage_delta(last, reading)
            if rx or tx:
                db.execute(
                    "INSERT INTO uplink_usage (day, rx_bytes, tx_bytes) VALUES (?, ?, ?) ON CONFLICT (day) "
                    "DO UPDATE SET rx_bytes = rx_bytes + excluded.rx_bytes, tx_bytes = tx_bytes + excluded.tx_bytes",
                    (self._day(now).isoformat(), rx, tx),
                )
            db.execute(
                "INSERT INTO uplink_counters (interface, identity, rx_bytes, tx_bytes, read_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (interface) DO UPDATE SET identity = excluded.identity, rx_bytes = excluded.rx_bytes, "
                "tx_bytes = excluded.tx_bytes, read_at = excluded.read_at",
                (interface, reading.identity, reading.rx_bytes, reading.tx_bytes, int(now)),
            )
        return rx + tx

    def usage(self, now: float | None = None) -> tuple[int, int]:
        """Bytes the uplink carried (today, this calendar month), local days by the kit's clock."""
        day = self._day(self._clock() if now is None else now)
        first = day.replace(day=1)
        next_month = (first + timedelta(days=32)).replace(day=1)
        with self._store.read() as db:
            today = db.execute("SELECT COALESCE(SUM(rx_bytes + tx_bytes), 0) FROM uplink_usage WHERE day = ?",
                               (day.isoformat(),)).fetchone()[0]
            month = db.execute("SELECT COALESCE(SUM(rx_bytes + tx_bytes), 0) FROM uplink_usage "
                               "WHERE day >= ? AND day < ?", (first.isoformat(), next_month.isoformat())).fetchone()[0]
        return today, month

    def cap_month(self) -> str:
        """This month by the kit's clock ("2026-12"): the firewall's monthly quota is made anew when it turns."""
        return self._day(self._clock()).strftime("%Y-%m")

    def cap_left(self) -> int | None:
        """The bytes left of this month's cap (None: no cap), counting what the uplink carried until now:
        the firewall's own quota holds this for the participants from the kit's start and each month's 1st."""
        cap = self._config.monthly_cap_bytes
        if not cap:
            return None
        try:
            self.record_usage()  # what the kernel let through while the kit was stopped counts too
        except StoreError as problem:
            log.warning("could not record the uplink's usage: %s", problem)
        return max(0, cap - self.usage()[1])

    def cap_reached(self) -> bool:
        """The month's data cap is used up: the portal opens no new sessions until the month turns."""
        cap = self._config.monthly_cap_bytes
        return bool(cap) and self.usage()[1] >= cap

    # --- the whole picture ----------------------------------------------------------------------

    def status(self, check_internet: bool = True) -> UplinkStatus:
        """Everything about the uplink. With ``check_internet`` a stale internet check is made now
        (blocking up to the probe's timeout); without, the last known answer is shown."""
        now = self._clock()
        interface = self._route.interface()
        internet: bool | None = None
        checked_at: float | None = None
        if not self.checks_enabled:
            detail: str | None = "checks disabled"
        elif interface is None:
            internet, detail = False, "no default route"
        else:
            check = self.check_internet() if check_internet else self.last_check()
            if check is None:
                detail = "not checked yet"
            else:
                internet, checked_at, detail = check.answered, check.checked_at, check.detail
        modem = self._modems.first_modem()
        today, month = self.usage(now)
        return UplinkStatus(
            now=now, interface=interface, wan_interface=self._config.wan_interface,
            checks_enabled=self.checks_enabled, internet=internet, checked_at=checked_at, internet_detail=detail,
            modem=modem if isinstance(modem, ModemStatus) else None,
            modem_reason=modem.reason if isinstance(modem, NoModem) else None,
            today_bytes=today, month_bytes=month, monthly_cap_bytes=self._config.monthly_cap_bytes,
            warn_percent=self._config.warn_percent,
        )


# --- presentation for the CLI (plain text) and JSON ----------------------------------------------

_TECHNOLOGIES = {"5gnr": "5G NR", "hspa-plus": "HSPA+", "lte-cat-m": "LTE-M", "lte-nb-iot": "NB-IoT",
                 "1xrtt": "1xRTT", "evdo0": "EV-DO", "evdoa": "EV-DO A", "evdob": "EV-DO B"}


def human_bytes(count: int) -> str:
    """Decimal units, as operators bill: 120 MB, 3.2 GB, 20 GB."""
    if count < 1000:
        return f"{count} B"
    value, unit = count / 1000, "kB"
    for bigger in ("MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return f"{text.removesuffix('.0')} {unit}"


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def describe_modem(modem: ModemStatus) -> str:
    manufacturer = modem.manufacturer or ""
    if manufacturer.islower():
        manufacturer = manufacturer.capitalize()
    name = " ".join(part for part in (manufacturer, modem.model or "") if part) or "modem"
    details = []
    if modem.operator_name or modem.operator_code:
        details.append(modem.operator_name or modem.operator_code)
    if modem.registration == "roaming":
        details.append("roaming")
    if modem.access_technologies:
        details.append("/".join(_TECHNOLOGIES.get(t, t.upper()) for t in modem.access_technologies))
    if modem.signal_percent is not None and modem.state != "failed":
        details.append(f"signal {modem.signal_percent}%")
    if modem.state == "failed":
        details.append(f"failed ({modem.failed_reason or 'no reason given'})")
    elif modem.state:
        details.append(modem.state)
    return f"{name} — {', '.join(details)}" if details else name


def format_status(status: UplinkStatus) -> str:
    """The text of ``kiosk uplink status``."""
    lines = []
    if status.interface is None:
        lines.append("uplink: none (no default route: only the kit's own services work)")
    elif status.interface == status.wan_interface:
        lines.append(f"uplink: {status.interface} (default route)")
    else:
        lines.append(f"uplink: {status.interface} (default route; network.wan_interface is {status.wan_interface}, "
                     "whose data is counted)")

    if status.internet is None:
        lines.append(f"internet: not checked ({status.internet_detail})")
    else:
        verdict = "answers" if status.internet else "does not answer"
        when = f", checked {_ago(status.now - status.checked_at)}" if status.checked_at is not None else ""
        lines.append(f"internet: {verdict} ({status.internet_detail}{when})")

    if status.modem is not None:
        lines.append(f"modem: {describe_modem(status.modem)}")
    else:
        lines.append(f"modem: none ({status.modem_reason})")

    month = human_bytes(status.month_bytes)
    if status.monthly_cap_bytes:
        month += f" of {human_bytes(status.monthly_cap_bytes)} ({status.cap_percent}%)"
    else:
        month += " (no monthly cap)"
    lines.append(f"data: today {human_bytes(status.today_bytes)}, this month {month}")
    if status.cap_exceeded:
        lines.append("warning: the monthly data cap is used up")
    elif status.cap_warning:
        lines.append(f"warning: {status.cap_percent}% of the monthly data cap used (warning from "
                     f"{status.warn_percent}%)")
    return "\n".join(lines)


def as_dict(status: UplinkStatus) -> dict[str, Any]:
    """The same, for ``--json``: plain JSON types, times as epoch seconds."""
    modem = None
    if status.modem is not None:
        modem = asdict(status.modem)
        modem["access_technologies"] = list(status.modem.access_technologies)
    return {
        "now": status.now,
        "interface": status.interface,
        "wan_interface": status.wan_interface,
        "internet": {"enabled": status.checks_enabled, "answers": status.internet,
                     "checked_at": status.checked_at, "detail": status.internet_detail},
        "modem": modem,
        "modem_reason": status.modem_reason,
        "data": {"today_bytes": status.today_bytes, "month_bytes": status.month_bytes,
                 "monthly_cap_bytes": status.monthly_cap_bytes, "cap_percent": status.cap_percent,
                 "warn_percent": status.warn_percent, "cap_warning": status.cap_warning,
                 "cap_exceeded": status.cap_exceeded},
    }
