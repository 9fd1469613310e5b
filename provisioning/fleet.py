"""The fleet of kits through Ansible: run a playbook with ansible-runner, follow each host's tasks as they
happen, and sum up per kit (ok / changed / failed / unreachable).

A kit that cannot be reached is reported as such, never silently skipped: the summary lists every host the
run touched, and the exit code says whether all of them went through.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
INVENTORY_ENV = "TRIPORTEUR_INVENTORY"
VAULT_ENV = "TRIPORTEUR_VAULT_PASSWORD_FILE"

# ansible-runner event names → what a kit's task came to.
OUTCOMES = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}


class FleetError(Exception):
    """The run could not be started (no inventory, no ansible-runner…), in one sentence."""


@dataclass(frozen=True)
class TaskResult:
    """One host's outcome for one task, as the terminal shows it."""

    host: str
    task: str
    outcome: str  # ok, changed, failed, unreachable, skipped
    message: str = ""
    ignored: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the module's result


@dataclass
class HostSummary:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    problem: str = ""  # the last failure or unreachable message

    @property
    def state(self) -> str:
        if self.unreachable:
            return "UNREACHABLE"
        if self.failed:
            return "FAILED"
        return "changed" if self.changed else "ok"


@dataclass
class RunResult:
    playbook: str
    status: str  # ansible-runner's: successful, failed, timeout, canceled
    rc: int
    hosts: dict[str, HostSummary] = field(default_factory=dict)
    results: list[TaskResult] = field(default_factory=list)
    output_tail: str = ""

    @property
    def all_through(self) -> bool:
        return bool(self.hosts) and all(not (h.failed or h.unreachable) for h in self.hosts.values())

    def ok_results(self, task: str) -> dict[str, Mapping[str, Any]]:
        """The module result of a named task, per host that ran it successfully."""
        return {r.host: r.raw for r in self.results if r.task == task and r.outcome in ("ok", "changed")}


def _message(res: Mapping[str, Any]) -> str:
    parts = [" ".join(str(res[key]).split()) for key in ("msg", "stderr", "reason") if res.get(key)]
    if parts:
        return ": ".join(dict.fromkeys(parts))[:400]
    results = res.get("results")
    if isinstance(results, list):
        for item in results:
            if isinstance(item, Mapping) and item.get("failed"):
                return _message(item)
    return ""


def task_result(event: Mapping[str, Any]) -> TaskResult | None:
    """A runner event → one host's task outcome, or None for events that are not one."""
    outcome = OUTCOMES.get(str(event.get("event")))
    if outcome is None:
        return None
    data = event.get("event_data") or {}
    res = data.get("res") or {}
    if outcome == "ok" and res.get("changed"):
        outcome = "changed"
    message = _message(res) if outcome in ("failed", "unreachable") else ""
    return TaskResult(host=str(data.get("host", "?")), task=str(data.get("task", "?")), outcome=outcome,
                      message=message, ignored=bool(data.get("ignore_errors")), raw=dict(res))


def summaries(stats: Mapping[str, Mapping[str, int]]) -> dict[str, HostSummary]:
    """`playbook_on_stats` → one summary per host that the run touched."""
    hosts: dict[str, HostSummary] = {}
    for key, attribute in (("ok", "ok"), ("changed", "changed"), ("failures", "failed"),
                           ("dark", "unreachable"), ("skipped", "skipped")):
        for host, count in (stats.get(key) or {}).items():
            setattr(hosts.setdefault(host, HostSummary()), attribute, int(count))
    return hosts


class Printer:
    """Per-host, per-task lines as the run goes; skipped tasks only when verbose."""

    def __init__(self, stream: TextIO, verbose: bool = False) -> None:
        self.stream = stream
        self.verbose = verbose
        self.width = 14

    def play(self, name: str) -> None:
        self.stream.write(f"\n== {name}\n")
        self.stream.flush()

    def __call__(self, result: TaskResult) -> None:
        if result.outcome == "skipped" and not self.verbose:
            return
        self.width = max(self.width, len(result.host))
        label = "failed (ignored)" if result.outcome == "failed" and result.ignored else result.outcome.upper() \
            if result.outcome in ("failed", "unreachable") else result.outcome
        line = f"{result.host:<{self.width}} {label:<11} {result.task}"
        if result.message:
            line += f": {result.message}"
        self.stream.write(line + "\n")
        self.stream.flush()


CONTROLLER = "localhost"  # the plays that run on the tech lead's machine (building wheels, merging reports)


