"""Merge the kits' anonymous activity exports into one fleet report: a CSV and an HTML page with charts.

    python -m provisioning.fleet_report --report-dir DIR

`playbooks/collect.yml` leaves, for each kit it was asked to reach, ``DIR/kits/<kit>/kit.json`` (name, area,
whether it was reached) and, when reached, ``DIR/kits/<kit>/activity.csv``: the per-day counts made on the kit
by ``kiosk report export --anonymous`` (``kiosk/services/mediation/anonymous_export.py`` describes each column). This
module writes ``DIR/fleet-activity.csv`` and ``DIR/fleet-report.html`` (inline SVG, no script, nothing fetched).

Every export has ``day, sessions, data_bytes, session_minutes`` (``COLUMNS``); kits updated since the
mediators' dashboard add the activity columns (``ACTIVITY_COLUMNS``: accompaniments, people met, outings…).
An older kit's export (the former triporteur-activity-export script, whose days were UTC days rather than the
kit's local days) lacks them: its figures there are *absent*, shown as "—" and left empty in the CSV, never
counted as zero.

Only per-day totals are ever merged: an export with a per-device or per-person column (MAC or IP address,
theme, age…) is refused. A kit that was not reached is listed as such in both files, never left out silently.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

COLUMNS = ("day", "sessions", "data_bytes", "session_minutes")  # in every kit's export
ACTIVITY_COLUMNS = ("accompaniments", "people_met", "accompaniment_minutes", "outings", "questionnaires",
                    "appointments", "tablet_loans")  # absent from older kits' exports
OUTPUT_COLUMNS = ("kit", "area", *COLUMNS, *ACTIVITY_COLUMNS)
PERSONAL_HINTS = ("mac", "ip", "address", "device", "name", "phone", "email", "theme", "gender", "age_band",
                  "commune", "insee")
ABSENT = "—"
MB = 1_000_000


class ReportError(Exception):
    """An export that cannot be merged, in one sentence naming the kit."""


@dataclass(frozen=True)
class DayRow:
    day: date
    sessions: int
    data_bytes: int
    session_minutes: int
    # None: the kit's export has no such column (older software), not "none that day"
    accompaniments: int | None = None
    people_met: int | None = None
    accompaniment_minutes: int | None = None
    outings: int | None = None
    questionnaires: int | None = None
    appointments: int | None = None
    tablet_loans: int | None = None


class Export(NamedTuple):
    rows: list[DayRow]
    activity_columns: tuple[str, ...]  # which of ACTIVITY_COLUMNS the kit reported


@dataclass
class KitActivity:
    kit: str
    area: str = ""
    reached: bool = False
    rows: list[DayRow] = field(default_factory=list)
    activity_columns: tuple[str, ...] = ()

    def total(self, column: str) -> int | None:
        """The sum of an activity column; None when the kit does not report it."""
        if column not in self.activity_columns:
            return None
        return sum(getattr(row, column) or 0 for row in self.rows)

    @property
    def sessions(self) -> int:
        return sum(row.sessions for row in self.rows)

    @property
    def data_bytes(self) -> int:
        return sum(row.data_bytes for row in self.rows)

    @property
    def session_minutes(self) -> int:
        return sum(row.session_minutes for row in self.rows)


def _count(text: str | None) -> int | None:
    """A cell of an activity column: empty means absent, as in an older kit's export."""
    return None if text is None or not text.strip() else int(text)


