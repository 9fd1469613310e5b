"""The mediator's and tech lead's command line: clients and the legal connection log."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest

from kiosk import settings as kiosk_settings
from kiosk.runtime import Adapters, Kit
from kiosk.services import connections
from tests.conftest import ManualClock
from tests.support.system import kiosk_command


@pytest.fixture
def config(tmp_path: Path) -> Path:
    leases = tmp_path / "leases"
    leases.write_text("1999999999 5a:11:22:33:44:55 10.42.0.23 phone *\n")
    path = tmp_path / "kit.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "kiosk.db"}"\n[network]\ndhcp_leases = "{leases}"\n'
                    '[access]\ntrusted_macs = ["02:aa:bb:cc:dd:ee"]\n')
    return path


def kiosk(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(kiosk_command("--config", str(config), *args), capture_output=True, text=True,
                          timeout=60, check=False)


def test_allow_list_deny_a_phone_by_ip(config):
    allowed = kiosk(config, "clients", "allow", "--ip", "10.42.0.23")
    assert allowed.returncode == 0, allowed.stderr
    assert "allowed 5a:11:22:33:44:55 10.42.0.23 for 120 minutes" in allowed.stdout  # MAC found in the leases
    listed = kiosk(config, "clients", "list").stdout
    assert "10.42.0.23" in listed and "by mediator" in listed
    assert "02:aa:bb:cc:dd:ee" in listed and "trusted" in listed
    denied = kiosk(config, "clients", "deny", "--mac", "5A-11-22-33-44-55")
    assert denied.stdout.strip() == "1 session(s) ended"
    assert "10.42.0.23" not in kiosk(config, "clients", "list").stdout


def test_kiosk_config_environment_variable_is_read(config):
    result = subprocess.run(kiosk_command("clients", "list"), capture_output=True, text=True, timeout=60,
                            check=False, env={"KIOSK_CONFIG": str(config), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "02:aa:bb:cc:dd:ee" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("clients", "allow", "--ip", "10.42.0.300"), "'10.42.0.300' is not an IP address"),
    (("clients", "allow", "--ip", "2001:db8::1"), "IPv4"),
    (("clients", "deny", "--mac", "zz:zz"), "is not a MAC address"),
    (("clients", "deny",), "give --ip or --mac"),
    (("connections", "export", "--since", "yesterday", "--until", "2026-01-01"), "is not a date"),
    (("connections", "export", "--since", "2026-02-01", "--until", "2026-01-01"), "must come after"),
])
def test_bad_arguments_get_one_clear_line(config, args, message):
    result = kiosk(config, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_connection_log_export_holds_device_ip_times_bytes_and_never_urls(tmp_path, config):
    clock = ManualClock(start=1_790_000_000)  # 2026-09-21T14:13:20Z
    kit = Kit.open(kiosk_settings.load(config, environ={}), Adapters(clock=clock))
    kit.access.grant("10.42.0.23", "5a:11:22:33:44:55", "fr")
    clock.advance(1800)
    kit.access.revoke(ip="10.42.0.23", reason="denied by a mediator")
    output = tmp_path / "export.csv"
    result = kiosk(config, "connections", "export", "--since", "2026-09-21", "--until", "2026-09-22",
                   "--output", str(output))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(output.read_text())))
    assert rows == [{"device_mac": "5a:11:22:33:44:55", "ip_address": "10.42.0.23",
                     "start_utc": "2026-09-21T14:13:20Z", "end_utc": "2026-09-21T14:43:20Z", "bytes": "0",
                     "end_reason": "denied by a mediator", "nat_source_ports": ""}]  # `none`: the kit does no NAT
    assert tuple(rows[0]) == connections.EXPORT_COLUMNS
    outside = kiosk(config, "connections", "export", "--since", "2026-09-22", "--until", "2026-09-23")
    assert outside.stdout.strip() == ",".join(connections.EXPORT_COLUMNS)


def test_connection_log_is_purged_after_the_retention_period(config):
    clock = ManualClock()
    kit = Kit.open(kiosk_settings.load(config, environ={}), Adapters(clock=clock))
    kit.access.grant("10.42.0.23", None, "fr")
    kit.access.revoke(ip="10.42.0.23")
    assert connections.purge(kit.store, clock() + 364 * 86_400, retention_days=365) == 0
    assert connections.purge(kit.store, clock() + 366 * 86_400, retention_days=365) == 1
