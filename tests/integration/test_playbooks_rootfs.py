"""Debian root filesystems standing in for Raspberry Pi OS in the playbook tests (and bench/provision.py).

- `base_tarball(release=...)`: `debootstrap --variant=minbase --include=python3 RELEASE` (bookworm by
  default, or trixie) for this machine's architecture, made once per release and cached as a tarball in the
  cache folder: $TRIPORTEUR_TEST_CACHE, by default /var/cache/triporteur-tests/playbooks — outside the
  checkout, so that CI's fresh clones on the same machine find it (with the apt archives and dependency
  wheels downloaded before);
- `fresh_root(dest, release=...)`: a new root from that tarball, in a few seconds;
- `run_playbook()`: ansible-playbook through Ansible's chroot connection, wrapped by
  playbooks/image/chroot_run.py (private mount namespace, no service started: the image-baking path);
- `start_unit()`: start one of the root's installed systemd units the way systemd would (its ExecStartPre,
  ExecStart, User, directories), inside a network namespace of the harness.

The few tests at the bottom check these helpers themselves.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.system import need_binary, unavailable

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
CHROOT_RUN = PLAYBOOKS / "image" / "chroot_run.py"
CACHE = Path(os.environ.get("TRIPORTEUR_TEST_CACHE", "/var/cache/triporteur-tests/playbooks"))
RELEASE = "bookworm"  # the default root: Raspberry Pi OS Lite's Debian 12, what most kits run
RELEASES = ("bookworm", "trixie")  # Debian 12 and 13: Raspberry Pi OS of both
MIRROR = "http://deb.debian.org/debian"
VENV_BIN = Path(sys.executable).parent
# Any well-formed public key: SSH accepts keys only, so the role insists on one.
ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm5nXrY0yXkqZQbQ0s8hGZ0pZp6Yy0dC3kqJ3rQ3Hc1 tech-lead@example"
# The harness's addresses (tests/stands/netns.py), so the provisioned kit fits its namespaces.
HARNESS_SETTINGS: dict[str, Any] = {
    "network": {"lan_interface": "lan0", "wan_interface": "wan0", "lan_address": "10.42.0.1/24",
                "upstream_dns": ["198.51.100.53"], "staff_interface": "staff0", "staff_address": "10.42.1.1/24"},
    "uplink": {"check_url": "http://198.51.100.10/generate_204"},
    "access": {"check_seconds": 1},
}


def architecture() -> str:
    done = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, timeout=30, check=False)
    return done.stdout.strip() or "amd64"


def require_tools() -> None:
    """Root, debootstrap and Ansible with its chroot connection: a failure under CI, a skip elsewhere."""
    if os.geteuid() != 0:
        unavailable("the playbook tests need root (chroot, mount, namespaces)")
    for binary in ("debootstrap", "zstd", "unshare", "chroot", "mount"):
        need_binary(binary)
    if not (VENV_BIN / "ansible-playbook").exists():
        unavailable("ansible-playbook is not installed in the virtual environment (pip install ansible)")
    try:
        import ansible_collections.community.general.plugins.connection.chroot  # noqa: F401
    except ImportError:
        unavailable("Ansible's community.general collection (its chroot connection) is not installed "
                    "(pip install ansible)")


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def base_tarball(log: Path | None = None, release: str = RELEASE) -> Path:
    """The release's cached debootstrapped root; built (about a minute) when absent."""
    if release not in RELEASES:
        raise ValueError(f"unknown release {release!r}: one of {', '.join(RELEASES)}")
    tarball = CACHE / f"debian-{release}-{architecture()}-minbase-python3.tar.zst"
    # bookworm keeps the lock and build names it always had, so older caches and sessions still agree.
    suffix = "" if release == "bookworm" else f"-{release}"
    with _locked(f"debootstrap{suffix}"):
        if tarball.exists():
            return tarball
        build = CACHE / f"debootstrap{suffix}.tmp"
        shutil.rmtree(build, ignore_errors=True)
        log = log or CACHE / f"debootstrap{suffix}.log"
        try:
            with log.open("w") as output:
                done = subprocess.run(["debootstrap", "--variant=minbase", "--include=python3", release, str(build),
                                       MIRROR], stdout=output, stderr=subprocess.STDOUT, timeout=1800, check=False)
            if done.returncode != 0:
                raise AssertionError(f"debootstrap {release} failed ({done.returncode}); see {log}")
            for deb in (build / "var/cache/apt/archives").glob("*.deb"):
                deb.unlink()
            partial = tarball.with_suffix(".partial")
            with partial.open("wb") as out:
                tar = subprocess.Popen(["tar", "-C", str(build), "--numeric-owner", "-cf", "-", "."],
                                       stdout=subprocess.PIPE)
                subprocess.run(["zstd", "-q", "-T0", "-3"], stdin=tar.stdout, stdout=out, check=True, timeout=600)
                if tar.wait(timeout=600) != 0:
                    raise AssertionError("tar of the debootstrapped root failed")
            partial.replace(tarball)
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return tarball


