"""The fleet behind 4G: a kit behind a carrier-grade NAT pulls its signed configuration from the hub over
SSH, applies it with ansible-pull, and pushes its report; the tech lead reads the hub with `provision fleet
status --hub`. Real sshd, git, ansible-pull and nftables in network namespaces (tests/stands/fleet_hub.py).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stands.fleet_hub import HUB_IP, LEAD_HUB_IP, FleetWorld, keypair
from tests.stands.netns import LAN_IF, WAN_IF, HarnessUnavailable, Topology, wait_for
from tests.support.system import need_binary, unavailable

pytestmark = pytest.mark.system

KIT = "kit-lyon"


def playbook(target: Path, message: str, fail_unless: Path | None = None) -> str:
    guard = ""
    if fail_unless is not None:
        guard = (f"    - name: Stop when the kit is not ready\n      ansible.builtin.stat:\n"
                 f"        path: {fail_unless}\n      register: ready\n"
                 f"    - ansible.builtin.fail:\n        msg: not ready\n      when: not ready.stat.exists\n")
    return ("- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n" + guard
            + f"    - name: The fleet's message\n      ansible.builtin.copy:\n        dest: {target}\n"
            f"        content: {message!r}\n")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FleetWorld, Path, Path]]:
    for name in ("sshd", "git", "git-shell", "ssh-keygen", "nft"):
        need_binary(name, f"/usr/sbin/{name}")
    try:
        topology = Topology(tmp_path / "net", prefix="tk-fleet", start_internet=False).start()
    except HarnessUnavailable as problem:
        unavailable(str(problem))
        raise
    try:
        world = FleetWorld(topology, tmp_path).build()
        config = world.setup_kit(KIT, LAN_IF, WAN_IF, min_free_mb=1)
        yield world, config, tmp_path
    finally:
        log = tmp_path / "hub" / "sshd.log"
        print(log.read_text(errors="replace")[-3000:] if log.exists() else "no sshd log")
        topology.close(raise_errors=False)


def towards_kit(fleet: FleetWorld) -> int:
    done = fleet.topology.run(fleet.topology.internet, ["cat", "/sys/class/net/uplink0/statistics/tx_bytes"],
                              check=True)
    return int(done.stdout)


def fetching(fleet: FleetWorld, process, since: int) -> None:
    """Wait until the hub's pack is flowing to the kit (a megabyte through the NAT), the pull still running."""
    wait_for(lambda: process.poll() is not None or towards_kit(fleet) - since > 1_000_000, 60, "the fetch")
    assert process.poll() is None, "the pull ended before it could be cut off"


def set_uplink(world: FleetWorld, up: bool) -> None:
    world.topology.ip_batch(world.topology.kit, [f"link set {WAN_IF} {'up' if up else 'down'}"]
                            + ([f"route replace default via 198.51.100.1 dev {WAN_IF}"] if up else []))


def test_the_cgnat_lets_the_kit_out_and_nothing_in(world):
    fleet, _config, _tmp = world
    assert fleet.topology.kit_host.tcp_connect(HUB_IP, 22).open
    done = fleet.in_ns(fleet.hub, [sys.executable, "-c",
                                   "import socket; s=socket.socket(); s.settimeout(2); "
                                   "print(s.connect_ex(('198.51.100.2', 22)))"])
    assert done.stdout.strip() != "0", "the hub reached into the kit: the NAT lets things in"


