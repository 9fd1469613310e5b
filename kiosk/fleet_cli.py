"""`kiosk fleet key` and `kiosk fleet pull`, the kit's side of the fleet behind 4G (kiosk/services/fleet/pull.py).

Exit codes: 0 done (applied, up to date, or nothing to do while offline); 1 the run stopped (the line says
why: hub unreachable, disk full, a commit refused…); 2 bad settings. The timer runs `pull` and the journal
keeps its lines.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kiosk
from kiosk import settings as settings_module
from kiosk.services.fleet.git import GitError, make_key
from kiosk.services.fleet.pull import FleetConfig, FleetPull, FleetPullError, Uplink, interface_bytes
from kiosk.services.fleet.spool import Outbox
from kiosk.store import StoreError

EXIT_FAILED = 1


def _uplink(settings: settings_module.Settings) -> Uplink:
    from kiosk.adapters.reachability import DefaultRoute
    from kiosk.services.mediation.anonymous_export import open_read_only
    from kiosk.services.uplink import UplinkService

    interface = DefaultRoute().interface()
    try:
        month = UplinkService.from_settings(open_read_only(settings.store.path), settings).usage()[1]
    except StoreError:
        month = 0  # no store yet: nothing recorded this month
    return Uplink(interface=interface, month_bytes=month)


def _disk(path: Path) -> dict[str, int]:
    while not path.exists() and path != path.parent:
        path = path.parent
    usage = shutil.disk_usage(path)
    return {"size": usage.total, "used": usage.used, "avail": usage.free}


def _tablets(store_path: str) -> list[dict[str, Any]]:
    from kiosk.services.mediation.anonymous_export import open_read_only

    try:
        with open_read_only(store_path).read() as db:
            rows = db.execute("SELECT name, kind, status, last_wipe FROM tablets WHERE status != 'retired' "
                              "ORDER BY name").fetchall()
    except (StoreError, sqlite3.Error):
        return []
    return [{"name": row["name"], "kind": row["kind"], "status": row["status"], "last_wipe": row["last_wipe"]}
            for row in rows]


def _activity(store_path: str) -> str:
    from kiosk.services.mediation import anonymous_export

    try:
        store = anonymous_export.open_read_only(store_path)
        return anonymous_export.to_csv(anonymous_export.daily_counts(store, time.time()))
    except StoreError:
        return anonymous_export.to_csv([])


def health(settings: settings_module.Settings, pull: FleetPull, uplink: Uplink) -> dict[str, Any]:
    """The kit's health as the tech lead's `provision fleet status --hub` shows it; nothing personal."""
    state = pull.state
    return {
        "kit": pull.config.kit,
        "version": kiosk.__version__,
        "clock": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "applied": state.get("applied"),
        "applied_at": state.get("applied_at"),
        "last_run": state.get("last_run"),
        "disk_bytes": _disk(Path(settings.store.path).resolve().parent),
        "data": {"month_bytes": uplink.month_bytes, "monthly_cap_bytes": pull.config.monthly_cap_bytes,
                 "fleet_month_bytes": pull.fleet_month_bytes()},
        "tablets": _tablets(settings.store.path),
    }


def cmd_key(args: argparse.Namespace) -> int:
    config = FleetConfig.from_settings(settings_module.load(args.config))
    made = make_key(config.key, f"triporteur-{config.kit}")
    public = config.key.with_name(config.key.name + ".pub").read_text().strip()
    print(("made " if made else "") + f"the kit's fleet key ({config.key}); give the hub this line:")
    print(public)
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    settings = settings_module.load(args.config)
    config = FleetConfig.from_settings(settings)
    uplink = _uplink(settings)
    pull = FleetPull(config, uplink)
    try:
        pull.preflight()
    except FleetPullError as problem:
        print(f"kiosk fleet: {problem}")
        return 0 if uplink.interface is None else EXIT_FAILED
    status = 0
    with pull.locked():
        try:
            for line in pull.run().lines:
                print(f"kiosk fleet: {line}")
        except FleetPullError as problem:
            print(f"kiosk fleet: {problem}")
            status = EXIT_FAILED
        status = max(status, _report(settings, pull, uplink, sent_only=args.no_report))
    return status


def _report(settings: settings_module.Settings, pull: FleetPull, uplink: Uplink, sent_only: bool) -> int:
    """Queue this run's report, then push what is queued; the outbox keeps it if the push fails."""
    outbox = Outbox(pull.config.state_dir, pull.config.kit)
    try:
        if not sent_only:
            outbox.queue(health(settings, pull, uplink), _activity(settings.store.path),
                         report_hours=pull.config.report_hours)
        if not outbox.pending():
            return 0
        before = interface_bytes(uplink.interface)
        try:
            outbox.deliver(pull.config.hub, pull.config.ssh())
        finally:
            pull.count_since(before)
    except GitError as problem:
        print(f"kiosk fleet: the report stays queued on the kit ({pull.config.state_dir / 'outbox'}): the hub "
              f"did not take it ({problem.text[:200]}); the next run sends it")
        return EXIT_FAILED
    except OSError as problem:
        print(f"kiosk fleet: the report could not be queued: {problem.strerror or problem}")
        return EXIT_FAILED
    print("kiosk fleet: report delivered to the hub")
    return 0


def register(commands: argparse._SubParsersAction,
             add: Callable[..., argparse.ArgumentParser]) -> None:
    group = commands.add_parser("fleet", help="the fleet's configuration and reports, from the kit").add_subparsers(
        dest="fleet_command", required=True, metavar="ACTION")
    add(group, "key", cmd_key, "make the kit's own SSH key for the hub (once, on the device) and print it")
    pull = add(group, "pull", cmd_pull, "fetch the fleet's signed configuration from the hub, apply it with "
               "ansible-pull, send the kit's report (run by triporteur-fleet.timer)")
    pull.add_argument("--no-report", action="store_true", help="only deliver reports already queued")
