"""``kiosk serve`` as a service manager sees it: the portal's worker process (granian) is replaced if it dies,
and SIGTERM stops everything it started, leaving no process behind."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.system import free_port, kiosk_command, stop, wait_for_port


def _config(tmp_path: Path, portal: int, dashboard: int) -> Path:
    (tmp_path / "leases").touch()
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "kiosk.db"}"\n'
                      f'[portal]\nlisten = "127.0.0.1:{portal}"\npublic_url = "http://127.0.0.1:{portal}/"\n'
                      f'[dashboard]\nlisten = "127.0.0.1:{dashboard}"\n'
                      f'[network]\ndhcp_leases = "{tmp_path / "leases"}"\n[uplink]\ncheck_enabled = false\n')
    return config


def _status(port: int, path: str, host: str | None = None) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def _until(check, seconds: float = 30.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return ") Z " in status  # a zombie has stopped; its parent has not reaped it yet


def test_a_dead_portal_worker_is_replaced_and_sigterm_leaves_nothing_running(tmp_path):
    portal, dashboard = free_port(), free_port()
    process = subprocess.Popen(kiosk_command("--config", str(_config(tmp_path, portal, dashboard)), "serve"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        wait_for_port(portal, process)
        assert _until(lambda: _status(portal, "/generate_204", "connectivitycheck.gstatic.com")) == 302
        assert _status(dashboard, "/login") == 200
        first = _until(lambda: _children(process.pid))
        os.kill(first[0], signal.SIGKILL)  # the worker dies as a crash would end it
        second = _until(lambda: [pid for pid in _children(process.pid) if pid not in first])
        assert _until(lambda: _status(portal, "/", None) == 200)  # a phone gets the landing page again
        assert _until(lambda: _status(dashboard, "/login") == 200)  # and the mediator the dashboard

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert _until(lambda: all(_gone(pid) for pid in second), 10)
        assert _status(portal, "/") is None and _status(dashboard, "/login") is None
    finally:
        print(stop(process))
