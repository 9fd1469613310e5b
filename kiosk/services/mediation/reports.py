"""Reports for funders, per outing, ISO week or calendar month: people met, activity by theme, skill bands
from the questionnaires, appointments, tablets lent, data used.

Only counts leave this module. A theme that can reveal a person's origin is shown only as a count, and a
count of 1 or 2 is shown as "fewer than 3" (``SMALL_COUNT``): in a small outing a count of 1 points at one
person.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from kiosk.services.clock import local_day
from kiosk.services.mediation.activity import (
    DIGITAL_THEMES,
    PROCEDURE_THEMES,
    SENSITIVE_THEMES,
    ActivityService,
    Record,
)
from kiosk.services.mediation.outings import Outing, OutingService
from kiosk.store import Store

SMALL_COUNT = 3
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class UnknownPeriod(ValueError):
    """Not an outing, week or month the kit knows."""


@dataclass(frozen=True)
class Period:
    kind: str  # outing, week, month
    key: str  # outing id, 2026-W19, 2026-05
    since: str  # first day, included
    until: str  # last day, included
    outing: Outing | None = None

    @property
    def since_epoch(self) -> float:
        return datetime.combine(date.fromisoformat(self.since), datetime.min.time()).timestamp()

    @property
    def until_epoch(self) -> float:
        """The start of the day after the last one."""
        return datetime.combine(date.fromisoformat(self.until) + timedelta(days=1), datetime.min.time()).timestamp()


def week_period(key: str) -> Period:
    match = _WEEK.match(key)
    if not match:
        raise UnknownPeriod(key)
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise UnknownPeriod(key) from None
    return Period("week", key, monday.isoformat(), (monday + timedelta(days=6)).isoformat())


def month_period(key: str) -> Period:
    match = _MONTH.match(key)
    if not match or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2100:
        raise UnknownPeriod(key)
    first = date(int(match[1]), int(match[2]), 1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period("month", key, first.isoformat(), (following - timedelta(days=1)).isoformat())


def week_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Report:
    period: Period
    records: int = 0
    people: int = 0
    minutes: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    themes: list[tuple[str, int]] = field(default_factory=list)  # digital-skill themes, most frequent first
    procedures: list[tuple[str, int]] = field(default_factory=list)  # procedure themes, sensitive ones left out
    sensitive: dict[str, int | None] = field(default_factory=dict)  # None: fewer than SMALL_COUNT
    autonomy: dict[str, int] = field(default_factory=dict)
    referred: int = 0
    referrals: dict[str, int] = field(default_factory=dict)
    genders: dict[str, int] = field(default_factory=dict)
    age_bands: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    survey: Any = None  # kiosk.services.survey.stats.Summary, when the questionnaire is available
    appointments: dict[str, int] = field(default_factory=dict)  # requested, pending, done, cancelled
    slots: dict[str, int] = field(default_factory=dict)  # booked, done, missed (kiosk/services/survey/slots.py)
    tablets_lent: int = 0
    sessions: int = 0
    session_bytes: int = 0
    uplink_bytes: int | None = None  # the whole uplink, for weeks and months
    outings: list[Outing] = field(default_factory=list)


def small(count: int) -> int | None:
    return count if count == 0 or count >= SMALL_COUNT else None


class ReportService:
    def __init__(self, store: Store, outings: OutingService, activity: ActivityService, clock: Callable[[], float],
                 survey_summary: Callable[[str, str, int | None], Any] | None = None) -> None:
        self._store = store
        self._clock = clock
        self._outings = outings
        self._activity = activity
        self._survey_summary = survey_summary

    def period(self, kind: str, key: str) -> Period:
        if kind == "week":
            return week_period(key)
        if kind == "month":
            return month_period(key)
        if kind == "outing" and key.isdigit() and len(key) < 12:
            outing = self._outings.get(int(key))
            if outing is not None:
                last = outing.ended_at if outing.ended_at is not None else max(outing.started_at, self._clock())
                return Period("outing", key, local_day(outing.started_at), local_day(last), outing)
        raise UnknownPeriod(f"{kind} {key}")

    def recent_periods(self, today: str, weeks: int = 6, months: int = 6) -> dict[str, list[str]]:
        day = date.fromisoformat(today)
        week_keys = list(dict.fromkeys(week_key(day - timedelta(weeks=n)) for n in range(weeks)))
        month_keys, first = [], day.replace(day=1)
        for _ in range(months):
            month_keys.append(first.strftime("%Y-%m"))
            first = (first - timedelta(days=1)).replace(day=1)
        return {"week": week_keys, "month": month_keys}

    def records(self, period: Period) -> list[Record]:
        outing_id = period.outing.id if period.outing else None
        return self._activity.between(period.since, period.until, outing_id)

    def build(self, period: Period) -> Report:
        report = Report(period)
        outing_id = period.outing.id if period.outing else None
        self._activity_counts(report, self.records(period))
        if self._survey_summary is not None:
            report.survey = self._survey_summary(period.since, period.until, outing_id)
        with self._store.read() as db:
            if outing_id is not None:
                where, args = "outing_id = ?", (outing_id,)
                sessions = db.execute("SELECT count(*), coalesce(sum(bytes_used), 0) FROM access_sessions "
                                      "WHERE outing_id = ?", args).fetchone()
            else:
                where, args = "requested_day >= ? AND requested_day <= ?", (period.since, period.until)
                sessions = db.execute("SELECT count(*), coalesce(sum(bytes_used), 0) FROM access_sessions "
                                      "WHERE started_at >= ? AND started_at < ?",
                                      (period.since_epoch, period.until_epoch)).fetchone()
                report.uplink_bytes = db.execute(
                    "SELECT coalesce(sum(rx_bytes + tx_bytes), 0) FROM uplink_usage WHERE day >= ? AND day <= ?",
                    (period.since, period.until)).fetchone()[0]
            statuses = dict(db.execute(f"SELECT status, count(*) FROM appointment_follow_up WHERE {where} "  # noqa: S608
                                       "GROUP BY status", args).fetchall())
            # An outing counts the slots booked during it; a week or a month, the appointments it holds.
            slot_day = "booked" if outing_id is not None else "substr(starts, 1, 10)"
            booked = db.execute(f"SELECT count(*), coalesce(sum(outcome = 'done'), 0), "  # noqa: S608
                                f"coalesce(sum(outcome = 'missed'), 0) FROM appointment_slots "
                                f"WHERE booked IS NOT NULL AND {slot_day} >= ? AND {slot_day} <= ?",
                                (period.since, period.until)).fetchone()
            if outing_id is not None:
                lent = db.execute("SELECT count(*) FROM tablet_loans WHERE outing_id = ?", args).fetchone()[0]
            else:
                lent = db.execute("SELECT count(*) FROM tablet_loans WHERE lent_at >= ? AND lent_at < ?",
                                  (period.since_epoch, period.until_epoch)).fetchone()[0]
        report.sessions, report.session_bytes = sessions[0], sessions[1]
        report.appointments = {"requested": sum(statuses.values()), **{key: statuses.get(key, 0)
                                                                       for key in ("pending", "done", "cancelled")}}
        report.slots = {"booked": booked[0], "done": booked[1], "missed": booked[2]}
        report.tablets_lent = lent
        if period.outing is None:
            report.outings = self._outings.between(period.since, period.until)
        return report

    @staticmethod
    def _activity_counts(report: Report, records: list[Record]) -> None:
        kinds: Counter[str] = Counter()
        themes: Counter[str] = Counter()
        procedures: Counter[str] = Counter()
        autonomy: Counter[str] = Counter()
        referrals: Counter[str] = Counter()
        genders: Counter[str] = Counter()
        ages: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        for record in records:
            entry = record.entry
            report.records += 1
            report.people += entry.participants
            report.minutes += entry.duration_min
            kinds[entry.kind] += 1
            themes.update(entry.themes)
            procedures.update(entry.procedure_themes)
            if entry.autonomy:
                autonomy[entry.autonomy] += 1
            if entry.referral_structure:
                report.referred += 1
                referrals[entry.referral_structure] += 1
            for counter, value in ((genders, entry.gender), (ages, entry.age_band), (statuses, entry.social_status)):
                counter[value or "not_given"] += 1
        report.by_kind = dict(kinds)
        report.themes = [(code, themes[code]) for code in sorted(themes, key=lambda c: (-themes[c], c))
                         if code in DIGITAL_THEMES]
        report.procedures = [(code, procedures[code]) for code in sorted(procedures, key=lambda c: (-procedures[c], c))
                             if code in PROCEDURE_THEMES and code not in SENSITIVE_THEMES]
        report.sensitive = {code: small(procedures[code]) for code in sorted(SENSITIVE_THEMES)}
        report.autonomy, report.referrals = dict(autonomy), dict(referrals)
        report.genders, report.age_bands, report.statuses = dict(genders), dict(ages), dict(statuses)
