"""The fleet report: per-day totals of several kits merged into a CSV and an HTML page with charts. Kits with
the mediators' activity columns and older kits without them merge together; absent is never zero."""

from __future__ import annotations

import csv
import io
import json
import re
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


NEW = ("day,sessions,data_bytes,session_minutes,accompaniments,people_met,accompaniment_minutes,outings,"
       "questionnaires,appointments,tablet_loans\n")
OLD = "day,sessions,data_bytes,session_minutes\n"


def test_new_and_old_exports_merge_and_absent_figures_stay_absent(tmp_path):
    kit(tmp_path, "kit-new", "Nord", NEW + "2026-11-16,2,4500000,75,3,8,165,2,1,1,1\n"
                                         "2026-11-17,0,0,0,2,2,45,0,0,0,0\n")
    kit(tmp_path, "kit-old", "Nord", OLD + "2026-11-16,5,1000000,200\n")
    kit(tmp_path, "kit-sud", "Sud", OLD + "2026-11-17,1,10,3\n")
    csv_path, html_path, kits = write_report(tmp_path, NOW)
    new, old, _ = kits
    assert new.activity_columns == fleet_report.ACTIVITY_COLUMNS and old.activity_columns == ()
    assert (new.total("accompaniments"), new.total("people_met"), new.total("accompaniment_minutes")) == (5, 10, 210)
    assert (new.total("outings"), new.total("questionnaires"), new.total("tablet_loans")) == (2, 1, 1)
    assert old.total("accompaniments") is None and old.total("people_met") is None and old.sessions == 5

    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert tuple(rows[0]) == fleet_report.OUTPUT_COLUMNS
    assert fleet_report.OUTPUT_COLUMNS[:6] == ("kit", "area", "day", "sessions", "data_bytes", "session_minutes")
    by_kit = {(row["kit"], row["day"]): row for row in rows}
    tuesday = by_kit["kit-new", "2026-11-17"]
    assert (tuesday["sessions"], tuesday["accompaniments"]) == ("0", "2")
    assert by_kit["kit-new", "2026-11-16"]["people_met"] == "8"
    assert all(by_kit["kit-old", "2026-11-16"][name] == "" for name in fleet_report.ACTIVITY_COLUMNS)

    page = html_path.read_text()
    kits_table = page[page.index("<h2>Kits</h2>"):page.index("<h2>Sessions over time</h2>")]
    assert re.search(r"kit-new</td><td>Nord</td>.*?<td class=\"n\">5</td><td class=\"n\">10</td>", kits_table)
    assert re.search(r"kit-old</td><td>Nord</td>.*?<td class=\"n\">—</td><td class=\"n\">—</td>", kits_table)
    activity = page[page.index("<h2>Mediators' activity per kit</h2>"):page.index("<h2>Areas</h2>")]
    assert "people met" in activity and "tablet loans" in activity
    assert 'aria-label="Accompaniments per day, all kits"' in activity and "kit-new, 2026-11-16: 3" in activity
    assert 'aria-label="People met per kit"' in activity and ">10</text>" in activity
    assert "not reported by this kit's software (kit-old, kit-sud); not counted as zero" in activity
    assert "kit-old, 2026-11-16" not in activity  # no bar of zero for a kit that does not report
    areas = page[page.index("<h2>Areas</h2>"):]
    assert re.search(r"Nord</td><td class=\"n\">2</td><td class=\"n\">7</td>.*?<td class=\"n\">5</td>"
                     r"<td class=\"n\">10</td>", areas)
    assert re.search(r"Sud</td>.*?<td class=\"n\">—</td><td class=\"n\">—</td></tr>", areas)
    assert page.count("<svg") == 5 and "<script" not in page


def test_only_old_exports_say_no_kit_reports_the_activity_yet(tmp_path):
    kit(tmp_path, "kit-a", "Nord", OLD + "2026-11-20,3,4000000,95\n")
    _, html_path, _ = write_report(tmp_path, NOW)
    page = html_path.read_text()
    assert "No kit reports the mediators' activity yet" in page and page.count("<svg") == 3


def test_a_kit_with_the_columns_and_no_activity_shows_zero_not_absent(tmp_path):
    kit(tmp_path, "kit-a", "Nord", NEW)
    _, html_path, kits = write_report(tmp_path, NOW)
    assert kits[0].total("people_met") == 0
    page = html_path.read_text()
    assert "No accompaniments recorded yet." in page and "—" not in page.split("<h2>Areas</h2>")[0]


def test_activity_columns_are_checked_like_the_others():
    with pytest.raises(ReportError, match="kit-x: line 2"):
        parse_export("kit-x", NEW + "2026-11-16,1,1,1,many,1,1,1,1,1,1\n")
    with pytest.raises(ReportError, match="negative"):
        parse_export("kit-x", NEW + "2026-11-16,1,1,1,1,-8,1,1,1,1,1\n")
    partial = parse_export("kit-x", "Day,Sessions,data_bytes,session_minutes,people_met\n2026-11-16,1,1,1,\n")
    assert partial.activity_columns == ("people_met",) and partial.rows[0].people_met is None


@pytest.mark.parametrize("column", ["themes", "procedure_theme", "age_band", "gender", "commune", "insee_code",
                                    "device_mac", "ip_address", "first_name"])
def test_per_person_columns_are_refused_too(column):
    with pytest.raises(ReportError, match=f"per-device or per-person columns \\({column}\\)"):
        parse_export("kit-x", NEW.rstrip("\n") + f",{column}\n")


def test_the_kits_own_export_is_what_the_report_reads(tmp_path):
    """The kit side (kiosk/services/mediation/anonymous_export.py) and this side agree on the columns."""
    from kiosk.services.mediation import anonymous_export

    assert anonymous_export.COLUMNS == fleet_report.COLUMNS + fleet_report.ACTIVITY_COLUMNS
    day = anonymous_export.DayCounts("2026-11-16", sessions=2, data_bytes=10, session_minutes=74.6,
                                     accompaniments=3, people_met=8)
    export = parse_export("kit-a", anonymous_export.to_csv([day]))
    assert export.rows[0].session_minutes == 75 and export.rows[0].people_met == 8
    assert export.rows[0].tablet_loans == 0
