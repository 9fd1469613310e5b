"""`provision fleet`: apply the playbooks to the fleet of kits, gather their report, see their status.

    provision fleet apply   [-i INVENTORY] [--limit KIT] [--check] [--diff]
    provision fleet collect [-i INVENTORY] [--limit KIT] [--report-dir DIR]
    provision fleet status  [-i INVENTORY] [--limit KIT] [--json]

Each prints a line per kit and task as the run goes, then a summary per kit (ok / changed / failed /
unreachable). Exit codes: 0 every kit went through; 1 a kit failed or could not be reached (it is named);
2 bad arguments. `register(subparsers)` plugs the group into the `provision` command; `main()` runs it alone
(`python -m provisioning.fleet_cli …`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provisioning import fleet

EXIT_FAILED = 1
EXIT_USAGE = 2
CHECKOUT = fleet.PLAYBOOKS.parent
DEFAULT_REPORT_DIR = CHECKOUT / "var" / "fleet-report"
DEFAULT_STATE = CHECKOUT / "var" / "fleet" / "status.json"
STATUS_TASK = "Kit status"


def _run(args: argparse.Namespace, playbook: str, **options: Any) -> fleet.RunResult:
    printer = fleet.Printer(sys.stdout, verbose=args.show_skipped)
    result = fleet.run_playbook(playbook, fleet.resolve_inventory(args.inventory), limit=args.limit,
                                vault_password_file=fleet.resolve_vault(args.vault_password_file),
                                on_result=printer, on_play=printer.play, **options)
    print()
    sys.stdout.write(fleet.format_summary(result))
    if not result.hosts and result.output_tail:
        print(result.output_tail, file=sys.stderr)
    return result


def _exit(result: fleet.RunResult) -> int:
    return 0 if result.all_through and result.rc == 0 else EXIT_FAILED


def cmd_apply(args: argparse.Namespace) -> int:
    result = _run(args, "site.yml", check=args.check, diff=args.diff or args.check)
    return _exit(result)


def cmd_collect(args: argparse.Namespace) -> int:
    report_dir = Path(args.report_dir).resolve()
    result = _run(args, "collect.yml", extravars={"fleet_report_dir": str(report_dir)})
    for path in (report_dir / "fleet-activity.csv", report_dir / "fleet-report.html"):
        if path.exists():
            print(f"report: {path}")
    return _exit(result)


# --- status ---------------------------------------------------------------------------------------------


def _load_state(path: Path) -> dict[str, dict[str, Any]]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save_state(path: Path, state: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)


def _size(count: float | None) -> str:
    if count is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count:.0f} B"


def merge_status(result: fleet.RunResult, state: dict[str, dict[str, Any]], now: datetime) -> dict[str, Any]:
    """Fold this run into the remembered state: reached kits get fresh figures and a new last contact."""
    reports = result.ok_results(STATUS_TASK)
    for host, summary in result.hosts.items():
        entry = state.setdefault(host, {})
        report = (reports.get(host) or {}).get("msg", {})
        report = report.get("kit_status") if isinstance(report, Mapping) else None
        if report and not (summary.failed or summary.unreachable):
            entry.update(report)
            entry["last_contact"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
            entry["state"] = "ok"
        else:
            entry["state"] = summary.state
            entry["problem"] = summary.problem
    return state


def format_status(state: Mapping[str, Mapping[str, Any]], hosts: Sequence[str]) -> str:
    header = ("kit", "state", "version", "last contact", "disk used", "data this month")
    rows = []
    for host in hosts:
        entry = state.get(host, {})
        disk = entry.get("disk_bytes") or {}
        data = entry.get("data") or {}
        used = (f"{_size(disk.get('used'))} of {_size(disk.get('size'))}" if disk else "-")
        month = _size(data.get("month_bytes")) if data else "-"
        if data.get("monthly_cap_bytes"):
            month += f" of {_size(data['monthly_cap_bytes'])} ({data.get('cap_percent', 0)}%)"
        rows.append((host, entry.get("state", "?"), str(entry.get("version", "-")),
                     str(entry.get("last_contact", "never")), used, month))
    widths = [max(len(str(row[index])) for row in [header, *rows]) for index in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines) + "\n"


def _hub_status(args: argparse.Namespace) -> int:
    from provisioning import fleet_hub

    expected = list(args.expect or [])
    reports = fleet_hub.read_reports(args.hub, Path(args.state).with_name("hub-cache.git"))
    status = fleet_hub.hub_status(reports, expected, datetime.now(UTC), args.stale_days)
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        sys.stdout.write(fleet_hub.format_hub_status(status))
    return 0 if all(entry.get("state") == "reported" for entry in status.values()) else EXIT_FAILED


def cmd_status(args: argparse.Namespace) -> int:
    if args.hub:
        return _hub_status(args)
    state_path = Path(args.state)
    result = _run(args, "status.yml")
    state = merge_status(result, _load_state(state_path), datetime.now(UTC))
    _save_state(state_path, state)
    hosts = sorted(result.hosts)
    if args.json:
        print(json.dumps({host: state.get(host, {}) for host in hosts}, indent=2, sort_keys=True))
    else:
        print()
        sys.stdout.write(format_status(state, hosts))
    return _exit(result)


# --- wiring ---------------------------------------------------------------------------------------------


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except fleet.FleetError as problem:
            print(f"provision fleet: {problem}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("provision fleet: interrupted; run it again: the playbooks are idempotent", file=sys.stderr)
            return EXIT_FAILED

    return run


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--inventory", help=f"the fleet's inventory (default: ${fleet.INVENTORY_ENV})")
    parser.add_argument("--limit", metavar="KIT", help="only these kits (an Ansible pattern: kit-lyon, 'lyon-*')")
    parser.add_argument("--vault-password-file", metavar="FILE",
                        help=f"opens the inventory's vault (default: ${fleet.VAULT_ENV})")
    parser.add_argument("--show-skipped", action="store_true", help="also print skipped tasks")


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `fleet` group to a command's subparsers (the `provision` command's)."""
    group = commands.add_parser("fleet", help="the fleet of kits, through Ansible: apply, collect, status",
                                description="The fleet of kits, through Ansible.")
    actions = group.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")

    def add(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=_guarded(handler))
        _common(sub)
        return sub

    apply = add("apply", cmd_apply, "bring kits to playbooks/site.yml (idempotent: a second run changes nothing)")
    apply.add_argument("--check", action="store_true", help="only show what would change (implies --diff)")
    apply.add_argument("--diff", action="store_true", help="show the changes in files")
    collect = add("collect", cmd_collect, "gather each kit's anonymous activity into one report (CSV and HTML)")
    collect.add_argument("--report-dir", default=str(DEFAULT_REPORT_DIR), help=f"default: {DEFAULT_REPORT_DIR}")
    status = add("status", cmd_status, "each kit's version, last contact, disk and data used")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--hub", metavar="URL", help="read the kits' reports off the fleet's hub (kits behind 4G "
                        "that pull) instead of reaching each kit over SSH")
    status.add_argument("--stale-days", type=int, default=3, metavar="N",
                        help="with --hub: a kit whose last report is this old shows as such (default: 3)")
    status.add_argument("--expect", action="append", metavar="KIT",
                        help="with --hub: a kit that should report (repeatable); shown even if it never did")
    status.add_argument("--state", default=str(DEFAULT_STATE), help=f"where last contacts are kept "
                        f"(default: {DEFAULT_STATE})")
    return group


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="provision", description="The fleet of kits.")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] != ["fleet"]:
        arguments.insert(0, "fleet")
    args = parser.parse_args(arguments)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
