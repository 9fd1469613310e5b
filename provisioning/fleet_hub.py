"""The tech lead's side of the fleet behind 4G: read each kit's last report off the hub.

Kits push their report to the hub's ``reports/<kit>`` branches (``kiosk fleet pull``); this fetches those
branches into a local cache repository and reads each one's ``health.json``. A kit whose last report is
older than ``stale_days`` is shown as "no report for N days", one the inventory names but the hub never
heard from as "never reported".
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provisioning.fleet import FleetError


def _git(repo: Path, *argv: str, timeout: float = 120) -> str:
    env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home())}
    # The tech lead's own SSH setup reaches the hub: their agent, or a GIT_SSH_COMMAND naming a key.
    env |= {key: os.environ[key] for key in ("SSH_AUTH_SOCK", "GIT_SSH_COMMAND") if key in os.environ}
    try:
        done = subprocess.run(["git", "-C", str(repo), *argv], capture_output=True, text=True, timeout=timeout,
                              env=env, check=False)
    except subprocess.TimeoutExpired:
        raise FleetError(f"the hub did not answer within {timeout:.0f} s") from None
    if done.returncode != 0:
        raise FleetError(" ".join(done.stderr.split())[:300] or f"git {argv[0]} failed")
    return done.stdout


def read_reports(hub: str, cache: Path) -> dict[str, dict[str, Any]]:
    """Each kit's last report on the hub (its health.json), by kit name."""
    if not (cache / "HEAD").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        _git(cache, "init", "-q", "--bare")
    try:
        _git(cache, "fetch", "-q", "--prune", "--no-tags", hub, "+refs/heads/reports/*:refs/reports/*")
    except FleetError as problem:
        raise FleetError(f"cannot read the hub {hub}: {problem}") from None
    reports: dict[str, dict[str, Any]] = {}
    for ref in _git(cache, "for-each-ref", "--format=%(refname)", "refs/reports/").split():
        kit = ref.removeprefix("refs/reports/")
        try:
            report = json.loads(_git(cache, "show", f"{ref}:health.json"))
        except (FleetError, ValueError):
            report = {"problem": "the report on the hub cannot be read"}
        reports[kit] = report if isinstance(report, dict) else {}
    return reports


def report_age_days(report: Mapping[str, Any], now: datetime) -> float | None:
    epoch = report.get("reported_epoch")
    if not isinstance(epoch, int | float):
        return None
    return (now - datetime.fromtimestamp(epoch, UTC)).total_seconds() / 86400


def hub_status(reports: Mapping[str, dict[str, Any]], expected: Iterable[str], now: datetime,
               stale_days: int) -> dict[str, dict[str, Any]]:
    """One entry per kit: its report, and a state: reported, no report for N days, never reported."""
    status: dict[str, dict[str, Any]] = {}
    for kit in sorted({*reports, *expected}):
        report = dict(reports.get(kit) or {})
        age = report_age_days(report, now) if report else None
        if not report:
            report["state"] = "never reported"
        elif age is None:
            report["state"] = "report unreadable"
        elif age >= stale_days:
            report["state"] = f"no report for {int(age)} days"
        else:
            report["state"] = "reported"
        status[kit] = report
    return status


def format_hub_status(status: Mapping[str, Mapping[str, Any]]) -> str:
    header = ("kit", "state", "version", "last report", "applied", "last run", "tablets")
    rows = []
    for kit, entry in status.items():
        epoch = entry.get("reported_epoch")
        when = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M") if isinstance(epoch, int) else "-"
        run = (entry.get("last_run") or {}).get("result", "-")
        tablets = ", ".join(f"{t.get('name')}: {t.get('status')}" for t in entry.get("tablets") or []) or "-"
        rows.append((kit, entry.get("state", "?"), str(entry.get("version", "-")), when,
                     str(entry.get("applied") or "-")[:10], str(run)[:60], tablets))
    widths = [max(len(str(row[index])) for row in [header, *rows]) for index in range(len(header))]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in [header, *rows]) + "\n"