def test_a_participant_online_reaches_the_internet_but_never_the_hub(world):
    fleet, config, tmp = world
    topology = fleet.topology
    rendered = tmp / "rendered"
    done = fleet.kiosk(config, "network", "render", "--dest", str(rendered))
    assert done.returncode == 0, done.stderr
    topology.run(topology.kit, ["nft", "-f", str(rendered / "nftables.nft")], check=True)
    # Another server on the internet, beside the hub: the participant's control.
    topology.ip_batch(fleet.hub, ["addr add 203.0.113.3/32 dev eth0"])
    topology.popen(fleet.hub, [sys.executable, "-m", "http.server", "8080", "--bind", "203.0.113.3"],
                   tmp / "other.log")
    phone = topology.add_phone("fleet")
    phone.static("10.42.0.23")
    # The participant accepted the charter: the kit lets it on the internet.
    topology.run(topology.kit, ["nft", f"add element inet kiosk allowed {{ {phone.mac} . 10.42.0.23 timeout 1h }}"],
                 check=True)
    topology.run(topology.kit, ["nft", "add element inet kiosk allowed_ips { 10.42.0.23 timeout 1h }"], check=True)
    wait_for(lambda: phone.tcp_connect("203.0.113.3", 8080, timeout=1).open, 10, "the participant online")
    assert not phone.tcp_connect(HUB_IP, 22, timeout=2).open, "a participant reached the fleet's hub"
    # The kit itself still pulls through the same firewall.
    fleet.commit({"local.yml": playbook(tmp / "applied.txt", "through the firewall")}, "fw", tmp / "lead_signing")
    fleet.publish()
    done = fleet.kiosk(config, "fleet", "pull")
    assert done.returncode == 0 and "applied commit" in done.stdout, done.stdout + done.stderr


def test_a_signed_change_made_while_the_kit_was_offline_is_applied_when_it_comes_back(world):
    fleet, config, tmp = world
    target = tmp / "applied.txt"
    set_uplink(fleet, False)
    commit = fleet.commit({"local.yml": playbook(target, "bonjour la flotte")}, "first", tmp / "lead_signing")
    fleet.publish()
    offline = fleet.kiosk(config, "fleet", "pull")
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "uplink is down" in offline.stdout and not target.exists()

    set_uplink(fleet, True)
    done = fleet.kiosk(config, "fleet", "pull")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"applied commit {commit[:10]}" in done.stdout
    assert target.read_text() == "bonjour la flotte"
    assert "report delivered" in done.stdout

    again = fleet.kiosk(config, "fleet", "pull")
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout

    # The tech lead's side reads the kit's report off the hub, over SSH from the lead's own network.
    lead_key = tmp / "lead_ssh"
    fleet.authorize_lead(keypair(lead_key, "lead@example.org"))
    known = tmp / "lead_known_hosts"
    known.write_text(fleet.known_hosts_line().replace(HUB_IP, LEAD_HUB_IP))
    ssh = f"ssh -i {lead_key} -o IdentitiesOnly=yes -o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes"
    status = fleet.topology.run(fleet.lead, ["env", f"GIT_SSH_COMMAND={ssh}", sys.executable, "-m",
                                             "provisioning.fleet_cli", "status", "--hub",
                                             f"ssh://root@{LEAD_HUB_IP}{fleet.repo}", "--expect", "kit-silent",
                                             "--state", str(tmp / "lead" / "status.json"), "--json"])
    assert status.returncode == 1, status.stdout + status.stderr  # kit-silent never reported
    import json

    kits = json.loads(status.stdout)
    assert kits["kit-silent"]["state"] == "never reported"
    report = kits[KIT]
    assert report["applied"] == commit and report["version"] and report["state"] == "reported"
    assert report["disk_bytes"]["size"] > 0 and "clock" in report


def test_a_kit_key_can_push_only_its_own_reports_never_the_configuration(world):
    fleet, _config, tmp = world
    fleet.commit({"local.yml": playbook(tmp / "applied.txt", "signed")}, "signed", tmp / "lead_signing")
    fleet.publish()
    forged = fleet.commit({"local.yml": playbook(tmp / "applied.txt", "forged")}, "forged", None)
    state = tmp / "kit" / "fleet"
    ssh = (f"ssh -i {state / 'id_ed25519'} -o IdentitiesOnly=yes -o BatchMode=yes "
           f"-o UserKnownHostsFile={tmp / 'kit' / 'etc' / 'known_hosts'}")
    for ref in ("refs/heads/main", "refs/heads/reports/kit-other"):
        done = fleet.topology.run(fleet.topology.kit, [
            "env", f"GIT_SSH_COMMAND={ssh}", "git", "-C", str(fleet.lead_repo()), "push", "--force",
            fleet.kit_url(), f"HEAD:{ref}"], timeout=60)
        assert done.returncode != 0 and f"may only push refs/heads/reports/{KIT}" in done.stderr, done.stderr
    assert forged not in fleet.lead_git("ls-remote", str(fleet.repo))


