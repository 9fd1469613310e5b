"""SSH to Linux tablets with paramiko: the pinned host key or nothing, every command under a deadline.

Host keys: the key is fetched and shown at enrollment, pinned once a person confirms it, and from then on
the client holds exactly that key with a policy that refuses anything else (never AutoAddPolicy). The
kit's own key (``tablets.ssh_key``) is an Ed25519 key made on the kit the first time it is needed.
"""

from __future__ import annotations

import base64
import logging
import os
import select
import shlex
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from provisioning.errors import DeviceProblem, HostKeyRefused, StepFailed, StepTimeout, Unreachable, explain_failure
from provisioning.inventory import PinnedKey

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 15.0


@dataclass(frozen=True)
class Completed:
    status: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "surrogateescape")


def pinned(key: paramiko.PKey) -> PinnedKey:
    return PinnedKey(key.get_name(), key.get_base64(), key.fingerprint)


def key_from_pin(pin: PinnedKey) -> paramiko.PKey:
    return paramiko.PKey.from_type_string(pin.key_type, base64.b64decode(pin.key_base64))


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def split_address(address: str, default_port: int = 22) -> tuple[str, int]:
    """"host", "host:port" or "[v6]:port"."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if address.count(":") == 1:
        host, port = address.split(":")
        return host, int(port)
    return address, default_port


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- the kit's own key ----------------------------------------------------------------------------------
def load_or_create_kit_key(path: str | os.PathLike[str]) -> paramiko.PKey:
    """The kit's Ed25519 key, made on first use with mode 0600 (never shipped, never committed)."""
    path = Path(path)
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        path.parent.mkdir(parents=True, exist_ok=True)
        private = Ed25519PrivateKey.generate()
        data = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                     serialization.NoEncryption())
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        path.with_name(path.name + ".pub").write_text(f"{public.decode()} {PUBLIC_KEY_COMMENT}\n")
        log.info("made the kit's SSH key %s", path)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


PUBLIC_KEY_COMMENT = "triporteur-kit"


def public_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()} {PUBLIC_KEY_COMMENT}"


# --- connecting -----------------------------------------------------------------------------------------
def fetch_host_key(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> paramiko.PKey:
    """The key the server presents, without logging in: shown to a person before anything is pinned."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as problem:
        raise Unreachable(f"cannot reach {join_address(host, port)}: {problem.strerror or problem}") from None
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, EOFError, OSError) as problem:
        raise Unreachable(f"no SSH server answered at {join_address(host, port)} ({problem})") from None
    finally:
        transport.close()


class _RefuseUnpinned(paramiko.RejectPolicy):
    """RejectPolicy that says which key was offered: a key of another type than the pinned one is a change."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyRefused(f"the tablet presented an unknown host key ({key.get_name()} {key.fingerprint}): "
                             "refused; if the laptop was reinstalled, enroll it again")


def connect(host: str, port: int, user: str, host_key: paramiko.PKey, *, pkey: paramiko.PKey | None = None,
            password: str | None = None, timeout: float = CONNECT_TIMEOUT) -> SshSession:
    """Log in, trusting exactly `host_key`; problems become DeviceProblems (Unreachable is retryable)."""
    client = paramiko.SSHClient()
    client.get_host_keys().add(known_hosts_name(host, port), host_key.get_name(), host_key)
    client.set_missing_host_key_policy(_RefuseUnpinned())
    sock: socket.socket | None = None
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
        # Without it every command waits for a delayed ACK (~40 ms): paramiko writes small packets back to back.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.connect(host, port, username=user, pkey=pkey, password=password, timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout,
                       allow_agent=False, look_for_keys=False, sock=sock)
    except DeviceProblem:
        _close(client, sock)
        raise
    except paramiko.BadHostKeyException as problem:
        _close(client, sock)
        raise HostKeyRefused(f"the tablet's host key CHANGED (pinned {host_key.fingerprint}, offered "
                             f"{problem.key.fingerprint}): refused; if the laptop was reinstalled, enroll it "
                             "again") from None
    except paramiko.AuthenticationException:
        _close(client, sock)
        raise StepFailed(f"{user}@{join_address(host, port)} refused the kit's key: enroll the tablet again") from None
    except (paramiko.SSHException, EOFError, OSError) as problem:
        _close(client, sock)
        detail = getattr(problem, "strerror", None) or str(problem) or type(problem).__name__
        raise Unreachable(f"cannot connect to {join_address(host, port)}: {detail}") from None
    return SshSession(client, sudo=user != "root")


def _close(client: paramiko.SSHClient, sock: socket.socket | None) -> None:
    client.close()
    if sock is not None:
        sock.close()


class SshSession:
    """One SSH connection to a tablet; `run` executes a POSIX sh script as root (through sudo -n if needed)."""

    def __init__(self, client: paramiko.SSHClient, sudo: bool = False):
        self.client = client
        self.sudo = sudo

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def command_line(self, script: str) -> str:
        line = f"sh -c {shlex.quote(script)}"
        return f"sudo -n {line}" if self.sudo else line

    def run(self, script: str, timeout: float, label: str = "a command") -> Completed:
        """Run and collect output; a hard deadline (not a per-read timeout) bounds the whole command."""
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise Unreachable(f"the connection was lost before {label}")
        deadline = time.monotonic() + timeout
        try:
            channel = transport.open_session(timeout=timeout)
            channel.exec_command(self.command_line(script))
            channel.shutdown_write()
        except (paramiko.SSHException, EOFError, OSError) as problem:
            raise Unreachable(f"the connection was lost while {label} ({problem or type(problem).__name__})") from None
        stdout, stderr = bytearray(), bytearray()
        try:
            while True:
                while channel.recv_ready():
                    stdout += channel.recv(1 << 16)
                while channel.recv_stderr_ready():
                    stderr += channel.recv_stderr(1 << 16)
                if channel.status_event.is_set() and not channel.recv_ready() and not channel.recv_stderr_ready():
                    # status_event is also set when a dropped connection closes the channel (no exit status).
                    if channel.exit_status == -1 and not transport.is_active():
                        raise Unreachable(f"the connection dropped while {label}")
                    return Completed(channel.exit_status, bytes(stdout), bytes(stderr))
                if not transport.is_active():
                    raise Unreachable(f"the connection dropped while {label}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StepTimeout(f"timed out after {timeout:g} s while {label}")
                if channel.eof_received:
                    channel.status_event.wait(min(remaining, 0.25))  # the pipe stays readable after EOF
                else:
                    select.select([channel], [], [], min(remaining, 0.25))
        except OSError as problem:
            raise Unreachable(f"the connection dropped while {label} ({problem})") from None
        finally:
            channel.close()

    def check(self, script: str, timeout: float, label: str) -> Completed:
        """Run, and raise a reason without the device's own words when the command fails."""
        done = self.run(script, timeout, label)
        if done.status != 0:
            error = done.stderr.decode("utf-8", "replace")
            log.debug("%s: exit status %s: %s", label, done.status, error.strip())
            raise explain_failure(label, done.status, error)
        return done
