"""The store: WAL, synchronous commits, migrations, clear messages."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from kiosk.store import SCHEMA_VERSION, Store, StoreError
from tests.support.system import kiosk_command


def test_store_is_created_in_wal_mode_with_synchronous_commits(tmp_path):
    store = Store(tmp_path / "deep" / "folder" / "kiosk.db")
    assert store.upgrade() == (0, SCHEMA_VERSION)
    with store.read() as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: the WAL is synced at each commit


def test_upgrade_is_idempotent(tmp_path):
    store = Store(tmp_path / "kiosk.db")
    store.upgrade()
    assert store.upgrade() == (SCHEMA_VERSION, SCHEMA_VERSION)


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    store = Store(tmp_path / "kiosk.db")
    store.upgrade()
    with pytest.raises(RuntimeError), store.write() as db:
        db.execute("INSERT INTO kit_secrets (name, value, created_at) VALUES ('a', 'b', 0)")
        raise RuntimeError("power cut in the middle")
    with store.read() as db:
        assert db.execute("SELECT COUNT(*) FROM kit_secrets").fetchone()[0] == 0


def test_a_store_from_a_newer_kit_is_refused_clearly(tmp_path):
    path = tmp_path / "kiosk.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this kit knows"):
        Store(path).upgrade()


def test_committed_grant_is_visible_to_another_process_at_once(tmp_path):
    """What the kit acknowledged is in the file, not in a cache of the process that wrote it."""
    config = tmp_path / "kit.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "kiosk.db"}"\n[network]\ndhcp_leases = "{tmp_path / "l"}"\n')
    allowed = subprocess.run(kiosk_command("--config", str(config), "clients", "allow", "--ip", "10.42.0.7"),
                             capture_output=True, text=True, timeout=60, check=False)
    assert allowed.returncode == 0, allowed.stderr
    with sqlite3.connect(tmp_path / "kiosk.db") as db:
        assert db.execute("SELECT ip FROM access_sessions WHERE ended_at IS NULL").fetchall() == [("10.42.0.7",)]


def test_db_upgrade_command(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "kiosk.db"}"\n')
    first = subprocess.run(kiosk_command("--config", str(config), "db", "upgrade"), capture_output=True,
                           text=True, timeout=60, check=False)
    assert first.returncode == 0
    assert f"schema 0 → {SCHEMA_VERSION}" in first.stdout
    again = subprocess.run(kiosk_command("--config", str(config), "db", "upgrade"), capture_output=True,
                           text=True, timeout=60, check=False)
    assert "up to date" in again.stdout