def parse_export(kit: str, text: str) -> Export:
    """One kit's activity.csv, checked: the contract's columns, counts ≥ 0, no per-device or per-person column.
    An activity column the export lacks is absent (None), not zero."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    reader.fieldnames = header
    known = COLUMNS + ACTIVITY_COLUMNS
    personal = [name for name in header if name not in known and any(hint in name for hint in PERSONAL_HINTS)]
    if personal:
        raise ReportError(f"{kit}: the export has per-device or per-person columns ({', '.join(personal)}); only "
                          "per-day totals are ever merged")
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise ReportError(f"{kit}: the export lacks {', '.join(missing)} (expected {', '.join(COLUMNS)} first)")
    reported = tuple(name for name in ACTIVITY_COLUMNS if name in header)
    rows = []
    for number, record in enumerate(reader, start=2):
        try:
            row = DayRow(date.fromisoformat(record["day"]), int(record["sessions"]), int(record["data_bytes"]),
                         int(record["session_minutes"]), **{name: _count(record[name]) for name in reported})
        except (TypeError, ValueError):
            raise ReportError(f"{kit}: line {number} of the export is not a day with counts") from None
        counts = [getattr(row, name) for name in COLUMNS[1:] + reported]
        if min(count for count in counts if count is not None) < 0:
            raise ReportError(f"{kit}: line {number} has a negative count")
        rows.append(row)
    return Export(sorted(rows, key=lambda row: row.day), reported)


def load(report_dir: Path) -> list[KitActivity]:
    kits = []
    folder = report_dir / "kits"
    for kit_dir in sorted(path for path in folder.iterdir() if path.is_dir()) if folder.is_dir() else []:
        meta_path = kit_dir / "kit.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        activity = KitActivity(kit=str(meta.get("kit") or kit_dir.name), area=str(meta.get("area") or ""))
        export = kit_dir / "activity.csv"
        activity.reached = bool(meta.get("reached", True)) and export.exists()
        if activity.reached:
            activity.rows, activity.activity_columns = parse_export(activity.kit, export.read_text(encoding="utf-8"))
        kits.append(activity)
    return kits


def to_csv(kits: Iterable[KitActivity]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(OUTPUT_COLUMNS)
    for kit in kits:
        for row in kit.rows:
            activity = [getattr(row, name) for name in ACTIVITY_COLUMNS]
            writer.writerow([kit.kit, kit.area, row.day.isoformat(), row.sessions, row.data_bytes,
                             row.session_minutes, *("" if value is None else value for value in activity)])
    return out.getvalue()


# --- the HTML page ----------------------------------------------------------------------------------------

COLOURS = ("#1b6ca8", "#e07a1f", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#d4ac0d")
CSS = """body{font:16px/1.45 system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
th,td{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:left}td.n,th.n{text-align:right}
.missing{background:#fff3cd;border:1px solid #e0c060;padding:.6rem .8rem;border-radius:4px}
.legend span{display:inline-block;margin-right:1rem}.legend i{display:inline-block;width:.8rem;height:.8rem;
margin-right:.3rem;vertical-align:middle}svg{max-width:100%;height:auto}small{color:#555}"""


def _buckets(kits: Sequence[KitActivity], column: str = "sessions") -> tuple[str, dict[date, dict[str, int]]]:
    """A column's sum per period and kit: per day over a month or less, per week over a longer span. Days where
    a kit does not report the column count for nothing."""
    days = [row.day for kit in kits for row in kit.rows]
    if not days:
        return "day", {}
    weekly = (max(days) - min(days)).days > 62
    buckets: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for kit in kits:
        for row in kit.rows:
            value = getattr(row, column)
            if value is None:
                continue
            start = row.day - timedelta(days=row.day.weekday()) if weekly else row.day
            buckets[start][kit.kit] += value
    return ("week" if weekly else "day"), dict(sorted(buckets.items()))


def stacked_bars(kits: Sequence[KitActivity], colours: dict[str, str], column: str = "sessions",
                 label: str = "Sessions") -> str:
    period, buckets = _buckets(kits, column)
    top_value = max((sum(values.values()) for values in buckets.values()), default=0)
    if not top_value:
        return f"<p>No {label.lower()} recorded yet.</p>"
    width, height, left, bottom = 760, 240, 40, 30
    step = (width - left - 10) / len(buckets)
    bar = min(40.0, max(1.0, step * 0.8))
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{label} per {period}, all kits" '
             'xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#999"/>',
             f'<text x="{left - 4}" y="14" font-size="11" text-anchor="end">{top_value}</text>',
             f'<text x="{left - 4}" y="{height - bottom}" font-size="11" text-anchor="end">0</text>']
    scale = (height - bottom - 10) / top_value
    for index, (start, values) in enumerate(buckets.items()):
        x, y = left + index * step, height - bottom
        for kit, count in sorted(values.items()):
            h = count * scale
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colours[kit]}">'
                         f'<title>{html.escape(kit)}, {start.isoformat()}: {count}</title></rect>')
        if index in (0, len(buckets) - 1) or len(buckets) <= 14:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 14}" font-size="10" '
                         f'text-anchor="middle">{start.strftime("%d/%m")}</text>')
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(values: Sequence[tuple[str, float]], unit: str, colours: dict[str, str], label: str) -> str:
    if not values:
        return ""
    row, width, left = 26, 760, 170
    top_value = max(value for _, value in values) or 1
    parts = [f'<svg viewBox="0 0 {width} {row * len(values) + 6}" role="img" aria-label="{html.escape(label)}" '
             'xmlns="http://www.w3.org/2000/svg">']
    for index, (kit, value) in enumerate(values):
        y = index * row + 4
        length = (width - left - 90) * value / top_value
        parts += [f'<text x="{left - 6}" y="{y + 15}" font-size="13" text-anchor="end">{html.escape(kit)}</text>',
                  f'<rect x="{left}" y="{y}" width="{length:.1f}" height="18" fill="{colours.get(kit, "#888")}"/>',
                  f'<text x="{left + length + 6:.1f}" y="{y + 15}" font-size="12">{value:,.0f}{unit}</text>']
    parts.append("</svg>")
    return "".join(parts)


