"""``kiosk serve``: the portal on granian, with the dashboard and the periodic access checks beside it.

The portal is what every phone that joins hammers (OS probes, the landing page), so it runs on granian, whose
HTTP side is written in Rust: bench/portal.py measured it several times faster than waitress on one core.
This process builds the apps (a bad settings or questionnaire file stops it here, before anything listens),
reconciles the firewall, then becomes granian's supervisor: granian forks one worker, which inherits the
built apps, serves the portal on ``portal.threads`` threads and also runs the dashboard (waitress: few
requests, and its listener must bind to the staff address before that network exists, see kiosk.listeners)
and the housekeeper. The supervisor starts no thread of its own before the fork, and closes its store
connection, so the worker inherits no lock and no SQLite connection in use. If the worker dies, granian
starts another; SIGTERM stops both.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import threading
from collections.abc import Callable
from functools import partial

from waitress.server import create_server

from kiosk.listeners import bind_listener, split_listen
from kiosk.services import connections
from kiosk.services.survey import visits as survey
from kiosk.settings import Settings
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


def portal_server(settings: Settings):
    """granian for the portal's listener: one worker process, ``portal.threads`` threads running the app."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces

    host, port = split_listen(settings.portal.listen)
    bind_listener(settings.portal.listen).close()  # a clear sentence now for an address or port that cannot be used
    return Granian(
        target="kiosk.server",  # only named in granian's log lines: the worker's app comes from the loader
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=1,
        blocking_threads=settings.portal.threads,
        http=HTTPModes.http1,
        websockets=False,
        backlog=1024,
        respawn_failed_workers=True,
        log_access=False,
    )


def _start_worker(apps: Apps) -> Callable:
    """In granian's worker, once forked: the dashboard and the housekeeper start here, then the portal."""
    settings = apps.kit.settings
    dashboard = create_server(apps.dashboard, sockets=[bind_listener(settings.dashboard.listen)], threads=2,
                              ident="kiosk", clear_untrusted_proxy_headers=True)
    threading.Thread(target=dashboard.run, name="kiosk-dashboard", daemon=True).start()
    Housekeeper(apps).start()
    return apps.portal


def serve(apps: Apps) -> None:
    settings = apps.kit.settings
    granted = apps.kit.access.reconcile()
    log.info("firewall %s reconciled with %d grant(s)", apps.kit.adapters.firewall.name, granted)
    portal = portal_server(settings)
    bind_listener(settings.dashboard.listen).close()
    apps.kit.store.close()  # the worker opens its own connections
    multiprocessing.set_start_method("fork", force=True)  # Python 3.14 would pick forkserver: see above
    # The worker shares the built apps' memory with this process until a page is written; the collector
    # walking objects the worker will never free would copy them all, so they are kept out of its sight.
    gc.collect()
    gc.freeze()
    print(f"kiosk: portal on {settings.portal.listen}, dashboard on {settings.dashboard.listen} "
          f"(firewall: {apps.kit.adapters.firewall.name}, store: {apps.kit.store.path})", flush=True)
    portal.serve(target_loader=partial(_start_worker, apps), wrap_loader=False)  # until SIGTERM or SIGINT
