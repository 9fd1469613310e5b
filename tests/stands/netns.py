"""End-to-end network stand-in for "Pi ↔ phones ↔ 4G uplink", built from network namespaces.

    phone A ─ eth0 ═╗
    phone B ─ eth0 ═╬═ lan0 (bridge, 10.42.0.1/24)  [kit]  wan0 198.51.100.2 ══ uplink0 198.51.100.1  [internet]
                    ║   ports ph-<name>, isolable                                  lo: 198.51.100.10 (server)
    mediator ─ eth0 ═══ staff0 (10.42.1.1/24 once set)                                     198.51.100.53 (resolver)

Everything lives in namespaces named `<prefix>-<pid>-<random>-<role>`; no interface is ever created in the
host's namespace (each veth is created directly between two of our namespaces), no host sysctl is written,
and each namespace gets its own `/etc/netns/NAME/resolv.conf` before anything runs in it. The kit has no
firewall: the lead loads the kit's nftables into `topology.kit`.

This file is also run as a script *inside* a namespace (`python -I netns.py probe '{json}'`) so that the
probes execute with the namespace's network stack; keep its imports to the standard library.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import errno
import http.client
import ipaddress
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, TypeVar

HERE = Path(__file__).resolve().parent
NETNS_ETC = Path("/etc/netns")

KIT_LAN_IP = "10.42.0.1"
KIT_LAN_PREFIX = 24
KIT_LAN_IP6 = "2001:db8:42::1"
KIT_LAN_MAC = "02:00:0a:2a:00:01"  # fixed: a bridge otherwise takes its ports' MACs and changes as phones join
KIT_WAN_IP = "198.51.100.2"
KIT_WAN_IP6 = "2001:db8:100::2"
UPLINK_IP = "198.51.100.1"
UPLINK_IP6 = "2001:db8:100::1"
PUBLIC_SERVER = "198.51.100.10"
PUBLIC_SERVER6 = "2001:db8:200::10"  # routed, not on the uplink's /64: IPv6 only answers ND on its own link
PUBLIC_RESOLVER = "198.51.100.53"
KIT_STAFF_IP = "10.42.1.1"  # the kit on the mediators' network (its address is set by whoever plays the unit)
INTERNET_DOMAIN = "internet.test"

LAN_IF = "lan0"
WAN_IF = "wan0"
UPLINK_IF = "uplink0"
PHONE_IF = "eth0"
STAFF_IF = "staff0"
CONTROL_NAT_TABLE = "tk_control_nat"

T = TypeVar("T")


class HarnessError(RuntimeError):
    """The harness could not do what was asked (a command failed, a wait ran out)."""


class HarnessUnavailable(HarnessError):
    """This machine cannot run the harness at all (not root, no namespaces, a binary missing)."""


def wait_for(predicate: Callable[[], T], timeout: float, what: str = "condition", interval: float = 0.05) -> T:
    """Poll a condition until it holds or a deadline passes: the only sleeping loop the harness allows."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError(f"{what}: not met within {timeout:.1f} s")
        time.sleep(interval)


def binary(name: str) -> str:
    """Resolve a system binary once, so a missing one is reported by name rather than as ENOENT later."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        raise HarnessUnavailable(f"{name} is not installed")
    return found


def _run(argv: Sequence[str], timeout: float, check: bool,
         stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False, input=stdin)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"timed out after {timeout} s: {' '.join(argv)}") from exc
    if check and done.returncode != 0:
        raise HarnessError(f"{' '.join(argv)} exited {done.returncode}: {(done.stderr or done.stdout).strip()}")
    return done


def random_mac() -> str:
    """A locally administered unicast MAC, like the randomised ones phones use."""
    octets = bytearray(secrets.token_bytes(6))
    octets[0] = (octets[0] & 0b11111100) | 0b00000010
    return ":".join(f"{octet:02x}" for octet in octets)


# ----------------------------------------------------------------------------------------------------------
# Results of probes (built in the test process from the JSON a probe printed inside its namespace)
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResult:
    """An HTTP exchange without following redirects; `error` is a kind ("refused", "timeout", …) or None."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    error: str | None
    detail: str
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True)
class ConnectResult:
    """A TCP connection attempt: state is "open", "refused", "timeout", "unreachable", "prohibited"…"""

    state: str
    elapsed: float
    banner: bytes = b""
    detail: str = ""

    @property
    def open(self) -> bool:
        return self.state == "open"


@dataclass(frozen=True)
class UdpResult:
    """One datagram out and (maybe) one back, on a connected socket so ICMP errors surface."""

    reply: bytes | None
    error: str | None
    elapsed: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class DnsAnswer:
    name: str
    type: str
    ttl: int
    data: str


@dataclass(frozen=True)
class DnsResult:
    """A DNS exchange: rcode (0 NOERROR, 3 NXDOMAIN…) when a reply came, else an error kind."""

    rcode: int | None
    rcode_name: str | None
    answers: tuple[DnsAnswer, ...]
    error: str | None
    elapsed: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def addresses(self) -> list[str]:
        return [answer.data for answer in self.answers if answer.type in ("A", "AAAA")]


@dataclass(frozen=True)
class PingResult:
    ok: bool
    elapsed: float
    output: str


@dataclass(frozen=True)
class Lease:
    """What the phone's DHCP client was given, as dhclient passed it to our script."""

    address: str
    prefixlen: int
    router: str | None
    dns_servers: tuple[str, ...]
    captive_portal: str | None  # option 114 (RFC 8910), None when the server sent none
    lease_time: int | None
    server_id: str | None
    domain_name: str | None
    reason: str
    options: dict[str, str]  # every new_* variable dhclient set, for anything not named above

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Lease:
        env: dict[str, str] = event["env"]
        mask = env.get("new_subnet_mask", "255.255.255.255")
        lease_time = env.get("new_dhcp_lease_time")
        return cls(
            address=env["new_ip_address"],
            prefixlen=ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen,
            router=(env.get("new_routers") or "").split()[0] if env.get("new_routers") else None,
            dns_servers=tuple((env.get("new_domain_name_servers") or "").split()),
            captive_portal=_unescape_dhclient(env["new_captive_portal"]) if "new_captive_portal" in env else None,
            lease_time=int(lease_time) if lease_time else None,
            server_id=env.get("new_dhcp_server_identifier"),
            domain_name=env.get("new_domain_name"),
            reason=event["reason"],
            options={key: value for key, value in env.items() if key.startswith("new_")},
        )


