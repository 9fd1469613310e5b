"""Benchmark: the data a kit spends per day on the fleet behind 4G when nothing changed.

Usage, from the repository root, as root::

    .venv/bin/python bench/fleet.py [--pulls N] [--interval-minutes M] [--report-hours H]

Builds the fleet's namespaces (tests/stands/fleet_hub.py: the kit behind a masquerading NAT, the hub's real
sshd and git), applies one signed commit, then measures, by the NAT's uplink0 counters (every byte the kit
sent or received through its uplink):

1. a pull with nothing new, averaged over N pulls (no report is due: its substance did not change);
2. a pull that also delivers the kit's report (as every --report-hours, fleet.report_hours).

Then scales both to a day at the timer's frequency (--interval-minutes, kit_fleet_interval). It prints
figures and asserts nothing (the goal: under 1 MB a day). Needs root and network namespaces (exits 2).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from kiosk.services.fleet.git import GitSsh  # noqa: E402
from tests.stands.fleet_hub import HUB_IP, FleetWorld  # noqa: E402
from tests.stands.netns import LAN_IF, UPLINK_IF, WAN_IF, HarnessUnavailable, Topology  # noqa: E402

PLAYBOOK = "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n"


def counters(world: FleetWorld) -> int:
    done = world.topology.run(world.topology.internet, ["cat", f"/sys/class/net/{UPLINK_IF}/statistics/rx_bytes",
                                                        f"/sys/class/net/{UPLINK_IF}/statistics/tx_bytes"],
                              check=True)
    return sum(int(value) for value in done.stdout.split())


def close_connection(world: FleetWorld) -> None:
    """End the shared SSH connection a run leaves for a few seconds: the timer's next run, an interval
    later, opens a new one, and that handshake is part of what it costs."""
    kit = world.workdir / "kit"
    ssh = GitSsh(key=kit / "fleet" / "id_ed25519", known_hosts=kit / "etc" / "known_hosts",
                 control_dir=kit / "fleet")
    world.topology.run(world.topology.kit, [*shlex.split(ssh.command()), "-O", "exit", f"root@{HUB_IP}"])


def pull(world: FleetWorld, config: Path) -> tuple[int, str]:
    close_connection(world)
    before = counters(world)
    done = world.kiosk(config, "fleet", "pull")
    if done.returncode != 0:
        raise SystemExit(f"bench/fleet.py: the pull failed: {done.stdout}{done.stderr}")
    close_connection(world)  # its FIN and ACKs are this run's bytes too
    return counters(world) - before, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pulls", type=int, default=10, help="pulls with nothing new to average (default 10)")
    parser.add_argument("--interval-minutes", type=int, default=60, help="the timer's period (default 60)")
    parser.add_argument("--report-hours", type=int, default=6, help="fleet.report_hours (default 6)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/fleet.py: needs root (network namespaces)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="tk-bench-fleet-"))
    try:
        topology = Topology(workdir / "net", prefix="tk-bfleet", start_internet=False).start()
    except HarnessUnavailable as problem:
        print(f"bench/fleet.py: {problem}", file=sys.stderr)
        return 2
    try:
        world = FleetWorld(topology, workdir).build()
        config = world.setup_kit("kit-bench", LAN_IF, WAN_IF, min_free_mb=1, report_hours=args.report_hours)
        world.commit({"local.yml": PLAYBOOK}, "bench", workdir / "lead_signing")
        world.publish()
        first, _ = pull(world, config)
        quiet = [pull(world, config)[0] for _ in range(args.pulls)]
        # A report due: the outbox's last one made to look old, as after report_hours.
        health = workdir / "kit" / "fleet" / "outbox" / "health.json"
        report = json.loads(health.read_text())
        report["reported_epoch"] = 0
        health.write_text(json.dumps(report))
        with_report, output = pull(world, config)
        if "report delivered" not in output:
            raise SystemExit(f"bench/fleet.py: no report was delivered: {output}")
    finally:
        topology.close(raise_errors=False)
        shutil.rmtree(workdir, ignore_errors=True)
    per_pull = sum(quiet) / len(quiet)
    pulls_per_day = 24 * 60 / args.interval_minutes
    reports_per_day = 24 / args.report_hours
    report_extra = max(0.0, with_report - per_pull)
    day = pulls_per_day * per_pull + reports_per_day * report_extra
    print(f"first pull (applies the commit, sends the first report): {first / 1000:.1f} kB")
    print(f"pull with nothing new, mean of {len(quiet)}: {per_pull / 1000:.1f} kB "
          f"(min {min(quiet) / 1000:.1f}, max {max(quiet) / 1000:.1f})")
    print(f"pull that also delivers a report: {with_report / 1000:.1f} kB (+{report_extra / 1000:.1f} kB)")
    print(f"per day, a pull every {args.interval_minutes} min and a report every {args.report_hours} h, nothing "
          f"changed: {day / 1e6:.3f} MB ({pulls_per_day:.0f} pulls, {reports_per_day:.0f} reports; goal < 1 MB)")
    print(f"per 30-day month: {30 * day / 1e6:.1f} MB (default fleet.monthly_budget_mb: 30)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
