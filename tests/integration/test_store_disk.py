"""A read-only or full disk gives a clear message, on a real tmpfs mounted in a private mount namespace.

As root the test uses `unshare --mount`; as another user, a user namespace (`unshare -r --mount`).
Nothing is mounted on the host: the mounts vanish with the namespace.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.system import REPO, need_binary, unavailable

pytestmark = pytest.mark.system


def run_in_private_mounts(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    unshare = need_binary("unshare")
    argv = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        argv.insert(1, "-r")
    probe = subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        unavailable(f"cannot make a private mount namespace: {probe.stderr.strip()}")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([*argv, "sh", "-c", script], capture_output=True, text=True, timeout=120, check=False,
                          env=env, cwd=tmp_path)


def setup_script(disk: Path, config: Path) -> str:
    kiosk = f"{shlex.quote(sys.executable)} -m kiosk --config {shlex.quote(str(config))}"
    return (f"set -e; mount -t tmpfs -o size=2m tmpfs {shlex.quote(str(disk))}; "
            f"{kiosk} db upgrade; {kiosk} clients allow --ip 10.42.0.5 >/dev/null; set +e; ")


def write_config(tmp_path: Path) -> tuple[Path, Path, str]:
    disk = tmp_path / "disk"
    disk.mkdir()
    config = tmp_path / "kit.toml"
    config.write_text(f'[store]\npath = "{disk / "kiosk.db"}"\n[network]\ndhcp_leases = "{tmp_path / "l"}"\n')
    kiosk = f"{shlex.quote(sys.executable)} -m kiosk --config {shlex.quote(str(config))}"
    return disk, config, kiosk


def test_full_disk_is_reported_plainly_and_keeps_what_was_saved(tmp_path):
    disk, config, kiosk = write_config(tmp_path)
    script = (setup_script(disk, config)
              + f"dd if=/dev/zero of={shlex.quote(str(disk / 'filler'))} bs=4k 2>/dev/null; "
              + f"{kiosk} clients allow --ip 10.42.0.6; echo exit=$?; "
              + f"rm {shlex.quote(str(disk / 'filler'))}; {kiosk} clients list")
    result = run_in_private_mounts(script, tmp_path)
    assert "exit=1" in result.stdout, result.stdout + result.stderr
    assert "the kit's storage is full" in result.stderr
    assert "Traceback" not in result.stderr
    assert "10.42.0.5" in result.stdout  # the session saved before the disk filled is still there


def test_read_only_disk_is_reported_plainly(tmp_path):
    disk, config, kiosk = write_config(tmp_path)
    script = (setup_script(disk, config)
              + f"mount -o remount,ro {shlex.quote(str(disk))}; "
              + f"{kiosk} clients allow --ip 10.42.0.6; echo exit=$?")
    result = run_in_private_mounts(script, tmp_path)
    assert "exit=1" in result.stdout, result.stdout + result.stderr
    assert "read-only" in result.stderr
    assert "Traceback" not in result.stderr
