"""The dashboard's smaller parts: password hashes, the login limiter, the hardware readings' parsers, and the
status snapshot on a machine that reports what it can."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.adapters.health import Health, count_leases, parse_millidegrees, parse_throttled
from kiosk.services.auth import (
    LoginLimiter,
    PasswordError,
    PasswordFile,
    hash_password,
    verify_password,
    write_password_file,
)
from kiosk.services.ratelimit import TooManyAttempts
from tests.unit.test_dashboard import build


def test_hashes_use_the_first_boot_tools_format_and_verify():
    line = hash_password("un mot de passe", salt=bytes(16))
    scheme, n, r, p, salt, digest = line.split("$")
    assert (scheme, n, r, p, salt) == ("scrypt", "16384", "8", "1", "00" * 16) and len(digest) == 64
    assert verify_password("un mot de passe", line)
    assert not verify_password("un mot de passe ", line)
    for broken in ("", "scrypt$", "bcrypt$1$2$3$00$00", "scrypt$x$8$1$00$00", "scrypt$16384$8$1$zz$00",
                   "scrypt$4194304$64$64$00$00"):
        assert not verify_password("x", broken)


def test_a_password_file_is_private_and_read_back(tmp_path: Path):
    path = write_password_file(tmp_path / "d" / "dashboard.password", "assez long")
    assert path.stat().st_mode & 0o777 == 0o600
    stored = PasswordFile(path).read()
    assert stored is not None and stored.matches("assez long")
    assert PasswordFile(tmp_path / "absent").read() is None
    (tmp_path / "junk").write_text("hello\n")
    assert PasswordFile(tmp_path / "junk").read() is None
    for bad in ("court", "x" * 201, "tab\there"):
        with pytest.raises(PasswordError):
            write_password_file(tmp_path / "other", bad)


def test_the_limiter_counts_per_address_and_for_the_whole_kit():
    now = [0.0]
    limiter = LoginLimiter(per_client=2, overall=3, window_s=60, clock=lambda: now[0])
    for _ in range(2):
        limiter.check("a")
        limiter.failed("a")
    with pytest.raises(TooManyAttempts) as blocked:
        limiter.check("a")
    assert 1 <= blocked.value.retry_after_s <= 61
    limiter.check("b")
    limiter.failed("b")
    with pytest.raises(TooManyAttempts):
        limiter.check("c")  # the kit as a whole has seen three failures
    now[0] += 61
    limiter.check("a")
    limiter.succeeded("a")


@pytest.mark.parametrize("output, expected", [
    ("throttled=0x0\n", (False, False, False)),
    ("throttled=0x50005\n", (True, True, True)),
    ("throttled=0x50000\n", (False, False, True)),
    ("throttled=0x8\n", (False, True, False)),
])
def test_vcgencmd_throttling_bits(output, expected):
    found = parse_throttled(output)
    assert (found.under_voltage, found.throttled, found.happened_since_boot) == expected


def test_unreadable_readings_are_none():
    assert parse_throttled("error=1 error_msg=...") is None
    assert parse_millidegrees("48312\n") == pytest.approx(48.312)
    assert parse_millidegrees("") is None
    health = Health(vcgencmd="/nonexistent/vcgencmd", thermal_zone=Path("/nonexistent"))
    assert health.throttling() is None
    assert health.leases(Path("/nonexistent"), 0) is None


def test_active_leases_are_counted():
    text = ("1790003600 5a:11:22:33:44:55 10.42.0.23 phone *\n"
            "1789990000 5a:11:22:33:44:56 10.42.0.24 old *\n"
            "0 5a:11:22:33:44:57 10.42.0.25 static *\n"
            "garbage\n")
    assert count_leases(text, 1_790_000_000) == 2


def test_the_status_page_shows_devices_power_and_disk(tmp_path):
    dash = build(tmp_path)
    dash.login()
    (tmp_path / "leases").write_text(f"{int(dash.clock()) + 600} 5a:11:22:33:44:55 10.42.0.23 phone *\n")
    dash.apps.kit.access.grant("10.42.0.23", "5a:11:22:33:44:55", "fr")
    page = dash.visible("/")
    assert "appareils sur le Wi-Fi : 1" in page
    assert '<p class="big">1</p>' in page
    assert "Stockage libre" in page
    assert 'http-equiv="refresh" content="15"' in page
    snapshot = dash.context.status.snapshot()
    assert (snapshot.power is None) == ("Batterie" not in page), "the battery shows only when the hardware has one"
