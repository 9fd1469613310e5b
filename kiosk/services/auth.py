"""The mediators' dashboard password and login attempts.

The password file (``dashboard.password_file``) holds one line, the same format first-boot provisioning
writes (playbooks/roles/kit_secrets/files/triporteur-secrets)::

    scrypt$N$r$p$SALT_HEX$HASH_HEX      e.g. scrypt$16384$8$1$<32 hex digits>$<64 hex digits>

hashlib.scrypt with a random 16-byte salt and a 32-byte hash; the file is written atomically with mode
0600, readable by the service user only. The password itself is never stored.

Login attempts are limited in memory per client address (and for the whole kit): the dashboard is one
process, a restart (which an attacker on the staff network cannot cause) only resets the counters, and
nothing is written to the SD card for each wrong guess. Each guess also costs an scrypt computation.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk.services.ratelimit import FailureLimiter

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


class LoginLimiter(FailureLimiter):
    """At most ``per_client`` failed logins per address and ``overall`` for the kit in ``window_s``.

    Counted on a monotonic clock: setting the kit's clock neither lifts nor prolongs a block.
    """

    def __init__(self, per_client: int = 5, overall: int = 50, window_s: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(per_client, overall, window_s, clock)
