"""Benchmark part: the time from a phone's disassociation event to its session's revoke.

Run through ``bench/network.py --departures N``. The stand-in for hostapd's control socket
(tests/stands/hostapd_ctrl.py) sends ``<3>AP-STA-DISCONNECTED <mac>`` for a granted phone; the follower
(kiosk.services.association, as ``kiosk network follow-hostapd`` runs it) reads it and ends the session
through AccessService on a real SQLite store (the ``none`` firewall backend: the nft revoke itself is what
the grant and revoke cost figure of bench/network.py measures). One departure at a time, each timed
from just before the event is sent to the moment the session is recorded as ended.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from kiosk.adapters.hostapd_control import HostapdControl
from kiosk.runtime import Adapters, Kit
from kiosk.services.association import AssociationFollower
from kiosk.settings import defaults
from tests.stands.hostapd_ctrl import HostapdCtrlStand

TARGET_REVOKE_S = 1.0
MAX_DEPARTURES = 10_000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure_departures(count: int) -> list[float]:
    """Seconds from each disassociation event to its revoke, for ``count`` phones leaving one by one."""
    count = max(1, min(count, MAX_DEPARTURES))
    folder = tempfile.mkdtemp(prefix="bench-hapd-", dir="/tmp")
    try:
        socket_path = os.path.join(folder, "wlan0")
        settings = defaults().replace(store__path=str(Path(folder) / "kiosk.db"),
                                      network__hostapd_control=socket_path, network__hostapd_client_dir=folder)
        stand = HostapdCtrlStand(socket_path)
        stand.start()
        kit = Kit.open(settings, Adapters())
        follower = AssociationFollower(lambda: HostapdControl(socket_path, folder), kit.access)
        stop = threading.Event()
        thread = threading.Thread(target=follower.run, args=(stop,), daemon=True)
        thread.start()
        try:
            if not follower.connected.wait(5):
                raise RuntimeError("the follower did not attach to the hostapd stand-in")
            samples = []
            for n in range(count):
                mac = f"5a:00:00:{n // 65536:02x}:{n // 256 % 256:02x}:{n % 256:02x}"
                stand.associate(mac, event=False)
                kit.access.grant(f"10.42.{n // 200 % 200}.{20 + n % 200}", mac, "fr")
                before = len(follower.revoked)
                sent = time.monotonic()
                stand.disassociate(mac)
                deadline = sent + 10
                while len(follower.revoked) == before and time.monotonic() < deadline:
                    time.sleep(0.0005)
                if len(follower.revoked) == before:
                    raise RuntimeError(f"{mac} left and was not revoked within 10 s")
                samples.append(follower.revoked[-1][1] - sent)
            return samples
        finally:
            stop.set()
            thread.join(5)
            stand.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report_departures(samples: list[float]) -> float:
    """Print the figures; returns the p95 in seconds."""
    p95 = percentile(samples, 0.95)
    print(f"disassociation to revoke, {len(samples)} departures (hostapd stand-in, none firewall backend):")
    print(f"  median {statistics.median(samples) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
          f"max {max(samples) * 1000:.1f} ms  (goal ≤ {TARGET_REVOKE_S:g} s: "
          f"{'met' if p95 <= TARGET_REVOKE_S else 'NOT met'})")
    return p95
