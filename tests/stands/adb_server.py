"""Debian's real adb server for a test: in the foreground (`nodaemon`), on a free port, with its own HOME
(so its key goes into the test's folder, not ~/.android), stopped by its PID."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


class AdbServerStand:
    def __init__(self, directory: Path, adb: str | None = None):
        self.directory = directory
        self.adb_path = adb or shutil.which("adb") or "adb"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.directory), "ANDROID_ADB_SERVER_PORT": str(self.port)}

    def start(self, timeout: float = 20.0) -> AdbServerStand:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "adb-server.log").open("ab")
        self.process = subprocess.Popen([self.adb_path, "-P", str(self.port), "nodaemon", "server"], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"adb server exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"adb server did not listen on {self.port}: {self.log()}")

    def adb(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run Debian's adb client against this server."""
        return subprocess.run([self.adb_path, "-P", str(self.port), *args], capture_output=True, text=True,
                              timeout=timeout, check=False, env=self.env)

    def log(self) -> str:
        path = self.directory / "adb-server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