def fresh_root(dest: Path, tarball: Path | None = None, release: str = RELEASE) -> Path:
    dest.mkdir(parents=True)
    tar = subprocess.Popen(["zstd", "-dc", str(tarball or base_tarball(release=release))], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-C", str(dest), "--numeric-owner", "-xf", "-"], stdin=tar.stdout, check=True,
                   timeout=600)
    if tar.wait(timeout=600) != 0:
        raise AssertionError("unpacking the base root failed")
    return dest


def copy_root(source: Path, dest: Path) -> Path:
    subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(dest)], check=True, timeout=900)
    return dest


def remove_root(root: Path) -> None:
    """Delete a test root, refusing if anything is still mounted inside it."""
    mounts = Path("/proc/self/mounts").read_text()
    if f" {root}/" in mounts:
        raise AssertionError(f"something is still mounted under {root}")
    shutil.rmtree(root, ignore_errors=True)


def _link_packages(source: Path, dest: Path) -> None:
    """Hard-link downloaded .deb files from one apt archive folder to another (same file system)."""
    dest.mkdir(parents=True, exist_ok=True)
    for deb in source.glob("*.deb"):
        with contextlib.suppress(FileExistsError):
            os.link(deb, dest / deb.name)


@contextlib.contextmanager
def private_apt_cache() -> Iterator[Path]:
    """This run's own apt archive folder, seeded from the shared cache and merged back into it afterwards:
    apt locks its archive folder, and several test sessions may provision at once."""
    shared = CACHE / "apt-archives"
    private = CACHE / f"apt-archives.{os.getpid()}.{time.monotonic_ns()}"
    _link_packages(shared, private)
    try:
        yield private
    finally:
        _link_packages(private, shared)
        shutil.rmtree(private, ignore_errors=True)


# --- inventories and runs --------------------------------------------------------------------------------


def chroot_kit(root: Path, **host_vars: Any) -> dict[str, Any]:
    return {"ansible_host": str(root), "ansible_connection": "community.general.chroot",
            "ansible_python_interpreter": "/usr/bin/python3", "ansible_become": False, **host_vars}


def write_inventory(folder: Path, kits: Mapping[str, Mapping[str, Any]], group_vars: Mapping[str, Any],
                    host_files: Mapping[str, str] | None = None) -> Path:
    """An inventory folder: hosts.yml with the `kits` group, plus raw host_vars files (e.g. vaulted)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hosts.yml").write_text(yaml.safe_dump({"kits": {"hosts": {name: dict(values) for name, values
                                                                         in kits.items()},
                                                               "vars": dict(group_vars)}}))
    for name, text in (host_files or {}).items():
        (folder / "host_vars").mkdir(exist_ok=True)
        (folder / "host_vars" / f"{name}.yml").write_text(text)
    return folder


def kit_group_vars(wheelhouse: Path) -> dict[str, Any]:
    """The organisation's settings for test kits: this session's wheelhouse (so the kit gets the code under
    test), the dependency wheels cached across sessions, the harness's network."""
    return {"kit_base_admin_keys": [ADMIN_KEY], "kit_kiosk_wheelhouse": str(wheelhouse),
            "kit_kiosk_wheel_cache": str(CACHE / "wheel-cache"), "kit_kiosk_settings": HARNESS_SETTINGS}


