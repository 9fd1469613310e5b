"""Sessions bound to the Wi-Fi association: when a phone leaves the participants' Wi-Fi, its session ends
at once with reason ``left``, so a device copying its MAC and IP later gets nothing and the connection log
never names the departed phone for someone else's traffic.

Runs as ``kiosk network follow-hostapd`` (its own unit, as the kiosk's unprivileged user, in hostapd's
``ctrl_interface_group``); revocations reach the firewall through the privileged helper like any other.
While hostapd's socket is gone (hostapd restarting) nothing is revoked: when it is back the follower
attaches again and walks the station table, ending only the sessions whose MAC is no longer associated.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from kiosk.adapters.firewall import FirewallError
from kiosk.adapters.hostapd_control import ControlError, HostapdControl, parse_event
from kiosk.services.access import AccessService
from kiosk.store import StoreError

log = logging.getLogger("kiosk.association")

LEFT = "left"
MALFORMED_LOGGED = 10  # the first malformed lines are logged in full, then one line per thousand


class AssociationFollower:
    def __init__(self, connect: Callable[[], HostapdControl], access: AccessService,
                 retry_seconds: float = 1.0, resync_seconds: float = 15.0, ping_seconds: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._connect = connect
        self._access = access
        self._retry = retry_seconds
        self._resync = resync_seconds
        self._ping = ping_seconds
        self._monotonic = monotonic
        self._pending: set[str] = set()  # MACs whose revoke the firewall refused: retried
        self.malformed = 0
        self.messages = 0  # hostapd's messages handled, and attach attempts that failed (tests wait on them)
        self.failed_attaches = 0
        self.connected = threading.Event()  # set while attached (tests and the bench wait on it)
        self.revoked: list[tuple[str, float]] = []  # (MAC, monotonic time), the last few, for the bench
        self._control: HostapdControl | None = None

    # -- one session with hostapd -----------------------------------------------------------------

    def _attach(self) -> HostapdControl:
        control = self._connect()
        control.open()
        try:
            control.attach()
            self.catch_up(control)
        except (ControlError, StoreError, FirewallError):
            control.close()
            raise
        return control

    def catch_up(self, control: HostapdControl) -> int:
        """End the sessions whose MAC hostapd no longer has associated; returns how many ended.

        Only after a complete walk of the station table: a partial one raises ControlError first."""
        associated = control.stations()
        ended = 0
        departed = sorted({s.mac for s in self._access.open_sessions() if s.mac and s.mac not in associated})
        for mac in departed:
            ended += self._revoke(mac, "not associated when hostapd's table was read")
        return ended

    def _revoke(self, mac: str, why: str) -> int:
        try:
            ended = self._access.revoke(mac=mac, reason=LEFT)
        except FirewallError as problem:
            log.error("could not end the session of %s (%s): %s; will retry", mac, why, problem)
            self._pending.add(mac)
            return 0
        self._pending.discard(mac)
        if ended:
            self.revoked.append((mac, self._monotonic()))
            del self.revoked[:-1000]
            log.info("%s left the Wi-Fi (%s): %d session(s) ended", mac, why, ended)
        return ended

    def handle(self, message: str) -> None:
        """One unsolicited message from hostapd."""
        self.messages += 1
        event = parse_event(message)
        if event is None:
            if "AP-STA-" in message:  # a station event we could not read: say so, never guess a MAC
                self.malformed += 1
                if self.malformed <= MALFORMED_LOGGED or self.malformed % 1000 == 0:
                    log.warning("unreadable station event from hostapd (%d so far): %r", self.malformed,
                                message[:120])
            return
        if event.joined:
            # Back before a refused revoke could be retried: its session is its own again.
            self._pending.discard(event.mac)
            log.debug("%s joined the Wi-Fi", event.mac)
            return
        if not self._revoke(event.mac, "AP-STA-DISCONNECTED"):
            log.debug("%s left the Wi-Fi with no open session", event.mac)

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Follow hostapd until ``stop`` is set, reconnecting whenever its socket goes away."""
        down_logged = False
        while not stop.is_set():
            try:
                control = self._attach()
            except (ControlError, StoreError, FirewallError) as problem:
                self.failed_attaches += 1
                if not down_logged:
                    log.warning("not following the Wi-Fi for now (%s); nothing is revoked meanwhile", problem)
                    down_logged = True
                stop.wait(self._retry)
                continue
            log.info("following the Wi-Fi on %s", control.path)
            down_logged = False
            self._control = control
            self.connected.set()
            try:
                self._follow(control, stop)
            except (ControlError, StoreError) as problem:
                log.warning("lost hostapd's control socket (%s); nothing is revoked until it is back", problem)
            finally:
                self.connected.clear()
                self._control = None
                control.close()

    def _follow(self, control: HostapdControl, stop: threading.Event) -> None:
        last_heard = last_sync = last_retry = self._monotonic()
        while not stop.is_set():
            message = control.receive(timeout=0.5)
            now = self._monotonic()
            if message is not None:
                last_heard = now
                self.handle(message)
            if self._pending and now - last_retry >= self._retry:
                last_retry = now
                for mac in sorted(self._pending):
                    self._revoke(mac, "retry")
            if control.replaced():
                raise ControlError(f"{control.path} is gone or was made anew (hostapd restarting)")
            if now - last_heard >= self._ping:
                # A restarted hostapd forgets its attached clients without telling them: ask.
                if not control.ping():
                    raise ControlError("hostapd stopped answering PING")
                last_heard = now
            if now - last_sync >= self._resync:
                # hostapd drops events (and in the end the client) when our socket buffer is full:
                # attach afresh and re-read the table.
                control.request("DETACH")
                control.attach()
                self.catch_up(control)
                last_sync = now


def station_lookup(path: str, local_dir: str | None) -> Callable[[str], bool | None]:
    """For AccessService: is this MAC associated now? None when hostapd's socket does not exist (hostapd
    not running: no phone can be on the Wi-Fi to use a grant, and the follower's catch-up ends it when
    hostapd starts unless the phone is there); raises ControlError when hostapd is there but does not
    answer."""

    def associated(mac: str) -> bool | None:
        if not os.path.exists(path):
            return None
        with HostapdControl(path, local_dir) as control:
            return control.is_associated(mac)

    return associated
