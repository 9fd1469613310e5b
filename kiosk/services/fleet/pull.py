"""`kiosk fleet pull`: the kit fetches the fleet's configuration from the hub, checks the tech lead signed
it, applies it with ansible-pull, and delivers its report, all from the kit's side.

A kit behind a 4G operator's carrier-grade NAT cannot be reached; it can reach out. A systemd timer runs
this when the kit is on; nothing listens on the kit. Each run:

1. goes on only if the uplink has a default route, the month's cap is not spent, the fleet's own monthly
   budget is not spent, and the disk has room — otherwise one plain line and nothing is touched;
2. fetches the hub's branch into a staging repository (an interrupted fetch leaves the refs as they were;
   the next run fetches again);
3. refuses a tip commit not signed by a pinned tech lead's key (``git verify-commit`` with SSH signatures),
   or one that is not a descendant of the commit last applied (an old signed commit replayed);
4. applies it with ``ansible-pull`` (local connection) from the verified staging repository, and records
   it as applied only once the playbook succeeded: a run cut off is applied again next time (the playbooks
   are idempotent);
5. queues the kit's report and pushes it to the hub's ``reports/<kit>`` branch.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk.services.fleet.git import GitError, GitSsh, git
from kiosk.services.fleet.spool import atomic_write, read_json

APPLY_TIMEOUT_S = 3600
MB = 1_000_000


class FleetPullError(Exception):
    """The run stopped: one plain sentence saying why and what was (not) changed."""


class Refused(FleetPullError):
    """The hub offered a configuration the kit does not trust: nothing was applied."""


@dataclass(frozen=True)
class FleetConfig:
    hub: str
    branch: str
    playbook: str
    kit: str
    state_dir: Path
    known_hosts: Path
    allowed_signers: Path
    monthly_budget_bytes: int
    monthly_cap_bytes: int
    report_hours: int
    min_free_bytes: int

    @classmethod
    def from_settings(cls, settings: Any) -> FleetConfig:
        fleet = settings.fleet
        return cls(hub=fleet.hub, branch=fleet.branch, playbook=fleet.playbook,
                   kit=fleet.kit_name or socket.gethostname(), state_dir=Path(fleet.state_dir),
                   known_hosts=Path(fleet.known_hosts), allowed_signers=Path(fleet.allowed_signers),
                   monthly_budget_bytes=fleet.monthly_budget_mb * MB,
                   monthly_cap_bytes=settings.uplink.monthly_cap_mb * MB, report_hours=fleet.report_hours,
                   min_free_bytes=fleet.min_free_mb * MB)

    @property
    def key(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def staging(self) -> Path:
        return self.state_dir / "staging.git"

    @property
    def checkout(self) -> Path:
        return self.state_dir / "checkout"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def ssh(self) -> GitSsh:
        return GitSsh(key=self.key, known_hosts=self.known_hosts, control_dir=self.state_dir)


@dataclass
class Uplink:
    """What the pull needs to know of the uplink before spending data on it."""

    interface: str | None
    month_bytes: int


@dataclass
class Outcome:
    applied: str | None = None  # the commit applied by this run
    up_to_date: str | None = None  # the commit already applied, when nothing changed
    report_sent: bool = False
    lines: list[str] = field(default_factory=list)


def _short(commit: str) -> str:
    return commit[:10]


def _month(now: float) -> str:
    return datetime.fromtimestamp(now).strftime("%Y-%m")


def interface_bytes(interface: str | None) -> int:
    """Bytes in and out of the uplink's interface so far (the kernel's counters)."""
    if not interface:
        return 0
    total = 0
    for name in ("rx_bytes", "tx_bytes"):
        try:
            total += int(Path("/sys/class/net", interface, "statistics", name).read_text())
        except (OSError, ValueError):
            return 0
    return total


class FleetPull:
    def __init__(self, config: FleetConfig, uplink: Uplink, clock: Any = time.time) -> None:
        self.config = config
        self.uplink = uplink
        self.clock = clock
        self.state = read_json(config.state_file)

    # --- state ------------------------------------------------------------------------------------------

    def _save(self) -> None:
        import json

        atomic_write(self.config.state_file, json.dumps(self.state, indent=2, sort_keys=True) + "\n")

    def fleet_month_bytes(self) -> int:
        return int(self.state.get("month_bytes", 0)) if self.state.get("month") == _month(self.clock()) else 0

    def _count(self, spent: int) -> None:
        month = _month(self.clock())
        if self.state.get("month") != month:
            self.state["month"], self.state["month_bytes"] = month, 0
        self.state["month_bytes"] = int(self.state.get("month_bytes", 0)) + max(0, spent)

    def _note(self, result: str) -> None:
        self.state["last_run"] = {"at": self._now_text(), "result": result}

    def _now_text(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # --- the run ----------------------------------------------------------------------------------------

    def preflight(self) -> None:
        """Every reason not to touch the uplink, as a plain sentence; nothing is changed by any of them."""
        config = self.config
        if not config.hub:
            raise FleetPullError("no hub is set (fleet.hub): this kit does not pull its configuration")
        for path, what in ((config.key, "the kit's fleet key (make it with `kiosk fleet key`)"),
                           (config.known_hosts, "the hub's pinned host key (fleet.known_hosts)"),
                           (config.allowed_signers, "the tech leads' pinned signing keys (fleet.allowed_signers)")):
            if not path.is_file():
                raise FleetPullError(f"{what} is missing at {path}: nothing fetched")
        if self.uplink.interface is None:
            raise FleetPullError("the uplink is down (no default route): nothing fetched; the next run tries "
                                 "again")
        if config.monthly_cap_bytes and self.uplink.month_bytes >= config.monthly_cap_bytes:
            raise FleetPullError(f"the uplink's monthly cap is spent ({self.uplink.month_bytes // MB} of "
                                 f"{config.monthly_cap_bytes // MB} MB): nothing fetched until next month")
        spent = self.fleet_month_bytes()
        if config.monthly_budget_bytes and spent >= config.monthly_budget_bytes:
            raise FleetPullError(f"the fleet's data budget for the month is spent ({spent // MB} of "
                                 f"{config.monthly_budget_bytes // MB} MB, fleet.monthly_budget_mb): nothing "
                                 "fetched until next month")
        config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        free = shutil.disk_usage(config.state_dir).free
        if free < config.min_free_bytes:
            raise FleetPullError(f"the kit's disk is nearly full ({free // MB} MB free in {config.state_dir}, "
                                 f"the fleet needs {config.min_free_bytes // MB} MB): nothing fetched or applied")

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.config.state_dir / "lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise FleetPullError("another fleet pull is running: this one stops") from None
            yield

    def fetch(self) -> str:
        """Fetch the hub's branch into the staging repository; the tip commit."""
        staging = self.config.staging
        if not (staging / "HEAD").is_file():
            shutil.rmtree(staging, ignore_errors=True)  # a half-made one, from a power cut
            staging.mkdir(parents=True)
            git(staging, ["init", "-q", "--bare"])
        for stale in staging.glob("**/*.lock"):  # left by a fetch cut off; we hold the fleet's lock
            stale.unlink(missing_ok=True)
        ref = f"refs/remotes/hub/{self.config.branch}"
        try:
            git(staging, ["fetch", "-q", "--no-tags", "--no-write-fetch-head", self.config.hub,
                          f"+refs/heads/{self.config.branch}:{ref}"], ssh=self.config.ssh(), timeout=300)
        except GitError as problem:
            raise FleetPullError(self._fetch_problem(problem.text)) from None
        return git(staging, ["rev-parse", "--verify", f"{ref}^{{commit}}"]).strip()

    def _fetch_problem(self, text: str) -> str:
        lowered = text.lower()
        if "no space left" in lowered or "disk quota" in lowered:
            reason = "the kit's disk is full"
        elif "host key verification failed" in lowered or "remote host identification has changed" in lowered:
            reason = "the hub's host key is not the one pinned at provisioning (fleet.known_hosts)"
        elif "permission denied" in lowered:
            reason = "the hub refused this kit's key (is it in the hub's authorized_keys?)"
        elif "couldn't find remote ref" in lowered:
            reason = f"the hub has no branch {self.config.branch}"
        else:
            reason = f"the hub {self.config.hub} could not be reached"
        return f"{reason}: nothing applied; the next run tries again ({text[:200]})"

    def verify(self, commit: str) -> None:
        staging = self.config.staging
        body = git(staging, ["cat-file", "commit", commit])
        header = body.split("\n\n", 1)[0]
        if "\ngpgsig " not in f"\n{header}":
            raise Refused(f"commit {_short(commit)} on the hub is not signed: refused, nothing applied "
                          "(a tech lead signs with `git commit -S`)")
        try:
            git(staging, ["verify-commit", commit],
                config=["gpg.format=ssh", f"gpg.ssh.allowedSignersFile={self.config.allowed_signers}"])
        except GitError:
            raise Refused(f"commit {_short(commit)} on the hub is signed by a key that is not a pinned tech "
                          f"lead's ({self.config.allowed_signers}): refused, nothing applied") from None
        last = self.state.get("applied")
        if last and last != commit:
            try:
                git(staging, ["merge-base", "--is-ancestor", last, commit])
            except GitError:
                raise Refused(f"commit {_short(commit)} does not follow the one applied ({_short(last)}): an "
                              "older or rewritten configuration is refused, nothing applied") from None

    def apply(self, commit: str) -> None:
        """ansible-pull from the verified staging repository, checked out at exactly that commit."""
        # ansible-pull clones the staging repository's branches: only the verified commit is one of them.
        git(self.config.staging, ["update-ref", "refs/heads/verified", commit])
        git(self.config.staging, ["symbolic-ref", "HEAD", "refs/heads/verified"])
        binary = shutil.which("ansible-pull") or str(Path(sys.executable).with_name("ansible-pull"))
        argv = [binary, "--url", self.config.staging.as_uri(), "--checkout", commit,
                "--directory", str(self.config.checkout), "--inventory", "localhost,", "--limit", "localhost",
                "--clean", self.config.playbook]
        env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
               "ANSIBLE_LOCAL_TEMP": str(self.config.state_dir / "ansible-tmp"),
               "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_PYTHON_WARNINGS": "ignore",
               "PYTHONWARNINGS": "ignore",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=APPLY_TIMEOUT_S, env=env,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise FleetPullError(f"applying commit {_short(commit)} took over {APPLY_TIMEOUT_S} s: it is "
                                 "applied again at the next run") from None
        if done.returncode != 0:
            tail = " | ".join(line.strip() for line in (done.stdout + done.stderr).strip().splitlines()[-4:])
            raise FleetPullError(f"commit {_short(commit)} did not apply (ansible-pull exit {done.returncode}); "
                                 f"it is applied again at the next run: {tail[:400]}")

    def run(self) -> Outcome:
        """Fetch, verify, apply. FleetPullError (Refused) with one plain line when it stops."""
        outcome = Outcome()
        before = interface_bytes(self.uplink.interface)
        try:
            commit = self.fetch()
            if commit == self.state.get("applied"):
                outcome.up_to_date = commit
                outcome.lines.append(f"up to date: commit {_short(commit)} is applied")
                self._note("up to date")
            else:
                self.verify(commit)
                self.apply(commit)
                self.state["applied"] = commit
                self.state["applied_at"] = self._now_text()
                outcome.applied = commit
                outcome.lines.append(f"applied commit {_short(commit)}")
                self._note(f"applied {_short(commit)}")
        except FleetPullError as problem:
            self._note(str(problem))
            self._count(interface_bytes(self.uplink.interface) - before)
            self._save_if_room()
            raise
        self._count(interface_bytes(self.uplink.interface) - before)
        try:
            self._save()
        except OSError as problem:
            # Applied, but not recorded: the next run applies the same commit again (idempotent).
            raise FleetPullError(f"the kit's disk is full: what was applied could not be recorded "
                                 f"({problem.strerror}); the next run applies it again") from None
        return outcome

    def _save_if_room(self) -> None:
        """Keep the run's note when the disk allows; its own message says more than ENOSPC would."""
        with suppress(OSError):
            self._save()

    def count_since(self, before: int) -> None:
        """Count the uplink bytes since ``before`` (the report's push) against the fleet's budget."""
        self._count(interface_bytes(self.uplink.interface) - before)
        self._save()