@dataclass
class Recap:
    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0


_RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.MULTILINE)


def parse_recap(text: str) -> dict[str, Recap]:
    return {m["host"]: Recap(*(int(m[key]) for key in ("ok", "changed", "unreachable", "failed", "skipped")))
            for m in _RECAP.finditer(text)}


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    seconds: float
    recap: dict[str, Recap] = field(default_factory=dict)

    def changed_tasks(self) -> list[str]:
        """The names of tasks that reported a change, for a readable failure message."""
        names, current = [], ""
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                current = line[6:].split("]")[0]
            elif line.startswith("changed:"):
                names.append(current)
        return names


def run_in_roots(roots: Sequence[Path], command: Sequence[str], log: Path, timeout: float = 1800,
                 env: Mapping[str, str] | None = None) -> tuple[int, str, float]:
    """A host command (ansible-playbook, provision fleet…) with the roots prepared by chroot_run.py."""
    environment = {**os.environ, "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                   "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    started = time.monotonic()
    with private_apt_cache() as apt_cache, log.open("w") as output:
        argv = [sys.executable, str(CHROOT_RUN), *(item for root in roots for item in ("--root", str(root))),
                "--apt-cache", str(apt_cache), "--", *command]
        done = subprocess.run(argv, stdout=output, stderr=subprocess.STDOUT, timeout=timeout, check=False,
                              cwd=PLAYBOOKS, env=environment)
    return done.returncode, log.read_text(errors="replace"), time.monotonic() - started


def run_playbook(roots: Sequence[Path], inventory: Path, playbook: str, *args: str, log: Path,
                 timeout: float = 1800) -> PlaybookRun:
    command = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOKS / playbook), *args]
    code, output, seconds = run_in_roots(roots, command, log, timeout)
    return PlaybookRun(code, output, seconds, parse_recap(output))


def in_root(root: Path, *argv: str, user: str = "root", stdin: str | None = None,
            env: Sequence[str] = (), timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """One command inside the root (private mounts), as one of its users."""
    command = [sys.executable, str(CHROOT_RUN), "--inside", "--root", str(root), "--user", user,
               *(f"--env={item}" for item in env), "--", *argv]
    return subprocess.run(command, capture_output=True, text=True, input=stdin, timeout=timeout, check=False)


# --- systemd units, started as systemd would --------------------------------------------------------------


@dataclass
class Unit:
    name: str
    kind: str
    user: str
    exec_start_pre: list[list[str]]
    exec_start: list[list[str]]
    runtime_directory: str
    runtime_mode: str
    state_directory: str
    working_directory: str
    environment: list[str]
    settings: dict[str, list[str]]

    @classmethod
    def read(cls, root: Path, name: str) -> Unit:
        for folder in ("etc/systemd/system", "lib/systemd/system", "usr/lib/systemd/system"):
            path = root / folder / name
            if path.exists():
                break
        else:
            raise AssertionError(f"no unit {name} in {root}")
        values: dict[str, list[str]] = {}
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
                key, _, value = line.partition("=")
                values.setdefault(key.strip(), []).append(value.strip())

        def commands(key: str) -> list[list[str]]:
            return [shlex.split(value.lstrip("-@+!")) for value in values.get(key, []) if value]

        def one(key: str, default: str = "") -> str:
            return values.get(key, [default])[-1]

        return cls(name=name, kind=one("Type", "simple"), user=one("User", "root"),
                   exec_start_pre=commands("ExecStartPre"), exec_start=commands("ExecStart"),
                   runtime_directory=one("RuntimeDirectory"), runtime_mode=one("RuntimeDirectoryMode", "0755"),
                   state_directory=one("StateDirectory"), working_directory=one("WorkingDirectory", "/"),
                   environment=[item for value in values.get("Environment", []) for item in shlex.split(value)],
                   settings=values)


def _owner(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise AssertionError(f"no user {user} in the root")


def _inside(root: Path, unit: Unit, argv: Sequence[str]) -> list[str]:
    return [sys.executable, str(CHROOT_RUN), "--inside", "--root", str(root), "--user", unit.user, "--cwd",
            unit.working_directory, *(f"--env={item}" for item in unit.environment), "--", *argv]


def start_unit(topology: Any, root: Path, name: str, logs: Path) -> Any:
    """Start an installed unit in the kit namespace: directories, ExecStartPre, then ExecStart.

    A oneshot unit runs to the end here (an error fails the test); a simple one keeps running, stopped by
    the topology at teardown. Returns the process (or None for a oneshot)."""
    unit = Unit.read(root, name)
    uid, gid = _owner(root, unit.user)
    if unit.runtime_directory:
        folder = root / "run" / unit.runtime_directory
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, uid, gid)
        folder.chmod(int(unit.runtime_mode, 8))
    if unit.state_directory:
        folder = root / "var/lib" / unit.state_directory
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, uid, gid)
    oneshot = unit.kind == "oneshot"
    for argv in unit.exec_start_pre + (unit.exec_start if oneshot else []):
        done = topology.run(topology.kit, _inside(root, unit, argv), timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"{name}: {' '.join(argv)} exited {done.returncode}: {done.stderr or done.stdout}")
    if oneshot:
        return None
    if len(unit.exec_start) != 1:
        raise AssertionError(f"{name}: a simple unit has one ExecStart")
    return topology.popen(topology.kit, _inside(root, unit, unit.exec_start[0]), logs / f"{name}.log")