def test_an_unsigned_or_wrongly_signed_commit_is_refused_and_nothing_is_applied(world):
    fleet, config, tmp = world
    target = tmp / "applied.txt"
    fleet.commit({"local.yml": playbook(target, "unsigned")}, "unsigned", None)
    fleet.publish()
    done = fleet.kiosk(config, "fleet", "pull")
    assert done.returncode == 1
    assert "is not signed: refused, nothing applied" in done.stdout
    assert not target.exists()

    keypair(tmp / "intruder", "intruder@example.org")
    fleet.commit({"local.yml": playbook(target, "forged")}, "forged", tmp / "intruder")
    fleet.publish()
    done = fleet.kiosk(config, "fleet", "pull")
    assert done.returncode == 1
    assert "signed by a key that is not a pinned tech lead's" in done.stdout
    assert not target.exists()


def test_a_run_that_fails_midway_is_applied_at_the_next_run(world):
    fleet, config, tmp = world
    target, ready = tmp / "applied.txt", tmp / "ready"
    commit = fleet.commit({"local.yml": playbook(target, "second try", fail_unless=ready)}, "guarded",
                          tmp / "lead_signing")
    fleet.publish()
    done = fleet.kiosk(config, "fleet", "pull")
    assert done.returncode == 1 and "did not apply" in done.stdout and "applied again at the next run" in done.stdout
    assert not target.exists()
    ready.write_text("")
    done = fleet.kiosk(config, "fleet", "pull")
    assert done.returncode == 0 and f"applied commit {commit[:10]}" in done.stdout, done.stdout
    assert target.read_text() == "second try"


def test_a_pull_killed_mid_fetch_finishes_at_the_next_run(world):
    fleet, config, tmp = world
    target = tmp / "applied.txt"
    big = os.urandom(6_000_000).hex()  # incompressible: the fetch takes a while through the slowed NAT
    commit = fleet.commit({"local.yml": playbook(target, "big one"), "blob.txt": big}, "big",
                          tmp / "lead_signing")
    fleet.publish()
    topology = fleet.topology
    topology.run(topology.internet, ["tc", "qdisc", "add", "dev", "uplink0", "root", "tbf", "rate", "4mbit",
                                         "burst", "32kbit", "latency", "400ms"],
                 check=True)
    since = towards_kit(fleet)
    process = topology.popen(topology.kit, [sys.executable, "-m", "kiosk", "--config", str(config), "fleet",
                                            "pull"], tmp / "killed.log")
    fetching(fleet, process, since)
    os.killpg(process.pid, signal.SIGKILL)  # a power cut: the process group we started, by its id
    process.wait(timeout=10)
    assert not target.exists()
    topology.run(topology.internet, ["tc", "qdisc", "del", "dev", "uplink0", "root"], check=True)
    done = fleet.kiosk(config, "fleet", "pull")
    assert done.returncode == 0 and f"applied commit {commit[:10]}" in done.stdout, done.stdout + done.stderr
    assert target.read_text() == "big one"


def test_a_pull_whose_uplink_drops_mid_fetch_says_so_and_finishes_at_the_next_run(world):
    fleet, config, tmp = world
    target = tmp / "applied.txt"
    commit = fleet.commit({"local.yml": playbook(target, "after the tunnel"), "blob.txt": os.urandom(6_000_000).hex()},
                          "big", tmp / "lead_signing")
    fleet.publish()
    topology = fleet.topology
    topology.run(topology.internet, ["tc", "qdisc", "add", "dev", "uplink0", "root", "tbf", "rate", "4mbit",
                                     "burst", "32kbit", "latency", "400ms"], check=True)
    log = tmp / "dropped.log"
    since = towards_kit(fleet)
    process = topology.popen(topology.kit, [sys.executable, "-m", "kiosk", "--config", str(config), "fleet",
                                            "pull"], log)
    fetching(fleet, process, since)
    set_uplink(fleet, False)  # the 4G drops in a tunnel
    assert process.wait(timeout=120) == 1
    assert "nothing applied; the next run tries again" in log.read_text(), log.read_text()
    assert not target.exists()
    topology.run(topology.internet, ["tc", "qdisc", "del", "dev", "uplink0", "root"], check=True)
    set_uplink(fleet, True)
    done = fleet.kiosk(config, "fleet", "pull")
    assert done.returncode == 0 and f"applied commit {commit[:10]}" in done.stdout, done.stdout + done.stderr
    assert target.read_text() == "after the tunnel"


