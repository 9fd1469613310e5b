"""The `provision` command's contract: settings like `kiosk`, exit codes 0/1/2, one-line messages, never a
traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.store import Store
from provisioning.inventory import Inventory
from tests.support.system import REPO


def provision(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "provisioning", *args], capture_output=True, text=True, timeout=60,
                          check=False, cwd=REPO, input=stdin, env={**os.environ, **(env or {})})


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "kit.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "kiosk.db"}"\n[tablets]\nssh_key = "{tmp_path / "key"}"\n'
                    f'adb = "{tmp_path / "no-adb-here"}"\nadb_server_port = 9\nstep_timeout_seconds = 2\nretries = 1\n')
    return path


def test_without_a_command_it_shows_help_and_exits_2():
    done = provision()
    assert done.returncode == 2
    assert "tablets" in done.stdout


def test_an_empty_inventory(config):
    listed = provision("--config", str(config), "tablets", "list")
    assert listed.returncode == 0
    assert "no tablet enrolled" in listed.stdout
    waiting = provision("--config", str(config), "tablets", "wipe", "--all-returned")
    assert (waiting.returncode, waiting.stdout.strip()) == (0, "no tablet is waiting for a wipe")


def test_settings_come_from_kiosk_config_too(config, tmp_path):
    store = Store(tmp_path / "kiosk.db")
    store.upgrade()
    Inventory(store).enroll("tab-1", "android", "android-user", {}, address="10.42.0.30:5555")
    listed = provision("tablets", "list", env={"KIOSK_CONFIG": str(config)})
    assert listed.returncode == 0, listed.stderr
    assert "tab-1" in listed.stdout and "10.42.0.30:5555" in listed.stdout and "wiping" in listed.stdout


@pytest.mark.parametrize(("args", "code", "message"), [
    (("tablets", "lend", "nope"), 1, "no tablet named 'nope'"),
    (("tablets", "return", "nope"), 1, "no tablet named 'nope'"),
    (("tablets", "wipe"), 2, "give tablet names or --all-returned"),
    (("tablets", "wipe", "a", "--all-returned"), 2, "give tablet names or --all-returned"),
    (("tablets", "enroll", "android", "bad name", "--serial", "x"), 2, "is not a tablet name"),
    (("tablets", "enroll", "android", "t", "--serial", "x", "--address", "h:5555"), 2, "not allowed with"),
    (("tablets", "enroll", "linux", "t", "--address", "127.0.0.1", "--port", "1", "--user", "g", "--yes"), 1,
     "cannot reach 127.0.0.1:1"),
    (("tablets", "enroll", "linux", "t", "--address", "h", "--user", "g", "--password-stdin"), 2, "needs --yes"),
    (("tablets", "enroll", "android", "t", "--address", "127.0.0.1:1"), 1, "adb is not installed"),
])
def test_usage_and_failures_are_one_line(config, args, code, message):
    done = provision("--config", str(config), *args)
    assert done.returncode == code, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_setting_is_refused_with_its_key(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text("[tablets]\nparallel = 0\n")
    done = provision("--config", str(config), "tablets", "list")
    assert done.returncode == 2
    assert done.stderr.strip() == "tablets.parallel: must be ≥ 1, got 0"


def test_the_store_on_a_missing_disk_is_a_plain_message(tmp_path):
    config = tmp_path / "kit.toml"
    blocker = tmp_path / "file"
    blocker.write_text("")
    config.write_text(f'[store]\npath = "{blocker / "sub" / "kiosk.db"}"\n')
    done = provision("--config", str(config), "tablets", "list")
    assert done.returncode == 1
    assert done.stderr.startswith("provision: cannot create the folder for the store")