def _unescape_dhclient(value: str) -> str:
    """dhclient backslash-escapes quotes and backslashes in string options before exporting them."""
    return re.sub(r"\\(.)", r"\1", value)


@dataclass(frozen=True)
class Capabilities:
    """What crosses namespaces on this machine, measured with no firewall (see ARCHITECTURE: controls).

    Where one is False, a blocking test cannot prove anything with that traffic and should assert the
    rule on the loaded ruleset (`nft -j list ruleset`) instead, saying so.
    """

    icmp: bool  # IPv4 echo kit → uplink
    icmp6: bool  # IPv6 echo kit → uplink
    ipv6: bool  # IPv6 TCP kit → public server
    detail: str = ""


@dataclass(frozen=True)
class DnsLogEntry:
    name: str
    qtype: str
    source: str


_QUERY_LINE = re.compile(r"query\[(?P<qtype>[^\]]+)\] (?P<name>\S+) from (?P<source>\S+)")


# ----------------------------------------------------------------------------------------------------------
# Hosts: one namespace seen from the test
# ----------------------------------------------------------------------------------------------------------


class Host:
    """A namespace you can run commands in and probe the network from (the kit, the internet, a phone)."""

    def __init__(self, topology: Topology, ns: str, label: str) -> None:
        self.topology = topology
        self.ns = ns
        self.label = label

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label} ns={self.ns}>"

    def run(self, argv: Sequence[str], timeout: float = 30.0, *, check: bool = False,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.topology.run(self.ns, argv, timeout=timeout, check=check, stdin=stdin)

    def popen(self, argv: Sequence[str], log_path: Path | str) -> subprocess.Popen[bytes]:
        return self.topology.popen(self.ns, argv, log_path)

    def python(self, code_or_args: str | Sequence[str], timeout: float = 30.0, *,
               check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.topology.python(self.ns, code_or_args, timeout=timeout, check=check)

    def addresses(self, interface: str, family: int = 4) -> list[str]:
        """Global addresses on an interface, as "ip/prefix"."""
        done = self.run(["ip", "-j", f"-{family}", "addr", "show", "dev", interface], timeout=10, check=True)
        infos = json.loads(done.stdout or "[]")
        return [f"{a['local']}/{a['prefixlen']}" for info in infos for a in info.get("addr_info", [])
                if a.get("scope") == "global"]

    def default_route(self, family: int = 4) -> str | None:
        """The gateway of the default route, or None."""
        done = self.run(["ip", "-j", f"-{family}", "route", "show", "default"], timeout=10, check=True)
        routes = json.loads(done.stdout or "[]")
        return routes[0].get("gateway") if routes else None

    # -- probes: each runs as one short Python process inside the namespace --------------------------------

    def http_get(self, url: str, host_header: str | None = None, timeout: float = 5.0,
                 method: str = "GET") -> HttpResult:
        """One HTTP request, no redirects followed: a captive portal's 302 must be seen, not chased."""
        raw = self.topology.probe(self.ns, "http", {"url": url, "host_header": host_header, "timeout": timeout,
                                                   "method": method}, timeout=3 * timeout + 10)
        return HttpResult(status=raw["status"], headers=raw["headers"], body=base64.b64decode(raw["body"]),
                          error=raw["error"], detail=raw["detail"], elapsed=raw["elapsed"])

    def tcp_connect(self, ip: str, port: int, timeout: float = 3.0, read_banner: bool = False) -> ConnectResult:
        raw = self.topology.probe(self.ns, "tcp", {"ip": ip, "port": port, "timeout": timeout,
                                                  "read_banner": read_banner}, timeout=2 * timeout + 10)
        return ConnectResult(state=raw["state"], elapsed=raw["elapsed"], banner=base64.b64decode(raw["banner"]),
                             detail=raw["detail"])

    def udp_exchange(self, ip: str, port: int, payload: bytes, timeout: float = 3.0) -> UdpResult:
        raw = self.topology.probe(self.ns, "udp", {"ip": ip, "port": port, "timeout": timeout,
                                                  "payload": base64.b64encode(payload).decode()},
                                  timeout=timeout + 10)
        reply = base64.b64decode(raw["reply"]) if raw["reply"] is not None else None
        return UdpResult(reply=reply, error=raw["error"], elapsed=raw["elapsed"], detail=raw["detail"])

    def dns_query(self, server_ip: str, name: str, qtype: str = "A", port: int = 53, tcp: bool = False,
                  timeout: float = 3.0) -> DnsResult:
        raw = self.topology.probe(self.ns, "dns", {"server": server_ip, "name": name, "qtype": qtype,
                                                  "port": port, "tcp": tcp, "timeout": timeout},
                                  timeout=2 * timeout + 10)
        answers = tuple(DnsAnswer(**answer) for answer in raw["answers"])
        return DnsResult(rcode=raw["rcode"], rcode_name=raw["rcode_name"], answers=answers, error=raw["error"],
                         elapsed=raw["elapsed"], detail=raw["detail"])

    def ping(self, ip: str, timeout: float = 1.0) -> PingResult:
        """One ICMP echo with iputils' ping (IPv4 or IPv6 by the address)."""
        ping = binary("ping")
        wait = str(max(1, math.ceil(timeout)))
        start = time.monotonic()
        done = self.run([ping, "-n", "-c", "1", "-W", wait, ip], timeout=timeout + 10)
        return PingResult(ok=done.returncode == 0, elapsed=time.monotonic() - start,
                          output=(done.stdout + done.stderr).strip())


class Phone(Host):
    """A phone on the kit's Wi-Fi: a namespace whose eth0 is plugged into the kit's bridge."""

    def __init__(self, topology: Topology, ns: str, name: str, mac: str, port: str) -> None:
        super().__init__(topology, ns, f"phone {name}")
        self.name = name
        self.mac = mac
        self.port = port  # the kit-side bridge port, "ph-<name>"
        self.workdir = topology.workdir / f"phone-{name}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.dhcp_events_path = self.workdir / "dhcp-events.jsonl"
        self.dhclient: subprocess.Popen[bytes] | None = None

    def dhcp(self, timeout: float = 20.0, *, hostname: str | None = None, keep_running: bool = False,
             check: bool = True, use_dns: bool = True) -> Lease | None:
        """Get an address with a real `dhclient -4 -1`, confined to this namespace and our temp files.

        The script we give dhclient applies the lease itself (inside the namespace) and records every call
        in `dhcp_events_path`; we then write the lease's DNS servers to this namespace's own resolv.conf.
        dhclient is stopped once bound unless keep_running (then it renews, and teardown stops it).
        """
        dhclient = binary("dhclient")
        files = self._dhclient_files(timeout, hostname)
        self.dhcp_events_path.write_text("")
        proc = self.topology.popen(self.ns, [dhclient, "-4", "-1", "-d", "-v", "-sf", str(files["script"]),
                                             "-cf", str(files["conf"]), "-lf", str(files["leases"]),
                                             "-pf", str(files["pid"]), PHONE_IF], files["log"])
        self.dhclient = proc
        try:
            event = wait_for(lambda: self._bound_event() or proc.poll() is not None, timeout + 5,
                             f"DHCP lease for {self.label}")
        except HarnessError:
            event = None
        if not keep_running or not isinstance(event, dict):
            self.topology.stop(proc)
        if not isinstance(event, dict):
            if check:
                raise HarnessError(f"{self.label} got no DHCP lease; dhclient said:\n{_tail(files['log'])}")
            return None
        if event.get("error"):
            raise HarnessError(f"the DHCP script failed to apply the lease: {event['error']}")
        lease = Lease.from_event(event)
        if use_dns and lease.dns_servers:
            self.topology.write_resolv_conf(self.ns, lease.dns_servers)
        return lease

    def dhcp_events(self) -> list[dict[str, Any]]:
        """Every call dhclient made to our script: {"reason", "env", "error"}."""
        if not self.dhcp_events_path.exists():
            return []
        lines = self.dhcp_events_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip().endswith("}")]

    def _bound_event(self) -> dict[str, Any] | None:
        for event in reversed(self.dhcp_events()):
            if event["reason"] in _BOUND_REASONS:
                return event
        return None

    def _dhclient_files(self, timeout: float, hostname: str | None) -> dict[str, Path]:
        files = {name: self.workdir / f"dhclient.{name}" for name in ("conf", "script", "leases", "pid", "log")}
        send = f'send host-name "{hostname}";\n' if hostname else ""
        files["conf"].write_text(
            "option captive-portal code 114 = string;\n"
            f"timeout {max(1, math.ceil(timeout))};\n"
            "initial-interval 1;\nbackoff-cutoff 2;\nreboot 0;\n"
            f"{send}"
            "request subnet-mask, broadcast-address, routers, domain-name-servers, domain-name,\n"
            "        dhcp-lease-time, dhcp-server-identifier, captive-portal;\n")
        files["script"].write_text(_DHCLIENT_SCRIPT.format(python=sys.executable, ip=binary("ip"),
                                                           events=str(self.dhcp_events_path)))
        files["script"].chmod(0o700)
        return files

    def static(self, address: str = "10.42.0.23", gateway: str | None = KIT_LAN_IP,
               dns: Sequence[str] = (KIT_LAN_IP,)) -> None:
        """Bypass DHCP: set an IPv4 address (prefix /24 unless given) and default route."""
        if "/" not in address:
            address = f"{address}/{KIT_LAN_PREFIX}"
        self.run(["ip", "-4", "addr", "flush", "dev", PHONE_IF], timeout=10, check=True)
        self.topology.ip_batch(self.ns, [f"addr add {address} brd + dev {PHONE_IF}"]
                               + ([f"route replace default via {gateway} dev {PHONE_IF}"] if gateway else []))
        if dns:
            self.topology.write_resolv_conf(self.ns, dns)

    def add_ipv6(self, address: str = "2001:db8:42::23/64", gateway: str | None = KIT_LAN_IP6) -> None:
        """A static IPv6 address (the kit sends no RA); nodad so it is usable at once."""
        if "/" not in address:
            address = f"{address}/64"
        self.topology.ip_batch(self.ns, [f"addr replace {address} dev {PHONE_IF} nodad"]
                               + ([f"route replace ::/0 via {gateway} dev {PHONE_IF}"] if gateway else []))

    @property
    def isolated(self) -> bool:
        done = self.topology.run(self.topology.kit, ["bridge", "-j", "-d", "link", "show", "dev", self.port],
                                 timeout=10, check=True)
        return bool(json.loads(done.stdout)[0].get("isolated"))


_BOUND_REASONS = ("BOUND", "RENEW", "REBIND", "REBOOT")

# The -sf script handed to dhclient. dhclient runs it with a clean environment inside the phone namespace,
# so paths are baked in. It never touches /etc/resolv.conf: the harness writes the namespace's own file.
_DHCLIENT_SCRIPT = '''#!{python} -I
"""dhclient script of the test harness: apply the lease inside this namespace and record what came."""
import ipaddress, json, os, subprocess, sys

IP = {ip!r}
EVENTS = {events!r}


def ip(*args):
    subprocess.run([IP, *args], check=True, timeout=10, capture_output=True, text=True)


def apply(env, interface):
    prefix = ipaddress.IPv4Network("0.0.0.0/" + env.get("new_subnet_mask", "255.255.255.255")).prefixlen
    old = env.get("old_ip_address")
    if old and old != env["new_ip_address"]:
        subprocess.run([IP, "-4", "addr", "flush", "dev", interface], timeout=10, check=False)
    ip("addr", "replace", env["new_ip_address"] + "/" + str(prefix), "brd", "+", "dev", interface)
    routers = env.get("new_routers", "").split()
    if routers:
        ip("route", "replace", "default", "via", routers[0], "dev", interface)


def main():
    env = {{key: value for key, value in os.environ.items()
           if key.startswith(("new_", "old_", "cur_", "requested_")) or key in ("reason", "interface", "medium")}}
    reason = env.get("reason", "")
    interface = env.get("interface", "eth0")
    error = None
    try:
        if reason == "PREINIT":
            ip("link", "set", "dev", interface, "up")
        elif reason in ("BOUND", "RENEW", "REBIND", "REBOOT"):
            apply(env, interface)
        elif reason in ("EXPIRE", "RELEASE", "FAIL") and env.get("old_ip_address"):
            subprocess.run([IP, "-4", "addr", "flush", "dev", interface], timeout=10, check=False)
    except Exception as exc:
        error = repr(exc) + " " + str(getattr(exc, "stderr", "") or "")
    with open(EVENTS, "a") as handle:
        handle.write(json.dumps({{"reason": reason, "env": env, "error": error}}) + "\\n")
    return 0 if error is None else 1


sys.exit(main())
'''


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"({exc})"


# ----------------------------------------------------------------------------------------------------------
# The topology
# ----------------------------------------------------------------------------------------------------------


@dataclass
class _Tracked:
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    ns: str


@dataclass
class _State:
    namespaces: list[str] = field(default_factory=list)
    processes: list[_Tracked] = field(default_factory=list)


class Topology:
    """The kit, its phones and the simulated internet. Use as a context manager; always cleans up.

    `kit` and `internet` are namespace names (for `run`, `popen`, `python`, and for the kit's adapters that
    take a namespace); `kit_host` and `internet_host` are the same namespaces as Hosts, with the probes.
    """

    def __init__(self, workdir: Path | str | None = None, *, prefix: str = "tk-kit", start_internet: bool = True,
                 bridge_netfilter: bool = False) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", prefix):
            raise ValueError(f"bad namespace prefix {prefix!r}")
        self.id = f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}"
        self.kit = f"{self.id}-kit"
        self.internet = f"{self.id}-inet"
        self.kit_host = Host(self, self.kit, "kit")
        self.internet_host = Host(self, self.internet, "internet")
        self.phones: dict[str, Phone] = {}
        self.ipv6_configured = False
        self._given_workdir = Path(workdir) if workdir is not None else None
        self.workdir: Path = self._given_workdir or Path("/nonexistent")
        self._start_internet = start_internet
        self._bridge_netfilter = bridge_netfilter
        self._isolated = False
        self._state = _State()
        self._capabilities: Capabilities | None = None
        self._resolver_log_offset = 0
        self._previous_sigterm: Any = None
        self._started = False
        self._closed = False

    # -- life cycle -----------------------------------------------------------------------------------------

    def __enter__(self) -> Topology:
        self.start()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        problems = self.close(raise_errors=exc is None)
        if problems and exc is not None:
            warnings.warn(f"network harness teardown: {'; '.join(problems)}", stacklevel=2)

    def start(self) -> Topology:
        """Build kit + internet. On any failure everything made so far is removed before re-raising."""
        if self._started:
            return self
        self._started = True
        atexit.register(self.close)
        try:
            self._preflight()
            self._build()
        except BaseException:
            self.close(raise_errors=False)
            raise
        return self

    def _preflight(self) -> None:
        if os.geteuid() != 0:
            raise HarnessUnavailable("network namespaces need root")
        for name in ("ip", "bridge"):
            binary(name)
        if self._given_workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.id}-"))
        else:
            self.workdir = self._given_workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        self._install_sigterm_handler()

    def _build(self) -> None:
        try:
            self._add_namespace(self.kit, ["nameserver 127.0.0.1"])
        except HarnessError as exc:
            raise HarnessUnavailable(f"cannot create a network namespace: {exc}") from exc
        self._add_namespace(self.internet, [f"nameserver {PUBLIC_RESOLVER}"])
        self.ip_batch(self.kit, [
            "link set lo up",
            f"link add {LAN_IF} address {KIT_LAN_MAC} type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
            f"link set {LAN_IF} up",
            f"addr add {KIT_LAN_IP}/{KIT_LAN_PREFIX} dev {LAN_IF}",
            f"link add {WAN_IF} type veth peer name {UPLINK_IF} netns {self.internet}",
            f"link set {WAN_IF} up",
            f"addr add {KIT_WAN_IP}/24 dev {WAN_IF}",
        ])
        self.ip_batch(self.internet, [
            "link set lo up",
            f"link set {UPLINK_IF} up",
            f"addr add {UPLINK_IP}/24 dev {UPLINK_IF}",
            f"addr add {PUBLIC_SERVER}/32 dev lo",
            f"addr add {PUBLIC_RESOLVER}/32 dev lo",
        ])
        self.ip_batch(self.kit, [f"route replace default via {UPLINK_IP} dev {WAN_IF}"])
        self.ipv6_configured = self._configure_ipv6()
        self.sysctl(self.kit, self._kit_sysctls())
        if self._start_internet:
            self.start_internet_services()

    def _kit_sysctls(self) -> dict[str, str]:
        values = {"net.ipv4.ip_forward": "1"}
        if not self._bridge_netfilter and Path("/proc/sys/net/bridge").exists():
            # A real AP switches Wi-Fi clients inside hostapd, never through the kit's IP firewall.
            values |= {f"net.bridge.bridge-nf-call-{name}": "0" for name in ("iptables", "ip6tables", "arptables")}
        return values

    def _configure_ipv6(self) -> bool:
        """IPv6 addresses and routes; False (not an error) where the kernel has IPv6 disabled."""
        try:
            self.sysctl(self.internet, {f"net.ipv6.conf.{UPLINK_IF}.keep_addr_on_down": "1"})
            self.ip_batch(self.kit, [f"addr add {KIT_LAN_IP6}/64 dev {LAN_IF} nodad",
                                     f"addr add {KIT_WAN_IP6}/64 dev {WAN_IF} nodad"])
            self.ip_batch(self.internet, [f"addr add {UPLINK_IP6}/64 dev {UPLINK_IF} nodad",
                                          f"addr add {PUBLIC_SERVER6}/128 dev lo"])
            self.ip_batch(self.kit, [f"route replace ::/0 via {UPLINK_IP6} dev {WAN_IF}"])
        except HarnessError as exc:
            warnings.warn(f"IPv6 is not available in the namespaces: {exc}", stacklevel=2)
            return False
        return True

    def close(self, raise_errors: bool = True) -> list[str]:
        """Stop our processes by PID, delete our namespaces and resolver dirs, remove our temp dir.

        Every step is attempted even if an earlier one fails; problems are returned (and raised when asked).
        """
        if self._closed:
            return []
        self._closed = True
        problems: list[str] = []
        for tracked in list(reversed(self._state.processes)):
            _attempt(problems, f"stop pid {tracked.process.pid}", lambda t=tracked: self._stop_tracked(t))
        for ns in list(reversed(self._state.namespaces)):
            _attempt(problems, f"stray processes in {ns}", lambda ns=ns: self._stop_strays(ns))
        for ns in list(reversed(self._state.namespaces)):
            _attempt(problems, f"delete {ns}", lambda ns=ns: self._delete_namespace(ns))
        if self._given_workdir is None and self.workdir.name.startswith(self.id):
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._restore_sigterm_handler()
        atexit.unregister(self.close)
        if problems and raise_errors:
            raise HarnessError("network harness teardown: " + "; ".join(problems))
        return problems

    def _install_sigterm_handler(self) -> None:
        """Turn SIGTERM into SystemExit while we own namespaces, so `finally` blocks get to clean up."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._previous_sigterm = signal.SIG_DFL
            signal.signal(signal.SIGTERM, _exit_on_sigterm)

    def _restore_sigterm_handler(self) -> None:
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    # -- namespaces ---------------------------------------------------------------------------------------

    def namespaces(self) -> list[str]:
        """The namespaces this topology created and has not yet deleted."""
        return list(self._state.namespaces)

    def add_namespace(self, role: str) -> str:
        """One more namespace of this topology (named after its role), cleaned up with the others."""
        if not re.fullmatch(r"[a-z][a-z0-9]{0,7}", role):
            raise ValueError(f"bad namespace role {role!r}")
        ns = f"{self.id}-{role}"
        self._add_namespace(ns, [])
        self.ip_batch(ns, ["link set lo up"])
        return ns

    def _add_namespace(self, ns: str, resolv_lines: Sequence[str]) -> None:
        self._state.namespaces.append(ns)  # first, so a half-made one is still cleaned up
        self.write_resolv_conf(ns, (), lines=resolv_lines)
        _run(["ip", "netns", "add", ns], timeout=15, check=True)

    def write_resolv_conf(self, ns: str, servers: Sequence[str], lines: Sequence[str] = ()) -> Path:
        """This namespace's own resolver file (`ip netns exec` mounts it over /etc/resolv.conf)."""
        if ns not in self._state.namespaces:
            raise HarnessError(f"{ns} is not one of this topology's namespaces")
        path = NETNS_ETC / ns / "resolv.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = [*lines, *(f"nameserver {server}" for server in servers), "options timeout:1 attempts:1"]
        path.write_text("\n".join(body) + "\n")
        return path

    def _delete_namespace(self, ns: str) -> None:
        try:
            if Path("/run/netns", ns).exists():
                _run(["ip", "netns", "del", ns], timeout=15, check=True)
        finally:
            shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)
        self._state.namespaces.remove(ns)

    def _stop_strays(self, ns: str) -> None:
        """Processes still in one of our namespaces were started there by this harness or its tests
        (say a daemon that forked); stop them by PID so the namespace really goes away."""
        if not Path("/run/netns", ns).exists():
            return
        done = _run(["ip", "netns", "pids", ns], timeout=10, check=False)
        pids = [int(pid) for pid in done.stdout.split() if pid.isdigit() and int(pid) != os.getpid()]
        for pid in pids:
            _signal_pid(pid, signal.SIGTERM)
        with contextlib.suppress(HarnessError):
            wait_for(lambda: not any(_alive(pid) for pid in pids), 5.0, "stray processes to exit")
        for pid in pids:
            if _alive(pid):
                _signal_pid(pid, signal.SIGKILL)
        if pids:
            warnings.warn(f"stopped stray processes {pids} left in {ns}", stacklevel=2)

    # -- commands in namespaces ---------------------------------------------------------------------------

    def _ns_name(self, ns: str | Host) -> str:
        name = ns.ns if isinstance(ns, Host) else ns
        if name not in self._state.namespaces:
            raise HarnessError(f"{name} is not one of this topology's namespaces")
        return name

    def run(self, ns: str | Host, argv: Sequence[str], timeout: float = 30.0, *, check: bool = False,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside a namespace and wait for it (bounded by timeout)."""
        return _run(["ip", "netns", "exec", self._ns_name(ns), *argv], timeout=timeout, check=check, stdin=stdin)

    def popen(self, ns: str | Host, argv: Sequence[str], log_path: Path | str) -> subprocess.Popen[bytes]:
        """Start a long-running command inside a namespace; output goes to log_path; stopped at teardown.

        `ip netns exec` execs the command, so the PID is the command's own.
        """
        name = self._ns_name(ns)
        log = Path(log_path).open("ab")  # noqa: SIM115 — closed when the process is stopped
        try:
            process = subprocess.Popen(["ip", "netns", "exec", name, *argv], stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        except BaseException:
            log.close()
            raise
        self._state.processes.append(_Tracked(process, log, name))
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 5.0) -> int | None:
        """Stop one process this topology started, by its PID: terminate, wait, kill."""
        for tracked in self._state.processes:
            if tracked.process is process:
                self._stop_tracked(tracked, timeout)
                return process.returncode
        raise HarnessError(f"pid {process.pid} was not started by this topology")

    def _stop_tracked(self, tracked: _Tracked, timeout: float = 5.0) -> None:
        process = tracked.process
        try:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        finally:
            tracked.log.close()
            self._state.processes.remove(tracked)

    def python(self, ns: str | Host, code_or_args: str | Sequence[str], timeout: float = 30.0, *,
               check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run Python (the test's own interpreter) in a namespace: a code string or an argv tail."""
        args = ["-c", code_or_args] if isinstance(code_or_args, str) else list(code_or_args)
        return self.run(ns, [sys.executable, *args], timeout=timeout, check=check)

    def ip_batch(self, ns: str | Host, commands: Sequence[str]) -> None:
        """Several `ip` commands in one process (faster than one each); stops at the first failure."""
        if commands:
            _run(["ip", "-n", self._ns_name(ns), "-batch", "-"], timeout=30, check=True,
                 stdin="\n".join(commands) + "\n")

    def sysctl(self, ns: str | Host, values: dict[str, str]) -> None:
        """Write sysctls from inside a namespace: /proc/sys/net follows the writer's network namespace."""
        self.probe(ns, "sysctl", {"values": values}, timeout=15)

    def probe(self, ns: str | Host, kind: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run one probe of this file's script part inside a namespace and return its JSON result."""
        payload = json.dumps({"kind": kind, **params})
        done = self.run(ns, [sys.executable, "-I", str(Path(__file__).resolve()), "probe", payload],
                        timeout=timeout)
        if done.returncode != 0:
            raise HarnessError(f"probe {kind} failed in {self._ns_name(ns)}: {done.stderr.strip()}")
        return json.loads(done.stdout)

    # -- phones and the LAN -------------------------------------------------------------------------------

    def add_phone(self, name: str, mac: str | None = None) -> Phone:
        """A phone namespace whose eth0 is a new port of the kit's bridge; no address until dhcp()/static()."""
        if not re.fullmatch(r"[a-z0-9]{1,11}", name):
            raise ValueError("phone names are 1-11 lowercase letters or digits (interface names are short)")
        if name in self.phones:
            raise ValueError(f"phone {name} already exists")
        ns, port, mac = f"{self.id}-ph-{name}", f"ph-{name}", mac or random_mac()
        self._add_namespace(ns, [f"nameserver {KIT_LAN_IP}"])
        self.ip_batch(self.kit, [f"link add {port} type veth peer name {PHONE_IF} address {mac} netns {ns}",
                                 f"link set {port} master {LAN_IF}", f"link set {port} up"])
        self.ip_batch(ns, ["link set lo up", f"link set {PHONE_IF} up"])
        phone = Phone(self, ns, name, mac, port)
        self.phones[name] = phone
        self.set_isolation(self._isolated, [phone])
        return phone

    def add_staff_device(self, name: str = "mediator", mac: str | None = None) -> Phone:
        """A mediator's phone on the kit's staff network: its eth0 is the peer of the kit's `staff0` (a
        network of one device, as a second Wi-Fi adapter would be). The kit's side gets no address here."""
        if not re.fullmatch(r"[a-z0-9]{1,11}", name):
            raise ValueError("device names are 1-11 lowercase letters or digits")
        ns, mac = f"{self.id}-st-{name}", mac or random_mac()
        self._add_namespace(ns, [f"nameserver {KIT_STAFF_IP}"])
        self.ip_batch(self.kit, [f"link add {STAFF_IF} type veth peer name {PHONE_IF} address {mac} netns {ns}",
                                 f"link set {STAFF_IF} up"])
        self.ip_batch(ns, ["link set lo up", f"link set {PHONE_IF} up"])
        return Phone(self, ns, name, mac, STAFF_IF)

    def set_isolation(self, on: bool, phones: Sequence[Phone] | None = None) -> None:
        """Client isolation between phones, like hostapd's ap_isolate (phones still reach the kit).

        Without `phones` it applies to all phones, now and those added later.
        """
        if phones is None:
            self._isolated = on
            phones = list(self.phones.values())
        for phone in phones:
            _run(["bridge", "-n", self.kit, "link", "set", "dev", phone.port, "isolated", "on" if on else "off"],
                 timeout=10, check=True)

    def set_forwarding(self, ipv4: bool | None = None, ipv6: bool | None = None) -> None:
        """Routing inside the kit only (never the host's): IPv4 is on from the start, IPv6 off."""
        values = {}
        if ipv4 is not None:
            values["net.ipv4.ip_forward"] = "1" if ipv4 else "0"
        if ipv6 is not None:
            values["net.ipv6.conf.all.forwarding"] = "1" if ipv6 else "0"
        self.sysctl(self.kit, values)

    # -- the uplink ---------------------------------------------------------------------------------------

    def unplug(self) -> None:
        """The 4G goes away: the internet side of the link goes down (the kit's wan0 loses carrier)."""
        self.ip_batch(self.internet, [f"link set {UPLINK_IF} down"])
        wait_for(lambda: not self._wan_carrier(), 5.0, "kit's wan0 to lose carrier")

    def plug(self) -> None:
        """The 4G comes back: link up, addresses and default routes re-asserted (idempotent)."""
        self.ip_batch(self.internet, [f"link set {UPLINK_IF} up"]
                      + ([f"addr replace {UPLINK_IP6}/64 dev {UPLINK_IF} nodad"] if self.ipv6_configured else []))
        wait_for(self._wan_carrier, 5.0, "kit's wan0 to get carrier")
        self.ip_batch(self.kit, [f"route replace default via {UPLINK_IP} dev {WAN_IF}"]
                      + ([f"route replace ::/0 via {UPLINK_IP6} dev {WAN_IF}"] if self.ipv6_configured else []))

    def _wan_carrier(self) -> bool:
        done = self.run(self.kit, ["ip", "-j", "link", "show", "dev", WAN_IF], timeout=10, check=True)
        return "NO-CARRIER" not in json.loads(done.stdout)[0].get("flags", [])

    # -- the simulated internet ---------------------------------------------------------------------------

    @property
    def internet_log(self) -> Path:
        return self.workdir / "internet" / "server.jsonl"

    @property
    def resolver_log(self) -> Path:
        return self.workdir / "internet" / "resolver.log"

    def start_internet_services(self) -> None:
        """The public server (tests/stands/internet.py) and the public resolver (a real dnsmasq)."""
        folder = self.workdir / "internet"
        folder.mkdir(parents=True, exist_ok=True)
        ready = folder / "server.ready"
        addresses = [PUBLIC_SERVER, *([PUBLIC_SERVER6] if self.ipv6_configured else [])]
        server = self.popen(self.internet, [sys.executable, "-I", str(HERE / "internet.py"), "--log",
                                            str(self.internet_log), "--ready", str(ready),
                                            *(arg for address in addresses for arg in ("--address", address))],
                            folder / "server.out")
        resolver = self.popen(self.internet, self._resolver_argv(folder), folder / "resolver.out")
        wait_for(lambda: ready.exists() or server.poll() is not None, 15.0, "public server to start")
        if server.poll() is not None:
            raise HarnessError(f"the public server exited:\n{_tail(folder / 'server.out')}")
        self.probe(self.internet, "wait-dns", {"server": PUBLIC_RESOLVER, "name": f"ready.{INTERNET_DOMAIN}",
                                               "deadline": 15.0}, timeout=25)
        if resolver.poll() is not None:
            raise HarnessError(f"the public resolver exited:\n{_tail(folder / 'resolver.out')}")
        self._resolver_log_offset = self.resolver_log.stat().st_size if self.resolver_log.exists() else 0

    def _resolver_argv(self, folder: Path) -> list[str]:
        argv = [binary("dnsmasq"), "--keep-in-foreground", "--conf-file=/dev/null", "--bind-interfaces",
                f"--listen-address={PUBLIC_RESOLVER}", "--no-resolv", "--no-hosts", "--no-poll",
                "--cache-size=0", f"--address=/{INTERNET_DOMAIN}/{PUBLIC_SERVER}",
                "--address=/#/",  # everything else: NXDOMAIN
                "--log-queries", f"--log-facility={self.resolver_log}", f"--pid-file={folder / 'resolver.pid'}"]
        if self.ipv6_configured:
            argv.insert(-3, f"--address=/{INTERNET_DOMAIN}/{PUBLIC_SERVER6}")
        return argv

    def resolver_queries(self) -> list[DnsLogEntry]:
        """Queries the public resolver received since it became ready (its own readiness check excluded)."""
        if not self.resolver_log.exists():
            return []
        with self.resolver_log.open("rb") as handle:
            handle.seek(self._resolver_log_offset)
            text = handle.read().decode("utf-8", "replace")
        return [DnsLogEntry(m["name"], m["qtype"], m["source"]) for m in _QUERY_LINE.finditer(text)]

    def internet_hits(self) -> list[dict[str, Any]]:
        """Everything that reached the public server: one dict per HTTP request, TCP connection, datagram."""
        if not self.internet_log.exists():
            return []
        lines = self.internet_log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip().endswith("}")]

    # -- controls -----------------------------------------------------------------------------------------

    def add_control_masquerade(self) -> None:
        """TEST CONTROL ONLY: masquerade LAN → WAN with nothing else, proving the traffic *can* pass.

        Not the kit's firewall; remove it (or flush the ruleset) before loading the kit's nftables.
        """
        families = ["ip", *(["ip6"] if self.ipv6_configured else [])]
        script = "".join(f"table {family} {CONTROL_NAT_TABLE} {{\n chain postrouting {{\n"
                         f"  type nat hook postrouting priority srcnat; policy accept;\n"
                         f'  oifname "{WAN_IF}" masquerade\n }}\n}}\n' for family in families)
        self.run(self.kit, [binary("nft"), "-f", "-"], timeout=15, check=True, stdin=script)

    def remove_control_masquerade(self) -> None:
        for family in ("ip", "ip6"):
            self.run(self.kit, [binary("nft"), "delete", "table", family, CONTROL_NAT_TABLE], timeout=15)

    def kit_ruleset(self) -> dict[str, Any]:
        """`nft -j list ruleset` in the kit: for asserting a rule where the traffic control cannot run."""
        done = self.run(self.kit, [binary("nft"), "-j", "list", "ruleset"], timeout=15, check=True)
        return json.loads(done.stdout or "{}")

    def capabilities(self, refresh: bool = False) -> Capabilities:
        """Measure once (no firewall needed between kit and internet) whether ICMP and IPv6 cross here."""
        if self._capabilities is None or refresh:
            icmp = self.kit_host.ping(UPLINK_IP)
            icmp6 = self.kit_host.ping(UPLINK_IP6) if self.ipv6_configured else None
            tcp6 = self.kit_host.tcp_connect(PUBLIC_SERVER6, 80, timeout=2.0) \
                if self.ipv6_configured and self._start_internet else None
            detail = "; ".join([f"icmp: {icmp.output.splitlines()[-1:]}",
                                f"icmp6: {icmp6.output.splitlines()[-1:] if icmp6 else 'no IPv6'}",
                                f"tcp6: {tcp6.state if tcp6 else 'not measured'}"])
            self._capabilities = Capabilities(icmp=icmp.ok, icmp6=bool(icmp6 and icmp6.ok),
                                              ipv6=bool(tcp6 and tcp6.open), detail=detail)
        return self._capabilities


def _attempt(problems: list[str], what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except Exception as exc:
        problems.append(f"{what}: {exc}")


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _signal_pid(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


@contextlib.contextmanager
def open_topology(workdir: Path | str | None = None, on_unavailable: Callable[[str], object] | None = None,
                  **options: Any) -> Iterator[Topology]:
    """A Topology for a pytest fixture: `on_unavailable` (e.g. tests.support.system.unavailable) decides
    what a machine without namespaces means (skip locally, fail in CI)."""
    topology = Topology(workdir, **options)
    try:
        topology.start()
    except HarnessUnavailable as exc:
        if on_unavailable is None:
            raise
        on_unavailable(str(exc))
        raise
    with topology:
        yield topology


# ----------------------------------------------------------------------------------------------------------
# The part that runs inside a namespace: probes with the standard library only
# ----------------------------------------------------------------------------------------------------------

_ERRNO_KINDS = {
    errno.ECONNREFUSED: "refused",
    errno.ECONNRESET: "reset",
    errno.ETIMEDOUT: "timeout",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETUNREACH: "unreachable",
    errno.EACCES: "prohibited",
    errno.EPERM: "prohibited",
    errno.EADDRNOTAVAIL: "no-address",
    errno.ENETDOWN: "unreachable",
}


def error_kind(exc: BaseException) -> str:
    """Name a network failure the way tests reason about it (an ICMP reject, a drop, a reset…)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, socket.gaierror):
        return "resolve"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed"
    if isinstance(exc, http.client.HTTPException):
        return "bad-response"
    if isinstance(exc, OSError) and exc.errno in _ERRNO_KINDS:
        return _ERRNO_KINDS[exc.errno]
    return "error"


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    name = errno.errorcode.get(code, "") if isinstance(code, int) else ""
    return f"{type(exc).__name__} {name} {exc}".strip()


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET


def probe_http(url: str, host_header: str | None = None, timeout: float = 5.0, method: str = "GET",
               max_body: int = 1 << 20) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http:// URLs are probed, not {url!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"User-Agent": "tk-harness", "Connection": "close"}
    if host_header:
        headers["Host"] = host_header
    result: dict[str, Any] = {"status": None, "headers": {}, "body": "", "error": None, "detail": ""}
    start = time.monotonic()
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        body = response.read(max_body)
        merged: dict[str, str] = {}
        for key, value in response.getheaders():
            merged[key.lower()] = f"{merged[key.lower()]}, {value}" if key.lower() in merged else value
        result |= {"status": response.status, "headers": merged, "body": base64.b64encode(body).decode()}
    except (OSError, http.client.HTTPException) as exc:
        result |= {"error": error_kind(exc), "detail": _describe(exc)}
    finally:
        connection.close()
    return result | {"elapsed": time.monotonic() - start}


def probe_tcp(ip: str, port: int, timeout: float = 3.0, read_banner: bool = False) -> dict[str, Any]:
    banner, detail = b"", ""
    start = time.monotonic()
    with socket.socket(_family(ip), socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((ip, port))
            state = "open"
        except OSError as exc:
            state, detail = error_kind(exc), _describe(exc)
        elapsed = time.monotonic() - start
        if state == "open" and read_banner:
            with contextlib.suppress(OSError):
                banner = sock.recv(4096)
    return {"state": state, "elapsed": elapsed, "banner": base64.b64encode(banner).decode(), "detail": detail}


def probe_udp(ip: str, port: int, payload: str, timeout: float = 3.0) -> dict[str, Any]:
    """Connected UDP socket: an ICMP port/host unreachable comes back as ECONNREFUSED/EHOSTUNREACH."""
    result: dict[str, Any] = {"reply": None, "error": None, "detail": ""}
    start = time.monotonic()
    with socket.socket(_family(ip), socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((ip, port))
            sock.send(base64.b64decode(payload))
            result["reply"] = base64.b64encode(sock.recv(65535)).decode()
        except OSError as exc:
            result |= {"error": error_kind(exc), "detail": _describe(exc)}
    return result | {"elapsed": time.monotonic() - start}


QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33,
          "SVCB": 64, "HTTPS": 65, "ANY": 255}
QTYPE_NAMES = {code: name for name, code in QTYPES.items()}
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def build_dns_query(name: str, qtype: str = "A", query_id: int = 0) -> bytes:
    """A standard recursive query with one question, class IN."""
    labels = [label.encode("idna") for label in name.rstrip(".").split(".") if label]
    if any(len(label) > 63 for label in labels):
        raise ValueError(f"a label of {name!r} is longer than 63 bytes")
    code = QTYPES[qtype.upper()] if not qtype.isdigit() else int(qtype)
    question = b"".join(bytes([len(label)]) + label for label in labels) + b"\0" + struct.pack("!HH", code, 1)
    return struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question


def _read_name(message: bytes, offset: int) -> tuple[str, int]:
    """A possibly compressed domain name; returns it and the offset just after it."""
    labels: list[str] = []
    end: int | None = None
    for _ in range(128):  # bounded: a pointer loop in a hostile reply must not hang the probe
        length = message[offset]
        if length & 0xC0 == 0xC0:
            end = offset + 2 if end is None else end
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            continue
        if length == 0:
            return ".".join(labels), (offset + 1 if end is None else end)
        labels.append(message[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    raise ValueError("DNS name too long or looping")


def _rdata_text(message: bytes, rtype: int, offset: int, length: int) -> str:
    rdata = message[offset:offset + length]
    if rtype == 1 and length == 4:
        return str(ipaddress.IPv4Address(rdata))
    if rtype == 28 and length == 16:
        return str(ipaddress.IPv6Address(rdata))
    if rtype in (2, 5, 12):
        return _read_name(message, offset)[0]
    if rtype == 16:
        strings, index = [], 0
        while index < length:
            strings.append(rdata[index + 1:index + 1 + rdata[index]].decode("utf-8", "replace"))
            index += 1 + rdata[index]
        return " ".join(strings)
    return rdata.hex()


def parse_dns_response(message: bytes, query_id: int | None = None) -> dict[str, Any]:
    """Header, rcode and answer records of a reply (authority and additional sections are skipped)."""
    reply_id, flags, questions, answers, _, _ = struct.unpack_from("!HHHHHH", message, 0)
    if query_id is not None and reply_id != query_id:
        raise ValueError(f"reply id {reply_id} does not match query id {query_id}")
    offset = 12
    for _ in range(questions):
        offset = _read_name(message, offset)[1] + 4
    records = []
    for _ in range(answers):
        name, offset = _read_name(message, offset)
        rtype, _, ttl, length = struct.unpack_from("!HHIH", message, offset)
        offset += 10
        records.append({"name": name, "type": QTYPE_NAMES.get(rtype, str(rtype)), "ttl": ttl,
                        "data": _rdata_text(message, rtype, offset, length)})
        offset += length
    return {"rcode": flags & 0xF, "truncated": bool(flags & 0x200), "answers": records}


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionResetError(errno.ECONNRESET, "connection closed mid-reply")
        data += chunk
    return data


def _dns_exchange(query: bytes, query_id: int, server: str, port: int, tcp: bool, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    with socket.socket(_family(server), socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((server, port))
        if tcp:
            sock.sendall(struct.pack("!H", len(query)) + query)
            return _recv_exact(sock, struct.unpack("!H", _recv_exact(sock, 2))[0])
        sock.send(query)
        while True:  # skip stray datagrams with another id, until the deadline
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            reply = sock.recv(65535)
            if len(reply) >= 12 and struct.unpack_from("!H", reply)[0] == query_id:
                return reply


def probe_dns(server: str, name: str, qtype: str = "A", port: int = 53, tcp: bool = False,
              timeout: float = 3.0) -> dict[str, Any]:
    query_id = secrets.randbelow(65536)
    result: dict[str, Any] = {"rcode": None, "rcode_name": None, "answers": [], "error": None, "detail": ""}
    start = time.monotonic()
    try:
        reply = parse_dns_response(_dns_exchange(build_dns_query(name, qtype, query_id), query_id, server, port,
                                                 tcp, timeout), query_id)
        result |= {"rcode": reply["rcode"], "rcode_name": RCODE_NAMES.get(reply["rcode"], str(reply["rcode"])),
                   "answers": reply["answers"]}
    except OSError as exc:
        result |= {"error": error_kind(exc), "detail": _describe(exc)}
    except (ValueError, struct.error, IndexError) as exc:
        result |= {"error": "bad-response", "detail": _describe(exc)}
    return result | {"elapsed": time.monotonic() - start}


def _wait_dns(server: str, name: str, deadline: float) -> dict[str, Any]:
    """Retry a DNS query inside one process until the server answers (readiness of a resolver)."""
    end = time.monotonic() + deadline
    while True:
        result = probe_dns(server, name, timeout=0.5)
        if result["error"] is None or time.monotonic() >= end:
            return result
        time.sleep(0.05)


def _write_sysctls(values: dict[str, str]) -> dict[str, Any]:
    for key, value in values.items():
        Path("/proc/sys", *key.split(".")).write_text(f"{value}\n")
    return {"written": sorted(values)}


_PROBES: dict[str, Callable[..., dict[str, Any]]] = {
    "http": probe_http, "tcp": probe_tcp, "udp": probe_udp, "dns": probe_dns, "wait-dns": _wait_dns,
    "sysctl": _write_sysctls,
}


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "probe":
        print("usage: netns.py probe '{\"kind\": ..., ...}' (run inside a namespace by the harness)",
              file=sys.stderr)
        return 2
    params = json.loads(argv[1])
    kind = params.pop("kind")
    result = _PROBES[kind](**params)
    failed_wait = kind.startswith("wait-") and result.get("error")
    print(json.dumps(result), file=sys.stderr if failed_wait else sys.stdout)
    return 1 if failed_wait else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
