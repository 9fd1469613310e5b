"""The README's two commands, runnable with a bare ``python3`` from the checkout (standard library only).

    python3 -m kiosk.devenv run    # virtual environment, install, store under var/, serve on 8080 and 8081
    python3 -m kiosk.devenv test   # what the tests need (Debian packages when root), then ruff and pytest

Extra arguments after ``test`` go to pytest; after ``run`` they go to ``kiosk serve``'s parent command
(for instance ``--config FILE``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
VENV = CHECKOUT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"

# Binaries the system tests drive, and the Debian package that brings each.
SYSTEM_TOOLS: dict[str, str] = {
    "chromium": "chromium",
    "unshare": "util-linux",
    "setpriv": "util-linux",
    "ip": "iproute2",
    "nft": "nftables",
    "dnsmasq": "dnsmasq-base",
    "dhclient": "isc-dhcp-client",
    "ping": "iputils-ping",
    # tests/integration/test_network_e2e.py: a participant's port scan of the kit.
    "nmap": "nmap",
    "hostapd": "hostapd",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "adb": "adb",
    "pgrep": "procps",
    "espeak-ng": "espeak-ng",
    "opusenc": "opus-tools",
    "lame": "lame",
    "npm": "npm",
    "debootstrap": "debootstrap",
    "zstd": "zstd",
    # tests/integration/test_playbooks_vm.py: a baked kit booted under QEMU, reached over SSH.
    "qemu-system-x86_64": "qemu-system-x86",
    "mkfs.ext4": "e2fsprogs",
    "ssh": "openssh-client",
    # tests/integration/test_fleet_pull.py: the fleet's hub (git over SSH) and a slowed NAT (tc tbf).
    "git": "git",
    "git-shell": "git",
    "tc": "iproute2",
    # tests/stands/sshd.py: a participant's at job, extended attribute and ACL on the simulated laptop.
    "at": "at",
    "setfattr": "attr",
    "setfacl": "acl",
}
# Shared libraries that no binary above brings, and the Debian package of each: Playwright's bundled node
# driver links libatomic, which a minimal Debian root (debootstrap --variant=minbase) lacks.
SYSTEM_LIBRARIES: dict[str, str] = {
    "libatomic.so.1": "libatomic1",
}
LIBRARY_FOLDERS = ("/usr/lib", "/lib", "/usr/lib64", "/lib64")
AXE = CHECKOUT / "tests" / ".node" / "node_modules" / "axe-core" / "axe.min.js"


def say(message: str) -> None:
    print(f"[triporteur] {message}", flush=True)


INSTALL_TIMEOUT_S = 1800  # a hung apt-get or pip must not hold CI forever


def run(argv: list[str], **options) -> None:
    options.setdefault("timeout", INSTALL_TIMEOUT_S)
    try:
        completed = subprocess.run(argv, check=False, **options)
    except subprocess.TimeoutExpired:
        say(f"gave up after {options['timeout']} s: {' '.join(argv)}")
        sys.exit(1)
    if completed.returncode != 0:
        say(f"failed ({completed.returncode}): {' '.join(argv)}")
        sys.exit(completed.returncode)


def _as_root(argv: list[str]) -> list[str] | None:
    if os.geteuid() == 0:
        return argv
    if shutil.which("sudo"):
        return ["sudo", *argv]
    return None


def apt_install(packages: list[str], why: str) -> bool:
    """Install Debian packages when we may; False when we cannot (not root and no sudo)."""
    if not shutil.which("apt-get"):
        say(f"apt-get not found: install {' '.join(packages)} by hand ({why})")
        return False
    update, install = _as_root(["apt-get", "update", "-q"]), _as_root(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages])
    if update is None or install is None:
        say(f"not root and no sudo: cannot install {' '.join(packages)} ({why})")
        return False
    say(f"installing {' '.join(packages)} ({why})")
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(update, env=environment)
    run(install, env=environment)
    return True


def ensure_venv() -> None:
    if VENV_PYTHON.exists():
        return
    say(f"creating the virtual environment in {VENV}")
    created = subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=False, capture_output=True, text=True,
                             timeout=INSTALL_TIMEOUT_S)
    if created.returncode == 0:
        return
    shutil.rmtree(VENV, ignore_errors=True)
    # Debian's python3 ships venv without ensurepip; the python3-venv package brings it.
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not apt_install([f"{version}-venv"], "Debian's python3 needs it to make virtual environments"):
        say(f"cannot create a virtual environment: {created.stderr.strip()}")
        sys.exit(1)
    run([sys.executable, "-m", "venv", str(VENV)])


def ensure_installed(extras: str = "") -> None:
    """Install the kit (editable) into the venv, again only when pyproject.toml changed."""
    spec = f".[{extras}]" if extras else "."
    fingerprint = hashlib.sha256((CHECKOUT / "pyproject.toml").read_bytes() + spec.encode()).hexdigest()
    stamp = VENV / f".installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == fingerprint:
        return
    say(f"installing the kit and its dependencies ({spec})")
    run([str(VENV_PYTHON), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([str(VENV_PYTHON), "-m", "pip", "install", "-q", "-e", spec], cwd=CHECKOUT)
    stamp.write_text(fingerprint)


def command_run(extra: list[str]) -> None:
    ensure_venv()
    ensure_installed()
    kiosk = [str(VENV / "bin" / "kiosk"), *extra]
    run([*kiosk, "db", "upgrade"], cwd=CHECKOUT)
    say("portal: http://127.0.0.1:8080/   dashboard: http://127.0.0.1:8081/   (Ctrl+C to stop)")
    os.chdir(CHECKOUT)
    os.execv(kiosk[0], [*kiosk, "serve"])  # noqa: S606 - replace this process by the server, argv list


def has_library(name: str) -> bool:
    """Whether the dynamic loader can find a shared library (in its usual folders, multiarch included)."""
    return any(path.exists() for folder in map(Path, LIBRARY_FOLDERS)
               for path in (folder / name, *folder.glob(f"*/{name}")))


def ensure_system_tools() -> None:
    missing = sorted({package for tool, package in SYSTEM_TOOLS.items() if not shutil.which(tool)}
                     | {package for library, package in SYSTEM_LIBRARIES.items() if not has_library(library)})
    if missing:
        apt_install(missing, "the system tests drive them")


def ensure_axe() -> None:
    """axe-core, the accessibility checker the browser tests inject (from the npm registry)."""
    if AXE.exists() or not shutil.which("npm"):
        return
    say("installing axe-core for the accessibility tests")
    run(["npm", "install", "--prefix", str(AXE.parents[2]), "axe-core@4", "--no-audit", "--no-fund"])


def ast_recursion_bug(version: tuple[int, int, int]) -> bool:
    """Python 3.11.0-3.11.7 and 3.12.0-3.12.1 (Debian 12 ships 3.11.2) may raise ``SystemError: AST constructor
    recursion depth mismatch`` while pytest parses source to format a long traceback, which ends the whole run
    with an INTERNALERROR (python/cpython#106905, fixed in 3.11.8 and 3.12.2)."""
    return (3, 11, 0) <= version < (3, 11, 8) or (3, 12, 0) <= version < (3, 12, 2)


def traceback_style(extra: list[str]) -> list[str]:
    """``--tb=native`` on an affected Python, unless the caller chose a style: Python's own traceback module
    formats failures without pytest's AST parsing, and still shows every frame."""
    version = tuple(sys.version_info[:3])
    if not ast_recursion_bug(version) or any(arg == "--tb" or arg.startswith("--tb=") for arg in extra):
        return []
    say(f"Python {'.'.join(map(str, version))} may crash pytest while it formats a traceback "
        "(python/cpython#106905): using --tb=native")
    return ["--tb=native"]


def command_test(extra: list[str]) -> None:
    ensure_system_tools()
    ensure_axe()
    ensure_venv()
    ensure_installed("test")
    say("ruff check")
    run([str(VENV / "bin" / "ruff"), "check", "."], cwd=CHECKOUT)
    say("pytest")
    result = subprocess.run([str(VENV_PYTHON), "-m", "pytest", *traceback_style(extra), *extra], cwd=CHECKOUT,
                            check=False)
    if result.returncode == 5:
        say("pytest collected no test: that is a failure")
        sys.exit(1)
    sys.exit(result.returncode)


def main(argv: list[str]) -> None:
    commands = {"run": command_run, "test": command_test}
    if not argv or argv[0] not in commands:
        print(__doc__)
        sys.exit(2)
    commands[argv[0]](argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