def _cell(value: int | None) -> str:
    return f'<td class="n">{ABSENT if value is None else value}</td>'


def _sum(values: Iterable[int | None]) -> int | None:
    """A total over kits: absent only when no kit reports it."""
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def activity_section(kits: Sequence[KitActivity], colours: dict[str, str]) -> str:
    """Accompaniments, people met and the rest of the mediators' activity, per kit and over time."""
    reporting = [kit for kit in kits if kit.activity_columns]
    if not reporting:
        return ("<p>No kit reports the mediators' activity yet: their software predates it (update them with "
                "site.yml).</p>")
    escape = html.escape
    rows = "".join(
        f"<tr><td>{escape(kit.kit)}</td>" + "".join(_cell(kit.total(name)) for name in ACTIVITY_COLUMNS) + "</tr>"
        for kit in kits)
    heads = "".join(f'<th class="n">{name.replace("_", " ")}</th>' for name in ACTIVITY_COLUMNS)
    people = horizontal_bars([(kit.kit, kit.total("people_met") or 0) for kit in reporting], "", colours,
                             "People met per kit")
    older = [kit.kit for kit in kits if not kit.activity_columns]
    note = (f"<p><small>{ABSENT}: not reported by this kit's software ({escape(', '.join(older))}); not counted as "
            "zero.</small></p>" if older else "")
    return f"""<table><thead><tr><th>kit</th>{heads}</tr></thead><tbody>{rows}</tbody></table>
{note}
<h2>Accompaniments over time</h2>
{stacked_bars(reporting, colours, "accompaniments", "Accompaniments")}
<h2>People met per kit</h2>
{people}"""


