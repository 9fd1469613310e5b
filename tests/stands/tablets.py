"""Fixtures for the loaned-tablet tests: simulated Linux laptops (sshd in namespaces), simulated Android
tablets behind Debian's real adb server, the kit's settings, and the `provision` command.

Import the fixtures you use into a test module: `from tests.stands.tablets import linux_tablets  # noqa: F401`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.settings import Settings, defaults
from provisioning.events import Event
from provisioning.tablets import LinuxCredentials, Tablets
from provisioning.wipe import Backoff
from tests.stands.adb_device import AndroidState, SimulatedTablet
from tests.stands.adb_server import AdbServerStand
from tests.stands.sshd import KIT_WIFI, LinuxTablet, StandError
from tests.support.system import REPO, need_binary, unavailable

FAST_BACKOFF = Backoff(base=0.05, cap=0.2)


def need_root_namespaces() -> None:
    need_binary("sshd", "/usr/sbin/sshd")
    need_binary("unshare")
    need_binary("setpriv")
    if os.geteuid() != 0:
        unavailable("simulated laptops need root (mount namespaces, chroot)")
    probe = subprocess.run(["unshare", "--mount", "--pid", "--fork", "true"], capture_output=True, text=True,
                           timeout=30, check=False)
    if probe.returncode != 0:
        unavailable(f"cannot create mount and PID namespaces: {probe.stderr.strip()}")


def tablet_settings(tmp_path: Path, adb_port: int = 5037, **changes: Any) -> Settings:
    values = {"store__path": str(tmp_path / "kiosk.db"), "tablets__ssh_key": str(tmp_path / "kit" / "tablets_ed25519"),
              "tablets__adb_server_port": adb_port, "tablets__linux_wifi_keep": [KIT_WIFI],
              "tablets__android_apps": ["fr.caf.mobile"], "tablets__step_timeout_seconds": 20,
              "tablets__retries": 2, "tablets__parallel": 8}
    values.update(changes)
    return defaults().replace(**values)


def write_config(path: Path, settings: Settings) -> Path:
    """The same settings as a TOML file, for the `provision` command."""
    sections: dict[str, list[str]] = {}
    for key in ("store.path", "tablets.ssh_key", "tablets.adb_server_port", "tablets.linux_wifi_keep",
                "tablets.android_apps", "tablets.step_timeout_seconds", "tablets.retries", "tablets.parallel"):
        section, name = key.split(".")
        sections.setdefault(section, []).append(f"{name} = {json.dumps(settings[key], ensure_ascii=False)}")
    path.write_text("".join(f"[{section}]\n" + "\n".join(lines) + "\n" for section, lines in sections.items()))
    return path


def provision(config: Path, *args: str, stdin: str | None = None, timeout: float = 180,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "provisioning", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout, check=False, input=stdin, cwd=REPO,
                          env={**os.environ, **(env or {})})


class Recorder:
    """Collects wipe events in order, per tablet."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def states(self, tablet: str) -> list[str]:
        return [event.state for event in self.events if event.tablet == tablet]

    def details(self, tablet: str) -> list[str]:
        return [event.detail for event in self.events if event.tablet == tablet]


@pytest.fixture
def linux_tablets(tmp_path: Path) -> Iterator[Callable[..., LinuxTablet]]:
    """Factory of started simulated laptops; every one is stopped and removed afterwards."""
    need_root_namespaces()
    made: list[LinuxTablet] = []

    def make(name: str = "laptop", **options: Any) -> LinuxTablet:
        directory = tmp_path / "laptops" / f"{name}-{len(made)}"
        directory.mkdir(parents=True)
        stand = LinuxTablet(directory, **options)
        made.append(stand)
        try:
            return stand.build().start()
        except StandError as problem:
            unavailable(f"cannot start a simulated laptop: {problem}")
            raise

    yield make
    for stand in made:
        stand.destroy()


@pytest.fixture
def adb_server(tmp_path: Path) -> Iterator[AdbServerStand]:
    need_binary("adb")
    server = AdbServerStand(tmp_path / "adb-home")
    try:
        server.start()
    except RuntimeError as problem:
        unavailable(f"Debian's adb server did not start: {problem}")
    yield server
    server.stop()


@pytest.fixture
def android_tablets() -> Iterator[Callable[..., SimulatedTablet]]:
    made: list[SimulatedTablet] = []

    def make(**state_options: Any) -> SimulatedTablet:
        tablet = SimulatedTablet(AndroidState(**state_options)).start()
        made.append(tablet)
        return tablet

    yield make
    for tablet in made:
        tablet.go_offline()


def open_tablets(settings: Settings, recorder: Recorder | None = None, **options: Any) -> Tablets:
    tablets = Tablets.open(settings, backoff=options.pop("backoff", FAST_BACKOFF), **options)
    if recorder is not None:
        tablets.bus.subscribe(recorder)
    return tablets


def enroll_laptop(tablets: Tablets, name: str, stand: LinuxTablet, wipe: bool = True):
    tablets.enroll_linux(name, f"127.0.0.1:{stand.port}", stand.guest, lambda fingerprint, previous: True,
                         credentials=LinuxCredentials(identity=str(stand.admin_key)))
    return tablets.wipe([name])[0] if wipe else tablets.inventory.get(name)


def assert_honest(device, stand: LinuxTablet) -> None:
    """The rule of the whole feature: ready if and only if nothing of the participant survives."""
    leftovers = stand.leftovers() + [f"process {pid}" for pid in stand.guest_processes()]
    if device.status == "ready":
        assert leftovers == [], f"{device.name} reported ready with leftovers: {leftovers}"
    else:
        assert device.status == "needs-attention", device
