"""Helpers for tests that need real system parts: under CI=true a missing part fails the test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parents[2]


def unavailable(reason: str) -> None:
    """Fail under CI (a system test that cannot run is a failure there), skip on a developer's machine."""
    if IN_CI:
        pytest.fail(f"system test cannot run in CI: {reason}")
    pytest.skip(reason)


def need_binary(name: str, *fallbacks: str) -> str:
    for candidate in (name, *fallbacks):
        found = shutil.which(candidate)
        if found:
            return found
    unavailable(f"{name} is not installed (the test command installs it with apt-get as root)")
    raise AssertionError("unreachable")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, deadline_s: float = 20.0) -> None:
    """Wait until something listens on 127.0.0.1:port, or fail with the process's output."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"server exited with {process.returncode}:\n{output}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listened on port {port} within {deadline_s} s")


def kiosk_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "kiosk", *args]


def stop(process: subprocess.Popen) -> str:
    """Stop a process this test started, by its PID, and return what it printed."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.stdout.read() if process.stdout else ""