def format_summary(result: RunResult) -> str:
    kits = {host: summary for host, summary in result.hosts.items() if host != CONTROLLER}
    if not kits:
        return "no kit was run: check --limit and the inventory's `kits` group\n"
    width = max(4, *(len(host) for host in kits))
    lines = [f"{'kit':<{width}}  {'ok':>4}  {'changed':>7}  {'failed':>6}  {'unreachable':>11}  state"]
    for host, summary in sorted(kits.items()):
        line = (f"{host:<{width}}  {summary.ok:>4}  {summary.changed:>7}  {summary.failed:>6}  "
                f"{summary.unreachable:>11}  {summary.state}")
        if summary.problem:
            line += f": {summary.problem}"
        lines.append(line)
    bad = [host for host, summary in kits.items() if summary.failed or summary.unreachable]
    lines.append(f"{len(kits) - len(bad)} of {len(kits)} kit(s) went through"
                 + (f"; needing attention: {', '.join(sorted(bad))}" if bad else ""))
    controller = result.hosts.get(CONTROLLER)
    if controller is not None and controller.failed:
        lines.append(f"on this machine: FAILED: {controller.problem}")
    return "\n".join(lines) + "\n"


def resolve_inventory(given: str | None) -> Path:
    text = given or os.environ.get(INVENTORY_ENV)
    if not text:
        raise FleetError(f"give the fleet's inventory with --inventory DIR (or set {INVENTORY_ENV}); "
                         f"an example is in {PLAYBOOKS / 'inventory' / 'example'}")
    path = Path(text).expanduser().resolve()
    if not path.exists():
        raise FleetError(f"no inventory at {path}")
    return path


def resolve_vault(given: str | None) -> Path | None:
    text = given or os.environ.get(VAULT_ENV)
    if not text:
        return None
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        raise FleetError(f"no vault password file at {path}")
    return path


def with_controller(limit: str | None) -> str | None:
    """A --limit that keeps the plays run on this machine (collect.yml merges the report on localhost)."""
    return f"{limit},{CONTROLLER}" if limit else None


def run_playbook(playbook: str, inventory: Path, *, limit: str | None = None, check: bool = False,
                 diff: bool = False, vault_password_file: Path | None = None,
                 extravars: Mapping[str, Any] | None = None, on_result: Callable[[TaskResult], None] | None = None,
                 on_play: Callable[[str], None] | None = None, timeout: int | None = None) -> RunResult:
    """Run playbooks/<playbook> on the inventory's kits through ansible-runner, calling back per event."""
    try:
        import ansible_runner
    except ImportError:
        raise FleetError("ansible-runner is not installed (pip install ansible-runner ansible-core)") from None
    path = PLAYBOOKS / playbook
    if not path.is_file():
        raise FleetError(f"no playbook {path}")
    cmdline = [*(["--check"] if check else []), *(["--diff"] if diff else [])]
    if vault_password_file is not None:
        cmdline += ["--vault-password-file", str(vault_password_file)]
    result = RunResult(playbook=playbook, status="", rc=-1)

    def handle(event: dict[str, Any]) -> bool:
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start" and on_play is not None:
            on_play(str(data.get("play", "")))
        elif kind == "playbook_on_stats":
            result.hosts.update(summaries(data))
        else:
            outcome = task_result(event)
            if outcome is not None:
                result.results.append(outcome)
                if on_result is not None:
                    on_result(outcome)
        return True

    binaries = str(Path(sys.executable).parent)
    envvars = {"ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               "PATH": f"{binaries}{os.pathsep}{os.environ.get('PATH', '')}"}
    with tempfile.TemporaryDirectory(prefix="triporteur-fleet-") as private:
        runner = ansible_runner.run(private_data_dir=private, project_dir=str(PLAYBOOKS), playbook=str(path),
                                    inventory=str(inventory), limit=with_controller(limit),
                                    cmdline=shlex.join(cmdline) or None, extravars=dict(extravars or {}),
                                    envvars=envvars, event_handler=handle, quiet=True, timeout=timeout)
        stdout = runner.stdout.read() if runner.stdout else ""
    result.status, result.rc = str(runner.status), int(runner.rc if runner.rc is not None else -1)
    result.output_tail = "\n".join(stdout.strip().splitlines()[-15:])
    for outcome in result.results:
        if outcome.outcome in ("failed", "unreachable") and not outcome.ignored and outcome.host in result.hosts:
            result.hosts[outcome.host].problem = outcome.message or outcome.task
    return result
