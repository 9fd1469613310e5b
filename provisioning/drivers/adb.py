"""Android tablets through the kit's local adb server (Debian's `adb`), spoken to with adbutils.

adbutils talks the adb server's smart-socket protocol (``host:connect:``, ``host:devices``, ``shell:``);
Debian's binary is the server. One guard: adbutils starts *its own bundled* adb on the default port when
no server answers; the kit instead starts Debian's adb on ``tablets.adb_server_port`` and never lets
adbutils start anything.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import subprocess
import time
from dataclasses import dataclass

import adbutils
from adbutils.errors import AdbError

from provisioning.errors import StepFailed, StepTimeout, Unreachable

log = logging.getLogger(__name__)

STATUS_MARK = "__TK_STATUS="
ATTACH_WAIT = 5.0  # for a tablet to show up as "device" (just plugged in, or just connected over TCP)
_STATUS_TAIL = re.compile(rb"__TK_STATUS=(\d+)\s*$")


class _Connection(adbutils.AdbConnection):
    def _safe_connect(self) -> socket.socket:
        return self._create_socket()  # never auto-start a server (adbutils would start its bundled adb)

    def close(self) -> None:
        # adbutils sleeps 10 ms here; every exchange the kit makes is read to its end, so close at once.
        with contextlib.suppress(AdbError):
            self.conn.close()  # closing a closed socket again is harmless


class _Client(adbutils.AdbClient):
    _version: int | None = None

    def make_connection(self, timeout: float | None = None) -> adbutils.AdbConnection:
        connection = _Connection(self.host, self.port)
        if timeout:
            connection.conn.settimeout(timeout)
        return connection

    def server_version(self) -> int:
        # adbutils asks before every shell; one server answers the same for the life of this client.
        if self._version is None:
            self._version = super().server_version()
        return self._version


@dataclass(frozen=True)
class ShellResult:
    status: int
    output: str


class AdbServer:
    """The kit's adb server on 127.0.0.1:port, started with Debian's `adb` when it is not running."""

    def __init__(self, adb: str = "adb", port: int = 5037, host: str = "127.0.0.1"):
        self.adb = adb
        self.port = port
        self.host = host

    def answering(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def ensure_running(self, timeout: float = 30.0) -> None:
        if self.answering():
            return
        try:
            done = subprocess.run([self.adb, "-P", str(self.port), "start-server"], capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except FileNotFoundError:
            raise Unreachable(f"adb is not installed ({self.adb}): apt-get install adb") from None
        except subprocess.TimeoutExpired:
            raise Unreachable(f"the adb server did not start within {timeout:g} s") from None
        if done.returncode != 0 or not self.answering():
            raise Unreachable(f"the adb server did not start on port {self.port}: {done.stderr.strip()[-200:]}")

    def client(self) -> adbutils.AdbClient:
        return _Client(self.host, self.port)


class AndroidShell:
    """One Android tablet, by USB serial or by "host:port" (ADB over TCP, reconnected when needed)."""

    def __init__(self, server: AdbServer, serial: str | None = None, address: str | None = None):
        if not serial and not address:
            raise ValueError("serial or address")
        self.server = server
        self.address = address
        self.serial = serial or address
        self.client = server.client()

    def state(self) -> str | None:
        try:
            for info in self.client.list():
                if info.serial == self.serial:
                    return info.state
        except (AdbError, OSError) as problem:
            raise Unreachable(f"the kit's adb server does not answer ({problem})") from None
        return None

    def attach(self, timeout: float = 15.0) -> None:
        """Make sure the tablet is there and authorized; reconnect an ADB-over-TCP tablet."""
        self.server.ensure_running()
        state = self.state()
        if self.address and state != "device":
            try:
                if state is not None:
                    self.client.disconnect(self.address)
                answer = self.client.connect(self.address, timeout=timeout)
            except (AdbError, OSError) as problem:
                raise Unreachable(f"cannot connect to {self.address} ({problem})") from None
            if "connected to" not in answer:
                raise Unreachable(f"cannot connect to {self.address}: {answer.strip()}")
        deadline = time.monotonic() + min(timeout, ATTACH_WAIT)
        while True:
            state = self.state()
            if state == "device":
                return
            if state == "unauthorized":
                raise StepFailed("the tablet has not authorized this kit: unlock it and accept the "
                                 "'Allow USB debugging' prompt, ticking 'Always allow'")
            if time.monotonic() >= deadline:
                where = self.address or f"USB serial {self.serial}"
                raise Unreachable(f"the tablet is not connected ({where}: {state or 'not seen'})")
            time.sleep(0.1)

    def run(self, command: str, timeout: float, label: str = "a command") -> ShellResult:
        """Run through the `shell:` service with a hard deadline; the exit status is echoed after the command
        (the legacy shell protocol carries none)."""
        deadline = time.monotonic() + timeout
        try:
            connection = self.client.device(self.serial).open_shell(f"{command}; echo {STATUS_MARK}$?")
        except (AdbError, OSError, EOFError) as problem:
            raise Unreachable(f"the tablet went away before {label} ({problem})") from None
        output = bytearray()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StepTimeout(f"timed out after {timeout:g} s while {label}")
                connection.conn.settimeout(remaining)
                try:
                    chunk = connection.conn.recv(1 << 16)
                except TimeoutError:
                    raise StepTimeout(f"timed out after {timeout:g} s while {label}") from None
                except OSError as problem:
                    raise Unreachable(f"the tablet went away while {label} ({problem})") from None
                if not chunk:
                    break
                output += chunk
        finally:
            connection.close()
        found = _STATUS_TAIL.search(bytes(output))
        if found is None:
            raise Unreachable(f"the tablet went away while {label}")
        text = bytes(output[:found.start()]).decode("utf-8", "replace").replace("\r\n", "\n")
        return ShellResult(int(found.group(1)), text)
