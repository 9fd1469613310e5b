"""The fleet report: per-day totals of several kits merged into a CSV and an HTML page with charts."""

from __future__ import annotations

import csv
import io
import json
import runpy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provisioning import fleet_report
from provisioning.fleet_report import ReportError, parse_export, write_report

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def kit(report_dir: Path, name: str, area: str, export: str | None, reached: bool = True) -> None:
    folder = report_dir / "kits" / name
    folder.mkdir(parents=True)
    (folder / "kit.json").write_text(json.dumps({"kit": name, "area": area, "reached": reached}))
    if export is not None:
        (folder / "activity.csv").write_text(export)


def test_two_kits_merge_into_one_csv_and_a_page_with_charts(tmp_path):
    kit(tmp_path, "kit-a", "Nord", "day,sessions,data_bytes,session_minutes\n2026-11-20,3,4000000,95\n"
                                   "2026-11-21,1,0,5\n")
    kit(tmp_path, "kit-b", "Sud", "day,sessions,data_bytes,session_minutes\n2026-11-21,7,12000000,300\n")
    csv_path, html_path, kits = write_report(tmp_path, NOW)
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert [(row["kit"], row["area"], row["day"], row["sessions"]) for row in rows] == [
        ("kit-a", "Nord", "2026-11-20", "3"), ("kit-a", "Nord", "2026-11-21", "1"), ("kit-b", "Sud", "2026-11-21", "7")]
    assert [k.sessions for k in kits] == [4, 7]
    page = html_path.read_text()
    assert page.count("<svg") == 3 and "<script" not in page and "src=" not in page and "href=" not in page
    assert "kit-b, 2026-11-21: 7" in page and "Not collected" not in page
    assert "Generated 2026-11-23 12:00 UTC from 2 of 2 kit(s)" in page


def test_a_kit_that_was_not_reached_is_named_not_dropped(tmp_path):
    kit(tmp_path, "kit-a", "Nord", "day,sessions,data_bytes,session_minutes\n2026-11-20,2,10,3\n")
    kit(tmp_path, "kit-c", "Sud", None, reached=False)
    csv_path, html_path, kits = write_report(tmp_path, NOW)
    assert [(k.kit, k.reached) for k in kits] == [("kit-a", True), ("kit-c", False)]
    page = html_path.read_text()
    assert "Not collected" in page and "kit-c" in page and "from 1 of 2 kit(s)" in page
    assert "kit-c" not in csv_path.read_text()


def test_per_device_columns_are_refused():
    with pytest.raises(ReportError, match="per-device"):
        parse_export("kit-x", "day,sessions,data_bytes,session_minutes,device_mac\n"
                              "2026-11-20,1,1,1,02:00:00:00:00:01\n")
    with pytest.raises(ReportError, match="per-device"):
        parse_export("kit-x", "device_mac,ip_address,start_utc,end_utc,bytes,end_reason\n")


def test_a_broken_export_names_the_kit_and_the_line():
    with pytest.raises(ReportError, match="kit-x: line 3"):
        parse_export("kit-x", "day,sessions,data_bytes,session_minutes\n2026-11-20,1,1,1\nyesterday,1,1,1\n")
    with pytest.raises(ReportError, match="lacks session_minutes"):
        parse_export("kit-x", "day,sessions,data_bytes\n")
    with pytest.raises(ReportError, match="negative"):
        parse_export("kit-x", "day,sessions,data_bytes,session_minutes\n2026-11-20,-1,1,1\n")


def test_long_periods_are_charted_per_week():
    rows = [fleet_report.DayRow(datetime(2026, month, 1, tzinfo=UTC).date(), 1, 0, 0) for month in range(1, 7)]
    period, buckets = fleet_report._buckets([fleet_report.KitActivity("kit-a", rows=rows, reached=True)])
    assert period == "week" and len(buckets) == 6
    assert all(start.weekday() == 0 for start in buckets)


def test_the_command_line_says_what_it_merged(tmp_path, capsys):
    kit(tmp_path, "kit-a", "Nord", "day,sessions,data_bytes,session_minutes\n")
    kit(tmp_path, "kit-c", "", None, reached=False)
    assert fleet_report.main(["--report-dir", str(tmp_path)]) == 0
    assert "1 of 2 kit(s) merged" in capsys.readouterr().out
    kit(tmp_path, "kit-d", "", "mac,day\n")
    assert fleet_report.main(["--report-dir", str(tmp_path)]) == 1
    assert "kit-d" in capsys.readouterr().err


def test_the_kit_side_export_keeps_only_per_day_totals(tmp_path):
    """The script collect.yml runs on each kit: the connection log in, per-day totals out."""
    script = Path(__file__).resolve().parents[2] / "playbooks/roles/kit_kiosk/files/triporteur-activity-export"
    namespace = runpy.run_path(str(script), run_name="activity_export")
    log = ("device_mac,ip_address,start_utc,end_utc,bytes,end_reason\n"
           "02:00:00:00:00:01,10.42.0.20,2026-11-20T09:00:00Z,2026-11-20T10:30:00Z,5000000,time\n"
           "02:00:00:00:00:02,10.42.0.21,2026-11-20T23:50:00Z,2026-11-21T00:20:00Z,100,idle\n"
           "02:00:00:00:00:03,10.42.0.22,2026-11-21T08:00:00Z,,0,\n")
    days = namespace["aggregate"](csv.DictReader(io.StringIO(log)), datetime(2026, 11, 21, 8, 10, tzinfo=UTC))
    text = namespace["to_csv"](days)
    assert text == ("day,sessions,data_bytes,session_minutes\n2026-11-20,2,5000100,120\n2026-11-21,1,0,10\n")
    assert parse_export("kit", text)[0].sessions == 2
