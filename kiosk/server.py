"""``kiosk serve``: both listeners in one waitress process, plus the periodic access checks."""

from __future__ import annotations

import logging
import signal
import threading

from waitress.server import create_server

from kiosk.listeners import bind_listener
from kiosk.services import connections, survey
from kiosk.web.app import Apps

log = logging.getLogger("kiosk.serve")
USAGE_EVERY_S = 60  # WAN counters: once a minute is enough for daily totals and spares the SD card


class Housekeeper(threading.Thread):
    """Ends expired, idle and over-quota sessions every ``access.check_seconds``; purges old logs daily."""

    def __init__(self, apps: Apps) -> None:
        super().__init__(name="kiosk-housekeeper", daemon=True)
        self._kit = apps.kit
        dashboard = apps.dashboard.extensions.get("kiosk.dashboard")
        self._clock = getattr(dashboard, "clock", None)
        self._stop = threading.Event()

    def run(self) -> None:
        interval = self._kit.settings.access.check_seconds
        next_purge = next_usage = 0.0
        while not self._stop.wait(interval):
            try:
                if self._clock is not None:
                    self._clock.reconcile()  # a clock step (NTP, the modem) shifts this boot's records first
                ended = self._kit.access.sweep()
                if any(ended.values()):
                    log.info("sessions ended: %s", ended)
                now = self._kit.adapters.clock()
                if now >= next_usage:
                    self._kit.uplink.record_usage()
                    next_usage = now + USAGE_EVERY_S
                if now >= next_purge:
                    purged = connections.purge(self._kit.store, now, self._kit.settings.connections.retention_days)
                    if purged:
                        log.info("connection log: %d old session(s) purged", purged)
                    survey_purged = survey.purge(self._kit.store, now, self._kit.settings)
                    if any(survey_purged.values()):
                        log.info("questionnaire data purged: %s", survey_purged)
                    next_purge = now + 86_400
            except Exception:  # a failed round must not stop the next one
                log.exception("housekeeping round failed")

    def stop(self) -> None:
        self._stop.set()


def serve(apps: Apps) -> None:
    settings = apps.kit.settings
    granted = apps.kit.access.reconcile()
    log.info("firewall %s reconciled with %d grant(s)", apps.kit.adapters.firewall.name, granted)
    socket_map: dict = {}
    portal = create_server(apps.portal, map=socket_map, sockets=[bind_listener(settings.portal.listen)],
                           threads=settings.portal.threads, ident="kiosk", clear_untrusted_proxy_headers=True)
    dashboard = create_server(apps.dashboard, map=socket_map, sockets=[bind_listener(settings.dashboard.listen)],
                              threads=2, ident="kiosk", clear_untrusted_proxy_headers=True)
    housekeeper = Housekeeper(apps)
    housekeeper.start()

    def stop(signum, _frame) -> None:
        log.info("signal %d: stopping", signum)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"kiosk: portal on {settings.portal.listen}, dashboard on {settings.dashboard.listen} "
          f"(firewall: {apps.kit.adapters.firewall.name}, store: {apps.kit.store.path})", flush=True)
    try:
        portal.run()  # the shared socket map makes this loop serve the dashboard too
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        housekeeper.stop()
        portal.close()
        dashboard.close()
