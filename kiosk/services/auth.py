"""The mediators' dashboard password and login attempts.

The password file (``dashboard.password_file``) holds one line, the same format first-boot provisioning
writes (playbooks/roles/kit_secrets/files/triporteur-secrets)::

    scrypt$N$r$p$SALT_HEX$HASH_HEX      e.g. scrypt$16384$8$1$<32 hex digits>$<64 hex digits>

hashlib.scrypt with a random 16-byte salt and a 32-byte hash; the file is written atomically with mode
0600, readable by the service user only. The password itself is never stored.

Login attempts are limited per client address and for the whole kit (LoginLimiter), and the count is kept
in the store: a restart or a power cut does not hand a guesser a fresh budget. Each guess also costs an
scrypt computation.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk.store import Store, StoreError

log = logging.getLogger(__name__)

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_LENGTH = 8
MAX_LENGTH = 200


class PasswordError(ValueError):
    """A password that cannot be used, or a file that cannot be written; the message is for a person."""


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.strip().split("$")
        if scheme != "scrypt" or not (2 <= int(n) <= 2**20 and 1 <= int(r) <= 32 and 1 <= int(p) <= 16):
            return False
        expected = bytes.fromhex(digest)
        computed = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                  dklen=len(expected), maxmem=256 * 1024 * 1024)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(computed, expected)


def check_new_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"the password must have at most {MAX_LENGTH} characters")
    if any(ord(ch) < 32 for ch in password):
        raise PasswordError("the password must not contain control characters")
    return password


def _owner(target: Path) -> tuple[int, int] | None:
    """Root writing the file gives it to whoever owned it, else to the folder's owner (the service user):
    a root-owned 0600 file would lock the dashboard out."""
    if os.geteuid() != 0:
        return None
    for candidate in (target, target.parent):
        try:
            stat = candidate.stat()
        except OSError:
            continue
        return stat.st_uid, stat.st_gid
    return None


def write_password_file(path: str | os.PathLike[str], password: str) -> Path:
    """Hash the password and write the file atomically, mode 0600 from the start."""
    target = Path(path)
    line = hash_password(check_new_password(password)) + "\n"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        owner = _owner(target)
        temporary = target.with_name(f".{target.name}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        if owner is not None:
            os.chown(temporary, *owner)
        temporary.replace(target)
    except OSError as problem:
        raise PasswordError(f"cannot write {target}: {problem.strerror or problem}") from None
    return target


@dataclass(frozen=True)
class StoredPassword:
    line: str

    @property
    def fingerprint(self) -> str:
        """Changes when the password changes: sessions opened with the old one end."""
        return hashlib.sha256(self.line.encode()).hexdigest()[:16]

    def matches(self, password: str) -> bool:
        return verify_password(password, self.line)


class PasswordFile:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read(self) -> StoredPassword | None:
        """The stored hash, or None when there is no usable file (the login page says how to make one)."""
        try:
            line = self.path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return StoredPassword(line) if line.startswith("scrypt$") and line.count("$") == 5 else None


class TooManyAttempts(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many wrong passwords; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class LoginLimiter:
    """Wrong passwords allowed before an address waits.

    - per address: ``per_client`` wrong passwords in ``window_s``, then that address waits, even with the right
      password;
    - for the kit: once ``overall`` wrong passwords were seen in ``window_s``, every address that typed a wrong
      one in that window waits too, until the kit's count falls back. An address that typed no wrong password
      is never held back by others' guesses: a mediator is not locked out because someone else guessed, and a
      guesser that moves from address to address gets one try per address.

    Counted on the kit's clock, so that the count survives a restart (``login_failures`` in the store). Times
    ahead of now come from a clock set back since (a Pi without a battery): they are dropped, never left to
    hold everyone back until the clock catches up. A store that cannot be written (a full disk) keeps the
    count in memory and logs why: the login still answers.
    """

    def __init__(self, clock: Callable[[], float], store: Store | None = None, per_client: int = 5,
                 overall: int = 50, window_s: float = 900.0) -> None:
        self._clock = clock
        self._store = store
        self._per_client = per_client
        self._overall = overall
        self._window = window_s
        self._failures: list[tuple[float, str | None]] = []  # oldest first
        self._lock = threading.Lock()
        if store is not None:
            now = clock()
            try:
                with store.read() as db:
                    rows = db.execute("SELECT at, client FROM login_failures WHERE at > ? AND at <= ? ORDER BY at",
                                      (now - window_s, now)).fetchall()
            except StoreError as problem:
                log.warning("wrong dashboard passwords not read back, counting from zero: %s", problem)
                rows = []
            self._failures = [(row["at"], row["client"]) for row in rows]

    def check(self, client: str) -> None:
        """Raises TooManyAttempts when this address must wait before trying a password."""
        now = self._clock()
        with self._lock:
            self._trim(now)
            mine = [at for at, who in self._failures if who == client]
            waits = []
            if len(mine) >= self._per_client:
                waits.append(mine[-self._per_client] + self._window - now)
            if mine and len(self._failures) >= self._overall:
                waits.append(self._failures[-self._overall][0] + self._window - now)
        if waits:
            raise TooManyAttempts(max(1, math.ceil(max(waits))))

    def failed(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            self._trim(now)
            self._failures.append((now, client))
        self._write("DELETE FROM login_failures WHERE at <= ?", (now - self._window,),
                    "INSERT INTO login_failures (at, client) VALUES (?, ?)", (now, client))

    def succeeded(self, client: str) -> None:
        """This address knows the password: its own count goes, its wrong tries still count for the kit."""
        with self._lock:
            self._failures = [(at, None if who == client else who) for at, who in self._failures]
        self._write("UPDATE login_failures SET client = NULL WHERE client = ?", (client,))

    def _trim(self, now: float) -> None:
        self._failures = [(at, who) for at, who in self._failures if now - self._window < at <= now]

    def _write(self, *statements) -> None:
        if self._store is None:
            return
        try:
            with self._store.write() as db:
                for sql, parameters in zip(statements[::2], statements[1::2], strict=True):
                    db.execute(sql, parameters)
        except StoreError as problem:
            log.warning("wrong dashboard passwords counted in memory only: %s", problem)