def sysctl_file(root: Path, name: str) -> dict[str, str]:
    """The kernel settings a root installs (only net.*: they belong to a network namespace, never the host)."""
    values = {}
    for line in (root / "etc/sysctl.d" / name).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    foreign = [key for key in values if not key.startswith("net.")]
    if foreign:
        raise AssertionError(f"{name} sets host-wide kernel settings: {foreign}")
    return values


def process_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# --- tests of the helpers ---------------------------------------------------------------------------------


def test_recap_is_read_per_host():
    text = ("PLAY RECAP *****\nkit-a                      : ok=64   changed=0    unreachable=0    failed=0    "
            "skipped=22   rescued=0    ignored=0\nkit-c : ok=0 changed=0 unreachable=1 failed=0 skipped=0 rescued=0 "
            "ignored=0\n")
    recap = parse_recap(text)
    assert recap["kit-a"] == Recap(ok=64, changed=0, unreachable=0, failed=0, skipped=22)
    assert recap["kit-c"].unreachable == 1


def test_unit_files_are_read_like_systemd(tmp_path):
    folder = tmp_path / "etc/systemd/system"
    folder.mkdir(parents=True)
    (folder / "x.service").write_text("[Service]\nType=oneshot\nUser=kiosk\nExecStartPre=-/bin/true --a 'b c'\n"
                                      "ExecStart=/bin/echo 1\nExecStart=/bin/echo 2\nEnvironment=A=1 B=2\n")
    unit = Unit.read(tmp_path, "x.service")
    assert unit.exec_start_pre == [["/bin/true", "--a", "b c"]]
    assert unit.exec_start == [["/bin/echo", "1"], ["/bin/echo", "2"]]
    assert (unit.kind, unit.user, unit.environment) == ("oneshot", "kiosk", ["A=1", "B=2"])


def test_a_fresh_root_runs_its_own_python_in_a_private_namespace(tmp_path):
    """The cached debootstrap (built here when absent) gives a root whose python3 runs inside it, and
    chroot_run.py leaves no mount behind on the host."""
    require_tools()
    root = fresh_root(tmp_path / "root")
    try:
        inside = in_root(root, "/usr/bin/python3", "-c",
                         "import os, sys; print(sys.version_info[:2], os.path.exists('/proc/self/status'))")
        assert inside.returncode == 0, inside.stderr
        assert inside.stdout.strip() == "(3, 11) True"
        assert str(root) not in Path("/proc/self/mounts").read_text()
        refused = subprocess.run([sys.executable, str(CHROOT_RUN), "--root", "/", "--", "true"], capture_output=True,
                                 text=True, timeout=60, check=False)
        assert refused.returncode == 2 and "refusing" in refused.stderr
    finally:
        remove_root(root)