def test_unreachable_hub_spent_cap_and_full_disk_say_so_and_change_nothing(world):
    fleet, config, tmp = world
    target = tmp / "applied.txt"
    fleet.commit({"local.yml": playbook(target, "x")}, "x", tmp / "lead_signing")
    fleet.publish()
    fleet.topology.stop(fleet.sshd)
    done = fleet.kiosk(config, "fleet", "pull")
    assert done.returncode == 1 and "could not be reached: nothing applied" in done.stdout, done.stdout
    assert not target.exists()

    spent = config.with_name("spent.toml")
    spent.write_text(config.read_text().replace("monthly_cap_mb = 1000", "monthly_cap_mb = 1"))
    store = tmp / "kit" / "kiosk.db"
    fleet.kiosk(spent, "db", "upgrade")
    import sqlite3

    with sqlite3.connect(store) as db:
        day = time.strftime("%Y-%m-%d")
        db.execute("INSERT INTO uplink_usage (day, rx_bytes, tx_bytes) VALUES (?, 2000000, 0)", (day,))
    done = fleet.kiosk(spent, "fleet", "pull")
    assert done.returncode == 1 and "monthly cap is spent" in done.stdout, done.stdout + done.stderr

    full = config.with_name("full.toml")
    full.write_text(config.read_text().replace("min_free_mb = 1", "min_free_mb = 5"))
    done = pull_on_small_disk(fleet, full, tmp, size_mb=8, filled_mb=8)
    assert done.returncode == 1 and "disk is nearly full" in done.stdout, done.stdout + done.stderr
    assert "nothing fetched or applied" in done.stdout
    assert not target.exists()


def pull_on_small_disk(fleet: FleetWorld, config: Path, tmp: Path, size_mb: int,
                       filled_mb: int) -> subprocess.CompletedProcess[str]:
    """`kiosk fleet pull` with the kit's state folder on a small tmpfs (a private mount namespace: nothing is
    mounted on the host), filled with filled_mb of something else."""
    state, copy = tmp / "kit" / "fleet", tmp / "state-copy"
    shutil.rmtree(copy, ignore_errors=True)
    fill = f"dd if=/dev/zero of={state}/filler bs=1M count={filled_mb} 2>/dev/null; " if filled_mb else ""
    script = (f"cp -a {state} {copy} && mount -t tmpfs -o size={size_mb}m tmpfs {state} && cp -a {copy}/. {state} "
              f"&& {{ {fill}true; }} && exec ip netns exec {fleet.topology.kit} {shlex.quote(sys.executable)} -m "
              f"kiosk --config {shlex.quote(str(config))} fleet pull")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=300, check=False)


def test_a_disk_that_fills_during_the_fetch_says_so_and_the_next_run_applies(world):
    fleet, config, tmp = world
    target = tmp / "applied.txt"
    commit = fleet.commit({"local.yml": playbook(target, "room again"), "blob.txt": os.urandom(6_000_000).hex()},
                          "big", tmp / "lead_signing")
    fleet.publish()
    done = pull_on_small_disk(fleet, config, tmp, size_mb=4, filled_mb=0)
    assert done.returncode == 1 and "the kit's disk is full: nothing applied" in done.stdout, done.stdout
    assert not target.exists()
    done = fleet.kiosk(config, "fleet", "pull")  # room again (the tmpfs went with its namespace)
    assert done.returncode == 0 and f"applied commit {commit[:10]}" in done.stdout, done.stdout + done.stderr
    assert target.read_text() == "room again"
