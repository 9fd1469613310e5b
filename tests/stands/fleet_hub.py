"""The fleet behind 4G, in network namespaces: a kit behind a carrier-grade NAT, the hub, the tech lead.

    [kit] wan0 198.51.100.2 ══ uplink0 [cgnat] hub0 203.0.113.1 ══ eth0 203.0.113.2 [hub] lead0 192.0.2.1
                                 masquerade out, nothing in                        sshd + git   ║
                                                                              192.0.2.2 eth0 [lead]

The "cgnat" namespace is the netns harness's internet namespace: it masquerades what the kit sends out and
forwards nothing towards the kit that the kit did not start. The hub runs a real OpenSSH server and git
(git-shell): each kit's key may only fetch and push its own reports branch (provisioning/hub/update).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.stands.netns import UPLINK_IF, Topology, wait_for

HUB_IP = "203.0.113.2"
LEAD_HUB_IP = "192.0.2.1"
LEAD_IP = "192.0.2.2"
REPO = Path(__file__).resolve().parents[2]
HUB_HOOK = REPO / "provisioning" / "hub" / "update"


def _run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=cwd, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def keypair(path: Path, comment: str) -> str:
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return path.with_name(path.name + ".pub").read_text().strip()


@dataclass
class FleetWorld:
    topology: Topology
    workdir: Path
    hub: str = ""
    lead: str = ""

    def build(self) -> FleetWorld:
        t = self.topology
        self.hub, self.lead = t.add_namespace("hub"), t.add_namespace("lead")
        t.ip_batch(t.internet, [f"link add hub0 type veth peer name eth0 netns {self.hub}", "link set hub0 up",
                                "addr add 203.0.113.1/24 dev hub0"])
        t.ip_batch(self.hub, ["link set eth0 up", f"addr add {HUB_IP}/24 dev eth0",
                              "route replace default via 203.0.113.1",
                              f"link add lead0 type veth peer name eth0 netns {self.lead}", "link set lead0 up",
                              f"addr add {LEAD_HUB_IP}/24 dev lead0"])
        t.ip_batch(self.lead, ["link set eth0 up", f"addr add {LEAD_IP}/24 dev eth0",
                               f"route replace default via {LEAD_HUB_IP}"])
        t.sysctl(t.internet, {"net.ipv4.ip_forward": "1"})
        cgnat = f"""table inet tk_cgnat {{
            chain forward {{ type filter hook forward priority 0; policy drop;
                ct state established,related accept
                iifname "{UPLINK_IF}" oifname "hub0" accept
            }}
            chain postrouting {{ type nat hook postrouting priority 100; oifname "hub0" masquerade; }}
        }}"""
        done = t.run(t.internet, ["nft", "-f", "-"], stdin=cgnat)
        if done.returncode != 0:
            raise RuntimeError(f"nft in the cgnat namespace: {done.stderr}")
        self._start_sshd()
        return self

    # --- the hub ----------------------------------------------------------------------------------------

    @property
    def hub_dir(self) -> Path:
        return self.workdir / "hub"

    @property
    def repo(self) -> Path:
        return self.hub_dir / "fleet.git"

    def _start_sshd(self) -> None:
        hub = self.hub_dir
        hub.mkdir(parents=True)
        self.host_key_public = keypair(hub / "host_ed25519", "hub")
        (hub / "authorized_keys").write_text("")
        (hub / "sshd_config").write_text("\n".join([
            "Port 22", "ListenAddress 0.0.0.0", f"HostKey {hub / 'host_ed25519'}", "PidFile none",
            f"AuthorizedKeysFile {hub / 'authorized_keys'}", "StrictModes no", "UsePAM no",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            "AllowUsers root", "PermitUserEnvironment no", "LogLevel VERBOSE", ""]))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        _run(["git", "init", "-q", "--bare", "-b", "main", str(self.repo)])
        hook = self.repo / "hooks" / "update"
        hook.write_bytes(HUB_HOOK.read_bytes())
        hook.chmod(0o755)
        self.sshd = self.topology.popen(self.hub, ["/usr/sbin/sshd", "-D", "-e", "-f", str(hub / "sshd_config")],
                                        hub / "sshd.log")
        wait_for(lambda: self.topology.kit_host.tcp_connect(HUB_IP, 22, timeout=0.5).open, 15, "the hub's sshd")

    def authorize_kit(self, kit: str, public_key: str) -> None:
        line = (f'restrict,command="env FLEET_KIT={kit} git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"" '
                f"{public_key}\n")
        with (self.hub_dir / "authorized_keys").open("a") as handle:
            handle.write(line)

    def authorize_lead(self, public_key: str) -> None:
        """The tech lead's key: a full git account on the hub (no FLEET_KIT: the hook lets it push)."""
        with (self.hub_dir / "authorized_keys").open("a") as handle:
            handle.write(f'restrict,command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"" {public_key}\n')

    def known_hosts_line(self) -> str:
        return f"{HUB_IP} {' '.join(self.host_key_public.split()[:2])}\n"

    def kit_url(self) -> str:
        return f"ssh://root@{HUB_IP}{self.repo}"

    # --- the tech lead ----------------------------------------------------------------------------------

    def lead_repo(self) -> Path:
        return self.workdir / "lead" / "fleet"

    def lead_env(self) -> dict[str, str]:
        import os

        return {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(self.workdir / "lead"),
                "GIT_AUTHOR_NAME": "Tech lead", "GIT_AUTHOR_EMAIL": "lead@example.org",
                "GIT_COMMITTER_NAME": "Tech lead", "GIT_COMMITTER_EMAIL": "lead@example.org"}

    def lead_git(self, *argv: str) -> str:
        return _run(["git", "-C", str(self.lead_repo()), *argv], env=self.lead_env())

    def commit(self, files: dict[str, str], message: str, signing_key: Path | None) -> str:
        """The tech lead commits files (signed with signing_key, or unsigned) in their working copy."""
        repo = self.lead_repo()
        if not (repo / ".git").is_dir():
            repo.mkdir(parents=True)
            self.lead_git("init", "-q", "-b", "main")
        for name, body in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(body)
        self.lead_git("add", "-A")
        sign = (["-c", "gpg.format=ssh", "-c", f"user.signingkey={signing_key}", "commit", "-S"]
                if signing_key else ["commit", "--no-gpg-sign"])
        self.lead_git(*sign, "-q", "-m", message)
        return self.lead_git("rev-parse", "HEAD").strip()

    def publish(self) -> None:
        """The tech lead pushes to the hub (over the lead's own network: here, the hub's folder)."""
        self.lead_git("push", "-q", "--force", str(self.repo), "main:main")

    def in_ns(self, ns: str, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.topology.run(ns, argv, timeout=timeout)

    def setup_kit(self, kit: str, lan_interface: str, wan_interface: str, **fleet: object) -> Path:
        """A kit's settings, its pinned keys (the hub's host key, the tech lead's signing key at
        workdir/lead_signing) and its own key, authorized on the hub; returns the settings file."""
        tmp = self.workdir
        etc = tmp / "kit" / "etc"
        etc.mkdir(parents=True)
        (etc / "known_hosts").write_text(self.known_hosts_line())
        lead_public = keypair(tmp / "lead_signing", "lead@example.org")
        (etc / "allowed_signers").write_text(f'lead@example.org namespaces="git" {lead_public}\n')
        extra = "".join(f"{name} = {json.dumps(value)}\n" for name, value in fleet.items())
        config = tmp / "kit" / "kit.toml"
        config.write_text(f"""
[store]
path = "{tmp / 'kit' / 'kiosk.db'}"
[network]
wan_interface = "{wan_interface}"
lan_interface = "{lan_interface}"
[uplink]
check_enabled = false
monthly_cap_mb = 1000
[fleet]
hub = "{self.kit_url()}"
kit_name = "{kit}"
state_dir = "{tmp / 'kit' / 'fleet'}"
known_hosts = "{etc / 'known_hosts'}"
allowed_signers = "{etc / 'allowed_signers'}"
{extra}""")
        done = self.kiosk(config, "fleet", "key")
        if done.returncode != 0:
            raise RuntimeError(f"kiosk fleet key: {done.stderr}")
        self.authorize_kit(kit, done.stdout.strip().splitlines()[-1])
        return config

    def kiosk(self, config: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.topology.run(self.topology.kit, [sys.executable, "-m", "kiosk", "--config", str(config),
                                                     *argv], timeout=timeout)
