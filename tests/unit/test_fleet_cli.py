"""`provision fleet`: ansible-runner events become per-host, per-task lines and a per-kit summary; status
remembers the last contact with each kit. The real runs are in tests/integration/test_playbooks.py."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime

import pytest

from provisioning import fleet, fleet_cli


def event(kind: str, host: str, task: str, **res) -> dict:
    return {"event": kind, "event_data": {"host": host, "task": task, "res": res}}


def test_events_become_task_outcomes():
    assert fleet.task_result(event("runner_on_ok", "kit-a", "Install", changed=True)).outcome == "changed"
    assert fleet.task_result(event("runner_on_ok", "kit-a", "Install", changed=False)).outcome == "ok"
    failed = fleet.task_result(event("runner_on_failed", "kit-a", "Render", msg="non-zero return code",
                                     stderr="disk full"))
    assert (failed.outcome, failed.message) == ("failed", "non-zero return code: disk full")
    unreachable = fleet.task_result(event("runner_on_unreachable", "kit-c", "Gathering Facts",
                                          msg="Failed to connect to the host via ssh: Connection refused"))
    assert unreachable.outcome == "unreachable" and "Connection refused" in unreachable.message
    assert fleet.task_result({"event": "playbook_on_task_start", "event_data": {}}) is None


def test_the_printer_shows_each_host_and_task_and_hides_skips():
    out = io.StringIO()
    printer = fleet.Printer(out)
    printer.play("Turn Raspberry Pi OS Lite into a Triporteur kit")
    printer(fleet.TaskResult("kit-a", "kit_base : Install the base packages", "changed"))
    printer(fleet.TaskResult("kit-a", "kit_base : Set the host name", "skipped"))
    printer(fleet.TaskResult("kit-c", "Gathering Facts", "unreachable", "Connection refused"))
    lines = out.getvalue().splitlines()
    assert lines[1] == "== Turn Raspberry Pi OS Lite into a Triporteur kit"
    assert lines[2].split() == ["kit-a", "changed", "kit_base", ":", "Install", "the", "base", "packages"]
    assert lines[3].startswith("kit-c") and "UNREACHABLE" in lines[3] and lines[3].endswith("Connection refused")
    assert len(lines) == 4


def test_the_summary_names_every_kit_and_the_ones_needing_attention():
    result = fleet.RunResult("site.yml", "failed", 4, hosts=fleet.summaries({
        "ok": {"kit-a": 64, "kit-b": 10}, "changed": {"kit-a": 0, "kit-b": 2}, "failures": {"kit-b": 1},
        "dark": {"kit-c": 1}, "skipped": {"kit-a": 20}}))
    result.hosts["kit-c"].problem = "Connection refused"
    text = fleet.format_summary(result)
    assert "kit-a    64        0       0            0  ok" in text
    assert "kit-b    10        2       1            0  FAILED" in text
    assert "kit-c     0        0       0            1  UNREACHABLE: Connection refused" in text
    assert text.rstrip().endswith("1 of 3 kit(s) went through; needing attention: kit-b, kit-c")
    assert not result.all_through
    assert "no kit was run" in fleet.format_summary(fleet.RunResult("site.yml", "failed", 1))
    result.hosts["localhost"] = fleet.HostSummary(ok=2, failed=1, problem="fleet report: kit-x: line 3 …")
    text = fleet.format_summary(result)
    assert not any(line.startswith("localhost") for line in text.splitlines())
    assert "on this machine: FAILED: fleet report" in text


def test_status_remembers_the_last_contact_of_each_kit():
    reached = fleet.TaskResult("kit-a", fleet_cli.STATUS_TASK, "ok", raw={"msg": {"kit_status": {
        "version": "0.1.0", "disk_bytes": {"size": 32e9, "used": 4e9, "avail": 28e9},
        "data": {"month_bytes": 3.2e9, "monthly_cap_bytes": 20e9, "cap_percent": 16}}}})
    hosts = fleet.summaries({"ok": {"kit-a": 5}, "dark": {"kit-c": 1}})
    result = fleet.RunResult("status.yml", "failed", 4, hosts=hosts, results=[reached])
    previous = {"kit-c": {"version": "0.0.9", "last_contact": "2026-11-01T10:00:00Z", "state": "ok"}}
    state = fleet_cli.merge_status(result, previous, datetime(2026, 11, 23, 12, tzinfo=UTC))
    assert state["kit-a"]["last_contact"] == "2026-11-23T12:00:00Z" and state["kit-a"]["version"] == "0.1.0"
    assert state["kit-c"]["state"] == "UNREACHABLE" and state["kit-c"]["last_contact"] == "2026-11-01T10:00:00Z"
    table = fleet_cli.format_status(state, ["kit-a", "kit-c"])
    assert "4.0 GB of 32.0 GB" in table and "3.2 GB of 20.0 GB (16%)" in table
    assert "UNREACHABLE  0.0.9" in table


def test_the_fleet_group_plugs_into_a_command(capsys):
    parser = argparse.ArgumentParser(prog="provision")
    fleet_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["fleet", "apply", "--limit", "kit-a", "--check", "-i", "inventory"])
    assert (args.fleet_command, args.limit, args.check, args.inventory) == ("apply", "kit-a", True, "inventory")
    with pytest.raises(SystemExit):
        parser.parse_args(["fleet", "bogus"])
    capsys.readouterr()


def test_no_inventory_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv(fleet.INVENTORY_ENV, raising=False)
    assert fleet_cli.main(["apply"]) == fleet_cli.EXIT_USAGE
    assert "--inventory" in capsys.readouterr().err
    assert fleet_cli.main(["status", "-i", "/nonexistent/inventory"]) == fleet_cli.EXIT_USAGE


def test_a_limit_keeps_the_plays_run_on_this_machine():
    assert fleet.with_controller("kit-lyon-1") == "kit-lyon-1,localhost"
    assert fleet.with_controller(None) is None
