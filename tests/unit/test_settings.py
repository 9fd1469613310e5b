"""Settings: one declaration per setting, checked files, environment overrides, the README table."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from kiosk import settings as kiosk_settings
from tests.support.system import REPO, kiosk_command


def check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(kiosk_command("config", "check", str(path)), capture_output=True, text=True,
                          timeout=60, check=False)


def test_defaults_are_valid_and_serve_locally_without_root():
    values = kiosk_settings.defaults()
    assert values.portal.listen == "127.0.0.1:8080"
    assert values.dashboard.listen == "127.0.0.1:8081"
    assert values.firewall.backend == "none"
    assert values.portal.languages[0] == "fr"


def test_config_check_accepts_a_valid_file(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text('[portal]\nlisten = "0.0.0.0:80"\npublic_url = "http://10.42.0.1/"\n'
                      '[access]\nquota_mb = 0\ntrusted_macs = ["02:AA:bb:cc:dd:ee"]\n')
    result = check(config)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_config_check_lists_every_error_at_once_without_traceback(tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text(
        '[portal]\nlisten = "nowhere"\ncolour = "blue"\n'
        '[access]\nsession_minutes = "two hours"\nquota_mb = -5\ntrusted_macs = ["not-a-mac"]\n'
        '[dashboard]\nlisten = "127.0.0.1:99999"\n'
        '[bluetooth]\nname = "x"\n'
    )
    result = check(config)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = dict(line.split(": ", 1) for line in result.stderr.strip().splitlines())
    assert set(errors) == {"portal.listen", "portal.colour", "access.session_minutes", "access.quota_mb",
                           "access.trusted_macs", "dashboard.listen", "bluetooth"}
    assert errors["portal.colour"] == "unknown setting"
    assert "≥ 0" in errors["access.quota_mb"]
    assert "integer" in errors["access.session_minutes"]
    assert "65535" in errors["dashboard.listen"]
    assert errors["bluetooth"] == "unknown section"


def test_config_check_reports_toml_syntax_and_missing_files(tmp_path):
    config = tmp_path / "syntax.toml"
    config.write_text("[portal\nlisten = 1\n")
    result = check(config)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{config}: not valid TOML")
    missing = check(tmp_path / "absent.toml")
    assert (missing.returncode, missing.stderr.strip()) == (2, f"{tmp_path / 'absent.toml'}: file not found")


def test_booleans_are_not_numbers(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text("[access]\nquota_mb = true\n")
    assert "boolean" in check(config).stderr


def test_wildcard_listen_needs_the_kits_address(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text('[portal]\nlisten = "0.0.0.0:80"\n')
    result = check(config)
    assert result.returncode == 2
    assert result.stderr.startswith("portal.public_url: ")


def test_environment_overrides_the_file(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text("[access]\nquota_mb = 100\n")
    values = kiosk_settings.load(config, environ={"KIOSK_ACCESS_QUOTA_MB": "250",
                                                  "KIOSK_PORTAL_LANGUAGES": "fr, ar"})
    assert values.access.quota_mb == 250
    assert values.portal.languages == ["fr", "ar"]


def test_bad_environment_value_is_reported_by_its_variable_name():
    try:
        kiosk_settings.load(None, environ={"KIOSK_ACCESS_IDLE_MINUTES": "soon"})
    except kiosk_settings.SettingsError as problem:
        assert problem.errors == [("KIOSK_ACCESS_IDLE_MINUTES", "expected an integer, got 'soon'")]
    else:
        raise AssertionError("a bad environment value was accepted")


def test_kiosk_config_env_variable_names_the_file(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text("[access]\nidle_minutes = 7\n")
    assert kiosk_settings.load(None, environ={"KIOSK_CONFIG": str(config)}).access.idle_minutes == 7


def test_serve_refuses_a_broken_config_with_the_key_and_reason(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text("[store]\npath = 3\n")
    result = subprocess.run(kiosk_command("--config", str(config), "serve"), capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == "store.path: expected a string, got int 3"


def test_readme_settings_table_matches_the_declarations():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- settings-table:start -->\n(.*?)<!-- settings-table:end -->", readme, re.S)
    assert block, "README.md has no settings table block"
    assert block.group(1) == kiosk_settings.markdown_table(), (
        "README settings table is stale: paste the output of `kiosk config table`")


def test_settings_that_would_open_the_kit_are_refused(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text(
        '[firewall]\nbackend = "nftables"\n'
        '[network]\nlan_interface = "wlan0"\nstaff_interface = "wlan0"\ncaptive_dns_port = 5353\n'
        '[wifi]\nstaff_psk_file = "/x\\nwpa=0"\n')
    result = check(config)
    assert result.returncode == 2
    errors = dict(line.split(": ", 1) for line in result.stderr.strip().splitlines())
    assert "5353" in errors["network.captive_dns_port"]
    assert errors["wifi.staff_psk_file"] == "must be on one line"


def test_cross_checks_once_each_value_is_valid(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text('[firewall]\nbackend = "nftables"\n[network]\nlan_interface = "wlan0"\n'
                      'staff_interface = "wlan0"\n')
    errors = dict(line.split(": ", 1) for line in check(config).stderr.strip().splitlines())
    assert "must differ" in errors["network.staff_interface"]
    assert "loopback" in errors["portal.listen"]  # nftables, but the portal on 127.0.0.1


def test_the_dashboard_is_refused_on_the_participants_network(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text('[portal]\nlisten = "0.0.0.0:8080"\npublic_url = "http://10.42.0.1/"\n'
                      '[dashboard]\nlisten = "10.42.0.1:8081"\n')
    errors = dict(line.split(": ", 1) for line in check(config).stderr.strip().splitlines())
    assert "participants' network" in errors["dashboard.listen"]
    config.write_text('[portal]\nlisten = "0.0.0.0:8080"\npublic_url = "http://10.42.0.1/"\n'
                      '[network]\nstaff_interface = "wlan1"\n[dashboard]\nlisten = "10.42.1.1:8081"\n')
    assert check(config).returncode == 0


def test_on_a_kit_the_dashboard_listens_only_on_the_staff_address_or_the_kit_itself(tmp_path):
    """The listener binds even before its address exists (the staff adapter may come later), so a typo
    would start silently unreachable: refused instead."""
    base = ('[portal]\nlisten = "0.0.0.0:8080"\npublic_url = "http://10.42.0.1/"\n[firewall]\nbackend = "nftables"\n'
            '[network]\nstaff_interface = "wlan1"\n')
    config = tmp_path / "kit.toml"
    for listen, valid in (("10.42.2.1:8081", False), ("0.0.0.0:8081", False), ("10.42.1.1:8081", True),
                          ("127.0.0.1:8081", True), ("localhost:8081", True)):
        config.write_text(base + f'[dashboard]\nlisten = "{listen}"\n')
        result = check(config)
        assert (result.returncode == 0) is valid, (listen, result.stderr)
        if not valid:
            assert "dashboard.listen: must be the kit's staff address" in result.stderr
