"""Files that survive a power cut, and the kit's reports waiting for the uplink.

``atomic_write`` writes beside the target, syncs, renames over it and syncs the folder: after a power cut a
reader finds the old file or the new one, never half of either. The reports outbox is a small git work tree
in the fleet's state folder: each run writes ``health.json`` and ``activity.csv`` there, commits them when
they changed, and pushes that branch to the hub as ``reports/<kit>``. A push cut off is simply pushed again
by the next run (the commit stays ahead of what the hub has), and git sends only what the hub lacks.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiosk.services.fleet.git import GitError, GitSsh, git

OUTBOX = "outbox"
ANONYMOUS_AUTHOR = ["user.name=kit", "user.email=kit@fleet.invalid"]


def atomic_write(path: Path, data: bytes | str, mode: int = 0o640) -> None:
    body = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


VOLATILE = {"clock", "reported_epoch", "disk_bytes", "data"}  # change at every run: not news by themselves


def _substance(report: Mapping[str, Any]) -> dict[str, Any]:
    kept = {key: value for key, value in report.items() if key not in VOLATILE}
    if isinstance(kept.get("last_run"), Mapping):
        kept["last_run"] = {key: value for key, value in kept["last_run"].items() if key != "at"}
    return kept


class Outbox:
    """The reports queued on the kit, delivered to the hub's ``reports/<kit>`` branch when the uplink is up."""

    def __init__(self, state_dir: Path, kit: str) -> None:
        self.root = state_dir / OUTBOX
        self.kit = kit

    def _ready(self) -> None:
        if not (self.root / ".git").is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            git(self.root, ["init", "-q", "-b", "report"])
        # Only this process runs git here (the pull holds the fleet's lock): a leftover lock is a power cut's.
        (self.root / ".git" / "index.lock").unlink(missing_ok=True)

    def queue(self, health: Mapping[str, Any], activity_csv: str, *, report_hours: int,
              now: float | None = None) -> bool:
        """Put this run's report in the outbox. A report whose substance (everything but the clock and the
        disk figures) did not change is queued again only after ``report_hours``, to spare the data cap.
        True when a new report was queued."""
        self._ready()
        now = time.time() if now is None else now
        previous = read_json(self.root / "health.json")
        same = _substance(previous) == _substance(health)
        old_csv = (self.root / "activity.csv").read_text(encoding="utf-8") \
            if (self.root / "activity.csv").exists() else None
        last = float(previous.get("reported_epoch", 0) or 0)
        if same and old_csv == activity_csv and now - last < report_hours * 3600:
            return False
        atomic_write(self.root / "activity.csv", activity_csv)
        atomic_write(self.root / "health.json", json.dumps({**health, "reported_epoch": int(now)}, indent=2,
                                                           sort_keys=True) + "\n")
        git(self.root, ["add", "-A"])
        if git(self.root, ["status", "--porcelain"]).strip():
            git(self.root, ["commit", "-q", "--no-gpg-sign", "-m", f"report of {self.kit}"],
                config=ANONYMOUS_AUTHOR)
        return True

    def pending(self) -> bool:
        """Whether the outbox holds a report the hub has not received (as far as the last push knew)."""
        self._ready()
        try:
            head = git(self.root, ["rev-parse", "--verify", "-q", "HEAD"]).strip()
        except GitError:
            return False
        try:
            sent = git(self.root, ["rev-parse", "--verify", "-q", "refs/sent"]).strip()
        except GitError:
            sent = ""
        return head != sent

    def deliver(self, hub: str, ssh: GitSsh) -> str:
        """Push the queued report; returns the commit delivered. GitError when the hub cannot be reached."""
        head = git(self.root, ["rev-parse", "HEAD"]).strip()
        git(self.root, ["push", "-q", "--force", hub, f"HEAD:refs/heads/reports/{self.kit}"], ssh=ssh,
            timeout=300)
        git(self.root, ["update-ref", "refs/sent", head])
        return head