def to_html(kits: Sequence[KitActivity], generated: datetime) -> str:
    reached = [kit for kit in kits if kit.reached]
    missing = [kit for kit in kits if not kit.reached]
    colours = {kit.kit: COLOURS[index % len(COLOURS)] for index, kit in enumerate(kits)}
    escape = html.escape
    rows = "".join(
        f"<tr><td>{escape(kit.kit)}</td><td>{escape(kit.area)}</td>"
        + (f'<td class="n">{len(kit.rows)}</td><td class="n">{kit.sessions}</td>'
           f'<td class="n">{kit.data_bytes / MB:,.1f}</td><td class="n">{kit.session_minutes}</td>'
           f'{_cell(kit.total("accompaniments"))}{_cell(kit.total("people_met"))}<td>collected</td>'
           if kit.reached else '<td class="n">–</td>' * 6 + "<td><strong>not collected</strong></td>")
        + "</tr>" for kit in kits)
    areas: dict[str, list[KitActivity]] = defaultdict(list)
    for kit in reached:
        areas[kit.area or "(no area)"].append(kit)
    area_rows = "".join(
        f'<tr><td>{escape(area)}</td><td class="n">{len(members)}</td>'
        f'<td class="n">{sum(k.sessions for k in members)}</td>'
        f'<td class="n">{sum(k.data_bytes for k in members) / MB:,.1f}</td>'
        f'{_cell(_sum(k.total("accompaniments") for k in members))}'
        f'{_cell(_sum(k.total("people_met") for k in members))}</tr>'
        for area, members in sorted(areas.items()))
    legend = "".join(f'<span><i style="background:{colours[kit.kit]}"></i>{escape(kit.kit)}</span>'
                     for kit in reached)
    notice = ""
    if missing:
        notice = ('<p class="missing"><strong>Not collected</strong> (unreachable or failed: see the run\'s '
                  f'summary): {escape(", ".join(kit.kit for kit in missing))}. Their figures are not in the '
                  "totals below.</p>")
    sessions_chart = horizontal_bars([(kit.kit, kit.sessions) for kit in reached], "", colours, "Sessions per kit")
    data_chart = horizontal_bars([(kit.kit, kit.data_bytes / MB) for kit in reached], " MB", colours,
                                 "Data per kit")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Triporteur fleet report</title><style>{CSS}</style></head><body>
<h1>Triporteur fleet report</h1>
<p><small>Generated {generated.strftime("%Y-%m-%d %H:%M UTC")} from {len(reached)} of {len(kits)} kit(s).
Anonymous per-day totals only: no person, device, address or time of day leaves a kit.</small></p>
{notice}
<h2>Kits</h2>
<table><thead><tr><th>kit</th><th>area</th><th class="n">active days</th><th class="n">sessions</th>
<th class="n">data (MB)</th><th class="n">minutes</th><th class="n">accompaniments</th><th class="n">people met</th>
<th>export</th></tr></thead><tbody>{rows}</tbody></table>
<h2>Sessions over time</h2>
<p class="legend">{legend}</p>
{stacked_bars(reached, colours)}
<h2>Sessions per kit</h2>
{sessions_chart}
<h2>Data per kit</h2>
{data_chart}
<h2>Mediators' activity per kit</h2>
{activity_section(reached, colours)}
<h2>Areas</h2>
<table><thead><tr><th>area</th><th class="n">kits</th><th class="n">sessions</th><th class="n">data (MB)</th>
<th class="n">accompaniments</th><th class="n">people met</th></tr></thead><tbody>{area_rows}</tbody></table>
</body></html>
"""


def write_report(report_dir: Path, now: datetime | None = None) -> tuple[Path, Path, list[KitActivity]]:
    kits = load(report_dir)
    csv_path, html_path = report_dir / "fleet-activity.csv", report_dir / "fleet-report.html"
    csv_path.write_text(to_csv(kits), encoding="utf-8")
    html_path.write_text(to_html(kits, now or datetime.now(UTC)), encoding="utf-8")
    return csv_path, html_path, kits


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fleet_report", description="merge the kits' activity exports")
    parser.add_argument("--report-dir", type=Path, required=True, help="the folder collect.yml filled")
    args = parser.parse_args(argv)
    try:
        csv_path, html_path, kits = write_report(args.report_dir)
    except (ReportError, OSError, ValueError) as problem:
        print(f"fleet report: {problem}", file=sys.stderr)
        return 1
    missing = [kit.kit for kit in kits if not kit.reached]
    print(f"fleet report: {len(kits) - len(missing)} of {len(kits)} kit(s) merged into {csv_path} and {html_path}"
          + (f"; not collected: {', '.join(missing)}" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
