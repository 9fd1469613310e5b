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
    TooManyAttempts,
    hash_password,
    verify_password,
    write_password_file,
)
from kiosk.store import Store
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


def test_the_limiter_counts_per_address_and_holds_back_only_the_guessers_for_the_kit():
    now = [1_790_000_000.0]
    limiter = LoginLimiter(clock=lambda: now[0], per_client=2, overall=3, window_s=60)
    for _ in range(2):
        limiter.check("a")
        limiter.failed("a")
    with pytest.raises(TooManyAttempts) as blocked:
        limiter.check("a")
    assert 1 <= blocked.value.retry_after_s <= 60
    limiter.check("b")
    limiter.failed("b")  # the kit as a whole has seen three wrong passwords
    with pytest.raises(TooManyAttempts):
        limiter.check("b")
    limiter.check("c")  # an address that typed nothing wrong is never held back by others
    now[0] += 61
    limiter.check("a")
    limiter.succeeded("a")


def test_login_failures_survive_a_restart_and_a_login_clears_only_its_own_address(tmp_path):
    now = [1_790_000_000.0]
    store = Store(tmp_path / "kit.sqlite3")
    store.upgrade()
    limiter = LoginLimiter(clock=lambda: now[0], store=store, per_client=2, overall=3, window_s=60)
    limiter.failed("a")
    limiter.failed("a")
    limiter.failed("b")
    restarted = LoginLimiter(clock=lambda: now[0], store=store, per_client=2, overall=3, window_s=60)
    with pytest.raises(TooManyAttempts):
        restarted.check("a")
    with pytest.raises(TooManyAttempts):
        restarted.check("b")  # the kit's budget is spent and b guessed
    now[0] += 30
    restarted.succeeded("b")  # b typed the right one after all (from another tab, say)
    again = LoginLimiter(clock=lambda: now[0], store=store, per_client=2, overall=3, window_s=60)
    again.check("b")
    with pytest.raises(TooManyAttempts):
        again.check("a")
    now[0] -= 3600  # the clock set back an hour: failures "from the future" hold nobody back
    LoginLimiter(clock=lambda: now[0], store=store, per_client=2, overall=3, window_s=60).check("a")


def test_a_store_that_cannot_be_opened_still_counts_in_memory_and_says_why(tmp_path, caplog):
    (tmp_path / "not-a-folder").write_text("")
    broken = Store(tmp_path / "not-a-folder" / "kit.sqlite3")  # its folder cannot be made: every access fails
    limiter = LoginLimiter(clock=lambda: 1_790_000_000.0, store=broken, per_client=1, overall=3, window_s=60)
    limiter.failed("a")
    with pytest.raises(TooManyAttempts):
        limiter.check("a")
    assert "counted in memory only" in caplog.text


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
