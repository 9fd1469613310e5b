"""The narrow privileged path. The web process is not root; a small helper that is (started by systemd as
`kiosk privileged serve`) changes the firewall for it over a Unix socket, and sets the clock.

The helper knows seven firewall operations — grant, revoke, counters, quotas, reconcile, set_month_cap and
month_cap — whose arguments are checked (MAC and IPv4 formats, LAN addresses only, bounded timeouts and byte
budgets) before they become nft set elements and quota objects, and
``set_clock``, which takes one epoch checked against sane bounds (kiosk.adapters.clock). There is no way to
pass a command, a path or raw nft text, and only the users named at start may connect (checked with
SO_PEERCRED).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path

from kiosk.adapters.clock import ClockError, check_epoch, set_system_clock
from kiosk.adapters.firewall import Client, FirewallError, Grant, QuotaReading
from kiosk.adapters.nftables import MAX_QUOTA_BYTES, NftablesFirewall

log = logging.getLogger("kiosk.privileged")
MAX_REQUEST_BYTES = 1 << 20
REQUEST_SECONDS = 10
OPERATIONS = ("grant", "revoke", "counters", "quotas", "reconcile", "set_month_cap", "month_cap", "set_clock")
ClockSetter = Callable[[float], None]


class RequestError(Exception):
    """A request the helper refuses; the message goes back to the caller."""


def _client(data: object) -> Client:
    if not isinstance(data, dict) or set(data) - {"ip", "mac"}:
        raise RequestError("a client is {ip, mac}")
    ip, mac = data.get("ip"), data.get("mac")
    if not all(value is None or isinstance(value, str) for value in (ip, mac)) or (ip is None and mac is None):
        raise RequestError("a client needs an IP or a MAC address as text")
    return Client(ip, mac)


def _grant(data: object) -> Grant:
    if not isinstance(data, dict) or set(data) - {"ip", "mac", "expires_at", "quota_bytes"}:
        raise RequestError("a grant is {ip, mac, expires_at, quota_bytes}")
    expires_at = data.get("expires_at")
    if expires_at is not None and (not isinstance(expires_at, int) or isinstance(expires_at, bool)):
        raise RequestError("expires_at must be an integer or null")
    budget = data.get("quota_bytes")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool)
                               or not 1 <= budget <= MAX_QUOTA_BYTES):
        raise RequestError(f"quota_bytes must be a whole number of bytes from 1 to {MAX_QUOTA_BYTES}, or null")
    return Grant(_client({key: data.get(key) for key in ("ip", "mac")}), expires_at, budget)


def _month_budget(data: object) -> int | None:
    budget = data.get("bytes") if isinstance(data, dict) and set(data) == {"bytes"} else False
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool)
                               or not 1 <= budget <= MAX_QUOTA_BYTES):
        raise RequestError(f"set_month_cap takes {{bytes}}: a whole number of bytes from 1 to {MAX_QUOTA_BYTES}, "
                           "or null for no cap")
    return budget


def _epoch(data: object) -> float:
    if not isinstance(data, dict) or set(data) != {"epoch"}:
        raise RequestError("set_clock takes {epoch}")
    try:
        return check_epoch(data["epoch"])
    except ValueError as problem:
        raise RequestError(str(problem)) from None


def handle(firewall: NftablesFirewall, request: object, set_clock: ClockSetter = set_system_clock) -> object:
    """Carry out one checked request; raises RequestError, FirewallError or ClockError."""
    if not isinstance(request, dict) or request.get("op") not in OPERATIONS:
        raise RequestError(f"unknown operation; known: {', '.join(OPERATIONS)}")
    op = request["op"]
    if set(request) - {"op", "args"}:
        raise RequestError("a request is {op, args}")
    args = request.get("args")
    if op == "set_clock":
        epoch = _epoch(args)
        set_clock(epoch)
        log.info("clock set to %.3f", epoch)
        return None
    if op == "grant":
        firewall.grant(_grant(args))
        return None
    if op == "revoke":
        firewall.revoke(_client(args))
        return None
    if op == "counters":
        return [[client.ip, client.mac, count] for client, count in firewall.counters().items()]
    if op == "quotas":
        return [[ip, reading.used, reading.budget] for ip, reading in firewall.quotas().items()]
    if op == "set_month_cap":
        firewall.set_month_cap(_month_budget(args))
        return None
    if op == "month_cap":
        reading = firewall.month_cap()
        return None if reading is None else [reading.used, reading.budget]
    if not isinstance(args, list) or len(args) > 10_000:
        raise RequestError("reconcile takes a list of at most 10000 grants")
    firewall.reconcile([_grant(item) for item in args])
    return None


def peer_uid(connection: socket.socket) -> int:
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1]


def _read_line(connection: socket.socket, seconds: float = REQUEST_SECONDS) -> bytes:
    """One request line within ``seconds`` in all: a caller dripping bytes cannot hold the helper."""
    deadline = time.monotonic() + seconds
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RequestError("request too slow")
        connection.settimeout(remaining)
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            raise RequestError("request too slow") from None
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise RequestError("request too large")
    return data


class PrivilegedServer:
    """One request per connection, one at a time: firewall changes are short and must not interleave."""

    def __init__(self, socket_path: str | Path, firewall: NftablesFirewall, allowed_uids: set[int],
                 socket_mode: int = 0o660, set_clock: ClockSetter = set_system_clock) -> None:
        self._path = Path(socket_path)
        self._firewall = firewall
        self._set_clock = set_clock
        self._allowed = allowed_uids | {0}
        self._mode = socket_mode
        self._listener: socket.socket | None = None

    def bind(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if self._path.is_socket():
            self._path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self._path))
        os.chmod(self._path, self._mode)
        listener.listen(16)
        self._listener = listener

    def serve_one(self) -> None:
        if self._listener is None:
            self.bind()
        connection, _ = self._listener.accept()
        with connection:
            connection.settimeout(10)
            try:
                uid = peer_uid(connection)
                if uid not in self._allowed:
                    # Read its request first (briefly): closing on a caller still writing gives it a broken
                    # pipe instead of the reason it was refused.
                    with contextlib.suppress(OSError, RequestError):
                        _read_line(connection, seconds=2)
                    raise RequestError(f"user {uid} may not change the firewall")
                request = json.loads(_read_line(connection) or b"null")
                reply = {"ok": True, "result": handle(self._firewall, request, self._set_clock)}
            except (RequestError, FirewallError, ClockError, ValueError) as problem:
                log.warning("refused: %s", problem)
                reply = {"ok": False, "error": str(problem)}
            except OSError as problem:
                log.warning("connection failed: %s", problem)
                return
            except Exception as problem:  # a malformed request (deeply nested JSON…) must not stop the helper
                log.warning("refused a request that could not be read: %s", problem)
                reply = {"ok": False, "error": "unreadable request"}
            with contextlib.suppress(OSError):  # the caller went away: nothing to tell it
                connection.sendall(json.dumps(reply).encode() + b"\n")

    def serve_forever(self) -> None:
        if self._listener is None:
            self.bind()
        log.info("privileged helper listening on %s", self._path)
        while True:
            self.serve_one()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._path.unlink(missing_ok=True)


class PrivilegedFirewall:
    """The firewall port for the unprivileged web process: each call is one request to the helper."""

    name = "nftables"
    counts_traffic = True

    def __init__(self, socket_path: str | Path, timeout_s: float = 15.0) -> None:
        self._path = str(socket_path)
        self._timeout = timeout_s

    def _call(self, op: str, args: object = None) -> object:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(self._timeout)
                connection.connect(self._path)
                connection.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
                reply = json.loads(_read_line(connection) or b"null")
        except (OSError, ValueError) as problem:
            raise FirewallError(f"the privileged helper at {self._path} did not answer ({problem}); "
                                "is `kiosk privileged serve` running as root?") from None
        if not isinstance(reply, dict) or not reply.get("ok"):
            raise FirewallError(str(reply.get("error") if isinstance(reply, dict) else "bad reply"))
        return reply.get("result")

    def grant(self, grant: Grant) -> None:
        self._call("grant", _grant_args(grant))

    def revoke(self, client: Client) -> None:
        self._call("revoke", {"ip": client.ip, "mac": client.mac})

    def counters(self) -> dict[Client, int]:
        result = self._call("counters") or []
        return {Client(ip, mac): int(count) for ip, mac, count in result}

    def quotas(self) -> dict[str, QuotaReading]:
        result = self._call("quotas") or []
        return {ip: QuotaReading(int(used), int(budget)) for ip, used, budget in result}

    def reconcile(self, grants: list[Grant]) -> None:
        self._call("reconcile", [_grant_args(grant) for grant in grants])

    def set_month_cap(self, budget: int | None) -> None:
        self._call("set_month_cap", {"bytes": budget})

    def month_cap(self) -> QuotaReading | None:
        result = self._call("month_cap")
        return None if result is None else QuotaReading(int(result[0]), int(result[1]))


def _grant_args(grant: Grant) -> dict[str, object]:
    return {"ip": grant.client.ip, "mac": grant.client.mac, "expires_at": grant.expires_at,
            "quota_bytes": grant.quota_bytes}


class PrivilegedClock:
    """Sets the clock for the unprivileged web process: one ``set_clock`` request to the helper."""

    def __init__(self, socket_path: str | Path, timeout_s: float = 15.0) -> None:
        self._helper = PrivilegedFirewall(socket_path, timeout_s)

    def __call__(self, epoch: float) -> None:
        try:
            self._helper._call("set_clock", {"epoch": check_epoch(epoch)})
        except (FirewallError, ValueError) as problem:
            raise ClockError(str(problem)) from None
