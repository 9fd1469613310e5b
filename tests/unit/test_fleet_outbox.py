"""The kit's report outbox: a report whose substance did not change is not queued again before
fleet.report_hours (each push costs uplink data), a changed one is at once, and it survives a power cut."""

from __future__ import annotations

import json

import pytest

from kiosk.services.fleet.spool import Outbox, atomic_write
from tests.support.system import need_binary


@pytest.fixture(autouse=True)
def _git() -> None:
    need_binary("git")  # the outbox pushes with git: a failure under CI, a skip elsewhere

HOUR = 3600.0


def health(applied: str, clock: str) -> dict:
    return {"kit": "kit-lyon", "applied": applied, "clock": clock, "disk_bytes": {"used": 1},
            "last_run": {"at": clock, "result": "up to date"}}


def test_an_unchanged_report_waits_for_report_hours_and_a_changed_one_does_not(tmp_path):
    outbox = Outbox(tmp_path, "kit-lyon")
    assert outbox.queue(health("a", "10:00"), "day\n", report_hours=6, now=1000 * HOUR)
    assert not outbox.queue(health("a", "11:00"), "day\n", report_hours=6, now=1001 * HOUR)
    assert outbox.queue(health("b", "11:30"), "day\n", report_hours=6, now=1001.5 * HOUR)
    assert outbox.queue(health("b", "18:00"), "day\n", report_hours=6, now=1008 * HOUR)
    saved = json.loads((tmp_path / "outbox" / "health.json").read_text())
    assert saved["applied"] == "b" and saved["clock"] == "18:00"


def test_a_new_activity_day_is_a_change(tmp_path):
    outbox = Outbox(tmp_path, "kit-lyon")
    outbox.queue(health("a", "10:00"), "day\n", report_hours=6, now=0)
    assert outbox.queue(health("a", "10:05"), "day\n2026-12-07,3\n", report_hours=6, now=300)


def test_a_power_cut_leaves_the_old_file_or_the_new_one_and_a_stale_git_lock_is_cleared(tmp_path):
    target = tmp_path / "outbox" / "health.json"
    atomic_write(target, "old")
    (tmp_path / "outbox" / ".health.json.999.tmp").write_text("half")  # a write cut short
    assert target.read_text() == "old"
    outbox = Outbox(tmp_path, "kit-lyon")
    outbox.queue(health("a", "10:00"), "day\n", report_hours=6, now=0)
    (tmp_path / "outbox" / ".git" / "index.lock").write_text("")  # git killed mid-commit
    assert outbox.queue(health("c", "10:01"), "day\n", report_hours=6, now=60)
