"""The kit's durable store: one SQLite file in WAL mode with versioned migrations.

Every write goes through ``Store.write()``, which commits synchronously (``synchronous=FULL``): when it
returns, the data is on disk, so a participant told "saved" keeps it across a power cut.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _load_migrations(directory: Path = MIGRATIONS_DIR) -> tuple[str, ...]:
    """``NNN_name.sql`` files, numbered from 001 without gaps: each capability owns its own files."""
    files = sorted(directory.glob("[0-9][0-9][0-9]_*.sql"))
    numbers = [int(path.name[:3]) for path in files]
    if numbers != list(range(1, len(files) + 1)):
        raise RuntimeError(f"migrations in {directory} must be numbered 001, 002… without gaps: {numbers}")
    return tuple(path.read_text(encoding="utf-8") for path in files)


MIGRATIONS: tuple[str, ...] = _load_migrations()
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """A storage problem explained for a person: read-only disk, full disk, missing directory…"""


def _disk_state(path: Path) -> str | None:
    """SQLite often reports a full or read-only disk as a generic I/O or open error: ask the disk."""
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return "read-only"
    if stats.f_bavail * stats.f_frsize < 64 * 1024:
        return "full"
    return None


def _explain(problem: sqlite3.Error, path: Path) -> StoreError:
    code = getattr(problem, "sqlite_errorname", "") or ""
    text = str(problem)
    disk = _disk_state(path)
    if disk == "read-only" or code.startswith("SQLITE_READONLY") or "readonly" in text:
        return StoreError(f"the kit's storage is read-only, nothing can be saved ({path})")
    if disk == "full" or code == "SQLITE_FULL" or "disk is full" in text:
        return StoreError(f"the kit's storage is full: free some space, then try again ({path})")
    if code.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return StoreError(f"cannot open the store at {path}: check the folder exists and is writable")
    if code.startswith("SQLITE_IOERR"):
        return StoreError(f"the kit's storage failed to write ({path}): the SD card may be failing or full")
    if code == "SQLITE_BUSY" or "locked" in text:
        return StoreError(f"the store is busy ({path}); try again in a moment")
    return StoreError(f"storage error ({path}): {text}")


class Store:
    """Thread-safe access to the SQLite file: one connection per thread."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as problem:
                raise StoreError(f"cannot create the folder for the store at {self.path}: "
                                 f"{problem.strerror}") from None
            try:
                connection = sqlite3.connect(self.path, isolation_level=None, timeout=10,
                                             check_same_thread=False)
                connection.row_factory = sqlite3.Row
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=FULL")
                connection.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as problem:
                raise _explain(problem, self.path) from None
            self._local.connection = connection
        return connection

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A transaction that is durable on disk when the block exits without error."""
        connection = self._connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                if connection.in_transaction:  # SQLite may have rolled back already (disk full, I/O error)
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        except sqlite3.Error as problem:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise _explain(problem, self.path) from None

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """A lock shared by every process and thread using this store, for a step that must not interleave
        with itself but talks to something slow (the firewall) and so must not hold the write lock."""
        path = self.path.with_name(f"{self.path.name}.{name}.lock")
        try:
            # Read-only is enough for flock, so a lock file created by root still serves the kiosk user.
            descriptor = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as problem:
            raise StoreError(f"cannot open the lock file {path}: {problem.strerror}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        try:
            yield connection
        except sqlite3.Error as problem:
            raise _explain(problem, self.path) from None

    def version(self) -> int:
        with self.read() as connection:
            return connection.execute("PRAGMA user_version").fetchone()[0]

    def upgrade(self) -> tuple[int, int]:
        """Apply pending migrations, each in its own transaction; returns (before, after) versions."""
        before = self.version()
        if before > SCHEMA_VERSION:
            raise StoreError(f"the store at {self.path} has schema version {before}, newer than this "
                             f"kit knows ({SCHEMA_VERSION}): update the kit's software")
        for number in range(before + 1, SCHEMA_VERSION + 1):
            with self.write() as connection:
                for statement in _statements(MIGRATIONS[number - 1]):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {number}")
        return before, SCHEMA_VERSION

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def _statements(script: str) -> Iterator[str]:
    # executescript() would commit the open transaction; split instead so a migration stays atomic.
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()
