"""Benchmark: the kit's network path in namespaces — grant to internet, firewall cost, idle uplink traffic.

Usage, from the repository root, as root::

    .venv/bin/python bench/network.py [--grants N] [--phones N] [--repeats N] [--idle-seconds S] [--skip-idle]
    .venv/bin/python bench/network.py --quota-only [--quota-mb M]

Builds the harness's namespaces (tests/stands/netns.py) with the real kit in them (tests/stands/kit.py: the
rendered nftables ruleset, both dnsmasq, `kiosk serve`) and measures:

1. grant to internet: a phone that is captive again (`kiosk clients deny`) loads the portal, posts the charter
   form and polls http://198.51.100.10/ until it answers "internet ok"; the time from just before the POST to
   that answer, over N grants, each measured inside one phone-side process (its start-up is not counted);
2. grant and revoke cost: NftablesFirewall.grant + revoke of a fresh client in the kit namespace while the
   `allowed` set holds 1, then 250, other clients (kiosk serve stopped meanwhile, so its once-a-second sweep
   does not compete for nft); the ratio 250/1;
3. idle uplink: two fresh kits with no phone, uplink check disabled and enabled, for S seconds side by side:
   the kit's wan0 TX counters, every frame it sent (an AF_PACKET capture on wan0) and what the simulated
   internet received;
4. the time from a disassociation event to the session's revoke, over 200 departures, or N with
   ``--departures N`` alone (bench/association.py).
5. quota overshoot (also alone with --quota-only): one kit with `access.quota_mb = M` and its once-a-second
   sweep running; a phone downloads 10 M MB, and what it received beyond its quota is the overshoot, first
   with the kernel's quota rules, then (sweep-only reference) with those rules deleted from the forward
   chain, on a fresh phone of the same kit. The quota counts IP bytes both ways (headers and the phone's
   ACKs included), the phone receives HTTP body bytes: under the kernel's quota the figure is below zero.
   Then the monthly cap's: a kit with `uplink.monthly_cap_mb = M` (no session quota in the way), `kiosk serve`
   stopped, a phone downloads 10 M MB; the overshoot is what it received beyond what the kernel's `month_cap`
   quota had left when the download started.

It prints figures and asserts nothing. Needs root and network namespaces (exits 2 without them), nft,
dnsmasq and dhclient.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.stands.kit import KitUnderTest, download  # noqa: E402
from tests.stands.netns import (  # noqa: E402
    KIT_LAN_IP,
    KIT_WAN_IP,
    LAN_IF,
    PUBLIC_SERVER,
    WAN_IF,
    HarnessError,
    HarnessUnavailable,
    Phone,
    Topology,
    wait_for,
)

TARGET_GRANT_P99_MS = 100.0
TARGET_COST_RATIO = 1.5
TARGET_IDLE_BYTES = 0
SESSION_MINUTES = 1440  # one day: no session ends during the run
QUOTA_MB = 100_000  # nor runs out of data
LARGE_SET = 250
SMALL_SET = 1
POLL_SECONDS = 2.0  # the phone gives up on the internet this long after the POST
SETTLE_SECONDS = 3.0  # after the kit started, before the idle window opens
CHECK_URL_HOST = PUBLIC_SERVER  # tests/stands/kit.py: check_url = "http://198.51.100.10/generate_204"
# Link management that never leaves the link (ARP, IPv6 neighbour/router discovery, MLD): not the kit's traffic.
LINK_LOCAL_KINDS = ("ARP", "ICMPv6 neighbour", "ICMPv6 router", "ICMPv6 MLD")


class Unavailable(Exception):
    """This machine cannot run the benchmark (not root, no namespaces)."""


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: p99 of 100 samples is the 99th smallest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def human(count: float) -> str:
    return f"{count:.0f} B" if count < 10_000 else f"{count / 1000:.1f} kB"


# --- 1. grant to internet ----------------------------------------------------------------------------------

# Runs inside a phone namespace, standard library only; parameters as JSON in argv[1], one JSON line out.
PHONE_GRANT_CODE = r"""
import http.client, json, re, sys, time, urllib.parse
p = json.loads(sys.argv[1])

def internet(timeout):
    c = http.client.HTTPConnection(p["server"], 80, timeout=timeout)
    try:
        c.request("GET", "/", headers={"Connection": "close"})
        r = c.getresponse()
        return r.status, r.read()
    except OSError as exc:
        return None, type(exc).__name__.encode()
    finally:
        c.close()

before, _ = internet(3.0)
c = http.client.HTTPConnection(p["kit"], 80, timeout=5)
t_page = time.perf_counter()
c.request("GET", "/?lang=fr")
page = c.getresponse().read().decode()
page_ms = (time.perf_counter() - t_page) * 1000
token = re.search(r'name="csrf_token" value="([^"]+)"', page)
if not token:
    print(json.dumps({"error": "no csrf token in the portal page", "before": before})); raise SystemExit
body = urllib.parse.urlencode({"csrf_token": token.group(1), "accept": "yes", "lang": "fr"})
headers = {"Content-Type": "application/x-www-form-urlencoded"}
t0 = time.perf_counter()
c.request("POST", "/accept", body, headers)
r = c.getresponse(); r.read()
t_post = time.perf_counter()
c.close()
attempts, t1, last = 0, None, None
while attempts < p["max_attempts"] and time.perf_counter() - t0 < p["poll_seconds"]:
    attempts += 1
    status, answer = internet(p["attempt_timeout"])
    if status == 200 and answer == b"internet ok\n":
        t1 = time.perf_counter()
        break
    last = [status, answer[:60].decode("utf-8", "replace")]
print(json.dumps({"before": before, "post_status": r.status, "post_ms": (t_post - t0) * 1000, "page_ms": page_ms,
                  "total_ms": None if t1 is None else (t1 - t0) * 1000,
                  "after_post_ms": None if t1 is None else (t1 - t_post) * 1000,
                  "attempts": attempts, "last": last}))
"""


@dataclass(frozen=True)
class GrantSample:
    phone: str
    captive_before: bool  # the phone's request landed on the portal (302) before the POST
    post_status: int | None
    post_ms: float | None  # POST sent → 303 received: the kit's work
    total_ms: float | None  # POST sent → first "internet ok"
    after_post_ms: float | None  # 303 received → first "internet ok"
    page_ms: float | None  # for reference: GET of the portal page (a new connection, rendering, no grant)
    attempts: int
    detail: str

    @property
    def valid(self) -> bool:
        return self.captive_before and self.post_status == 303 and self.total_ms is not None


def phone_lease(phone: Phone) -> str:
    lease = phone.dhcp()
    if lease is None:
        raise HarnessError(f"{phone.label} got no lease")
    return lease.address


def make_captive(kit: KitUnderTest, ip: str) -> None:
    done = kit.kiosk("clients", "deny", "--ip", ip)
    if done.returncode != 0:
        raise HarnessError(f"kiosk clients deny --ip {ip}: {done.stderr.strip()}")


def measure_one_grant(phone: Phone) -> GrantSample:
    params = {"kit": KIT_LAN_IP, "server": PUBLIC_SERVER, "poll_seconds": POLL_SECONDS, "max_attempts": 1000,
              "attempt_timeout": 0.5}
    done = phone.python(["-c", PHONE_GRANT_CODE, json.dumps(params)], timeout=30)
    if done.returncode != 0 or not done.stdout.strip():
        return GrantSample(phone.name, False, None, None, None, None, None, 0,
                           f"phone process failed: {done.stderr}")
    raw: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return GrantSample(phone.name, raw.get("before") == 302, raw.get("post_status"), raw.get("post_ms"),
                       raw.get("total_ms"), raw.get("after_post_ms"), raw.get("page_ms"), raw.get("attempts", 0),
                       raw.get("error") or (str(raw.get("last")) if raw.get("last") else ""))


def measure_grants(kit: KitUnderTest, phones: dict[Phone, str], grants: int) -> list[GrantSample]:
    """Round-robin over the phones: deny (kit namespace), then one measured accept (phone namespace)."""
    samples: list[GrantSample] = []
    order = list(phones.items())
    for index in range(grants):
        phone, ip = order[index % len(order)]
        make_captive(kit, ip)
        samples.append(measure_one_grant(phone))
        if (index + 1) % 25 == 0:
            progress(f"grant to internet: {index + 1}/{grants}")
    return samples


def report_grants(samples: list[GrantSample]) -> float | None:
    """Prints the figures; returns the p99 in ms (None when no sample was valid)."""
    valid = [sample for sample in samples if sample.valid]
    print(f"\n1. grant to internet ({len(samples)} grants, {len({s.phone for s in samples})} phones, "
          f"{len(valid)} valid)")
    for sample in samples:
        if not sample.valid:
            print(f"   invalid: phone {sample.phone}: captive before {sample.captive_before}, "
                  f"POST {sample.post_status}, {sample.detail}")
    if not valid:
        return None
    rows = (("POST → internet ok", [s.total_ms for s in valid]),
            ("  POST → 303 (kit's work)", [s.post_ms for s in valid]),
            ("  303 → internet ok", [s.after_post_ms for s in valid]),
            ("(reference) GET portal page", [s.page_ms for s in valid]))
    print(f"   {'':28}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'min ms':>9}")
    for label, values in rows:
        figures = [value for value in values if value is not None]
        print(f"   {label:28}{percentile(figures, 0.5):9.2f}{percentile(figures, 0.99):9.2f}"
              f"{max(figures):9.2f}{min(figures):9.2f}")
    attempts = [s.attempts for s in valid]
    print(f"   internet requests until the first answer: {statistics.mean(attempts):.2f} on average, "
          f"{max(attempts)} at most (1 = the first request after the 303 got through)")
    return percentile([s.total_ms for s in valid if s.total_ms is not None], 0.99)


# --- 2. grant and revoke cost ------------------------------------------------------------------------------

# Runs as root inside the kit namespace, on the loaded `inet kiosk` table; one JSON object out.
KIT_COST_CODE = r"""
import ipaddress, json, statistics, sys, time
p = json.loads(sys.argv[1])
sys.path.insert(0, p["repo"])
from kiosk.adapters.firewall import Client, Grant
from kiosk.adapters.nftables import TABLE, NftablesFirewall, NftRunner, grant_commands

runner = NftRunner()
firewall = NftablesFirewall(runner, ipaddress.IPv4Network(p["lan"], strict=False), time.time, p["lan_if"])
sets = ("allowed", "allowed_ips", "allowed_macs")

def mac(prefix, n):
    return f"02:{prefix:02x}:00:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"

def fill(count):
    # The others: outside the LAN range (only the measured client goes through the LAN check), one batch.
    runner.apply([f"flush set {TABLE} {name}" for name in sets])
    expires = int(time.time()) + 86400
    commands = []
    for n in range(count):
        commands += grant_commands(Grant(Client(str(ipaddress.IPv4Address("10.43.0.0") + n + 1), mac(0xaa, n)),
                                         expires), time.time())
    if commands:
        runner.apply(commands)

def size(name):
    listing = json.loads(runner._run(["-j", "list", "set", "inet", "kiosk", name]))
    return next(len(item["set"].get("elem", [])) for item in listing["nftables"] if "set" in item)

results = {str(count): {"grant_ms": [], "revoke_ms": [], "counters_ms": []} for count in p["sizes"]}
serial = 0
# Blocks alternate between the sizes, so a drift of the machine's speed weighs on both alike.
for block in range(p["blocks"]):
    for count in p["sizes"]:
        fill(count)
        figures = results[str(count)]
        rounds = len(range(block, p["repeats"], p["blocks"]))
        for round_ in range(p["warmup"] + rounds):
            serial += 1
            client = Client(f"10.42.0.{10 + serial % 240}", mac(0xbb, serial))
            grant = Grant(client, int(time.time()) + 7200)
            t0 = time.perf_counter(); firewall.grant(grant); t1 = time.perf_counter()
            firewall.counters(); t2 = time.perf_counter()
            firewall.revoke(client); t3 = time.perf_counter()
            if round_ >= p["warmup"]:
                figures["grant_ms"].append((t1 - t0) * 1000); figures["counters_ms"].append((t2 - t1) * 1000)
                figures["revoke_ms"].append((t3 - t2) * 1000)
        figures["allowed_after"], figures["allowed_ips_after"] = size("allowed"), size("allowed_ips")
runner.apply([f"flush set {TABLE} {name}" for name in sets])
print(json.dumps(results))
"""


@dataclass(frozen=True)
class CostFigures:
    grant_ms: list[float]
    revoke_ms: list[float]
    counters_ms: list[float]
    allowed_after: int
    allowed_ips_after: int


def measure_cost(topology: Topology, repeats: int) -> dict[int, CostFigures]:
    params = {"repo": str(REPO), "lan": f"{KIT_LAN_IP}/24", "lan_if": LAN_IF, "sizes": [SMALL_SET, LARGE_SET],
              "repeats": repeats, "warmup": 2, "blocks": min(5, repeats)}
    done = topology.python(topology.kit, ["-c", KIT_COST_CODE, json.dumps(params)], timeout=60 + repeats * 10)
    if done.returncode != 0:
        raise HarnessError(f"the cost measurement failed in the kit namespace:\n{done.stderr}")
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    return {int(size): CostFigures(**figures) for size, figures in raw.items()}


def report_cost(costs: dict[int, CostFigures], repeats: int) -> dict[str, float]:
    """Prints the figures; returns the 250/1 ratios of the medians for grant and revoke."""
    print(f"\n2. grant and revoke cost (NftablesFirewall, one nft call each; median of {repeats}, kit namespace)")
    print(f"   {'other clients':14}{'grant ms':>10}{'revoke ms':>11}{'grant p90':>11}{'revoke p90':>12}"
          f"{'counters() ms':>15}{'set size after':>16}")
    for size, figures in costs.items():
        print(f"   {size:<14}{statistics.median(figures.grant_ms):10.2f}{statistics.median(figures.revoke_ms):11.2f}"
              f"{percentile(figures.grant_ms, 0.9):11.2f}{percentile(figures.revoke_ms, 0.9):12.2f}"
              f"{statistics.median(figures.counters_ms):15.2f}"
              f"{f'{figures.allowed_after}/{figures.allowed_ips_after}':>16}")
    small, large = costs[SMALL_SET], costs[LARGE_SET]
    ratios = {name: statistics.median(getattr(large, f"{name}_ms")) / statistics.median(getattr(small, f"{name}_ms"))
              for name in ("grant", "revoke", "counters")}
    print(f"   ratio {LARGE_SET}/{SMALL_SET}: grant {ratios['grant']:.2f}, revoke {ratios['revoke']:.2f}, "
          f"counters() {ratios['counters']:.2f} (the sweep reads the counters every access.check_seconds)")
    return ratios


# --- 3. idle uplink ----------------------------------------------------------------------------------------

# Runs inside the kit namespace: every frame the kit sends out of wan0, one JSON line each, until argv[2] s.
SNIFFER_CODE = r"""
import ipaddress, json, socket, struct, sys, time
interface, seconds = sys.argv[1], float(sys.argv[2])
ICMP6 = {133: "ICMPv6 router solicitation", 134: "ICMPv6 router advert", 135: "ICMPv6 neighbour solicitation",
         136: "ICMPv6 neighbour advert", 143: "ICMPv6 MLDv2 report", 128: "ICMPv6 echo request"}
IP_PROTOS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6"}

def ports(data, proto):
    if proto in (6, 17) and len(data) >= 4:
        return struct.unpack("!HH", data[:4])
    return None, None

def describe(frame):
    kind = struct.unpack("!H", frame[12:14])[0]
    if kind == 0x0806:
        op, tpa = struct.unpack("!H", frame[20:22])[0], ipaddress.IPv4Address(frame[38:42])
        return f"ARP {'request who-has' if op == 1 else 'reply'} {tpa}", None
    if kind == 0x0800:
        header = frame[14:]
        proto, length = header[9], (header[0] & 15) * 4
        src, dst = ipaddress.IPv4Address(header[12:16]), ipaddress.IPv4Address(header[16:20])
        sport, dport = ports(header[length:], proto)
        name = IP_PROTOS.get(proto, f"IP proto {proto}")
        return (f"{name} {src} > {dst}" + (f":{dport}" if dport is not None else ""),
                sport if dport is not None else None)
    if kind == 0x86DD:
        header = frame[14:]
        nh, src, dst = header[6], ipaddress.IPv6Address(header[8:24]), ipaddress.IPv6Address(header[24:40])
        if nh == 0 and len(header) > 48:  # hop-by-hop options (MLD): skip them
            nh, header = header[40], header[:40] + header[40 + (header[41] + 1) * 8:]
        if nh == 58:
            icmp = header[40]
            return ICMP6.get(icmp, f"ICMPv6 type {icmp}") + f" {src} > {dst}", None
        sport, dport = ports(header[40:], nh)
        name = IP_PROTOS.get(nh, f"IPv6 next header {nh}")
        return (f"{name} {src} > [{dst}]" + (f":{dport}" if dport is not None else ""),
                sport if dport is not None else None)
    return f"ethertype 0x{kind:04x}", None

sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
sock.bind((interface, 0))
sock.settimeout(0.5)
print(json.dumps({"ready": True}), flush=True)
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    try:
        frame, address = sock.recvfrom(65535)
    except TimeoutError:
        continue
    if address[2] != socket.PACKET_OUTGOING:
        continue
    what, sport = describe(frame)
    print(json.dumps({"time": time.time(), "bytes": len(frame), "what": what, "sport": sport}), flush=True)
"""


@dataclass(frozen=True)
class WanCounters:
    tx_bytes: int
    tx_packets: int
    rx_bytes: int
    rx_packets: int


@dataclass
class IdleKit:
    label: str
    check_enabled: bool
    topology: Topology
    kit: KitUnderTest
    capture_log: Path
    start: WanCounters | None = None
    hits_before: int = 0
    queries_before: int = 0


@dataclass(frozen=True)
class IdleResult:
    label: str
    check_enabled: bool
    seconds: float
    tx_bytes: int
    tx_packets: int
    rx_bytes: int
    captured: dict[str, tuple[int, int]]  # what → (frames, bytes)
    captured_frames: int
    internet_hits: list[dict[str, Any]]
    resolver_queries: list[str]

    @property
    def own_bytes(self) -> int:
        """Bytes of frames the kit sent other than neighbour discovery (ARP, ND)."""
        return sum(size for what, (_, size) in self.captured.items() if not what.startswith(LINK_LOCAL_KINDS))

    @property
    def beyond_check_bytes(self) -> int:
        """Own bytes other than TCP to the configured check's host on port 80 (the check itself)."""
        check = f"TCP {KIT_WAN_IP} > {CHECK_URL_HOST}:80"
        return sum(size for what, (_, size) in self.captured.items()
                   if not what.startswith(LINK_LOCAL_KINDS) and not (self.check_enabled and what == check))


def wan_counters(topology: Topology) -> WanCounters:
    done = topology.run(topology.kit, ["ip", "-s", "-j", "link", "show", "dev", WAN_IF], timeout=10, check=True)
    stats = json.loads(done.stdout)[0]["stats64"]
    return WanCounters(stats["tx"]["bytes"], stats["tx"]["packets"], stats["rx"]["bytes"], stats["rx"]["packets"])


def read_capture(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip().endswith("}")]
    return [event for event in map(json.loads, lines) if "what" in event]


def start_idle_kit(stack: contextlib.ExitStack, check_enabled: bool, seconds: float) -> IdleKit:
    topology = stack.enter_context(Topology(prefix="tk-bench"))
    kit = KitUnderTest(topology, topology.workdir / "kit", session_minutes=SESSION_MINUTES, quota_mb=QUOTA_MB,
                       check_enabled=check_enabled).start()
    capture_log = topology.workdir / "wan-capture.jsonl"
    topology.popen(topology.kit, [sys.executable, "-I", "-c", SNIFFER_CODE, WAN_IF, str(seconds + 60)],
                   capture_log)
    wait_for(lambda: capture_log.exists() and '"ready"' in capture_log.read_text(), 15, "wan0 capture ready")
    label = "uplink check enabled" if check_enabled else "uplink check disabled"
    return IdleKit(label, check_enabled, topology, kit, capture_log)


def open_window(idle: IdleKit) -> None:
    idle.start = wan_counters(idle.topology)
    idle.hits_before = len(idle.topology.internet_hits())
    idle.queries_before = len(idle.topology.resolver_queries())
    idle.capture_log.write_text("")  # the window starts now: earlier frames (start-up) are not counted


def close_window(idle: IdleKit, seconds: float) -> IdleResult:
    end = wan_counters(idle.topology)
    start = idle.start or end
    captured: dict[str, tuple[int, int]] = {}
    events = read_capture(idle.capture_log)
    for event in events:
        frames, size = captured.get(event["what"], (0, 0))
        captured[event["what"]] = (frames + 1, size + event["bytes"])
    hits = idle.topology.internet_hits()[idle.hits_before:]
    queries = [f"{q.qtype} {q.name} from {q.source}" for q in idle.topology.resolver_queries()[idle.queries_before:]]
    return IdleResult(idle.label, idle.check_enabled, seconds, end.tx_bytes - start.tx_bytes,
                      end.tx_packets - start.tx_packets, end.rx_bytes - start.rx_bytes, captured, len(events),
                      hits, queries)


def measure_idle(seconds: float) -> list[IdleResult]:
    """Both kits side by side (separate topologies), so the window is S seconds, not 2 × S."""
    with contextlib.ExitStack() as stack:
        kits = [start_idle_kit(stack, check_enabled, seconds) for check_enabled in (False, True)]
        time.sleep(SETTLE_SECONDS)
        for idle in kits:
            open_window(idle)
        started = time.monotonic()
        progress(f"idle window: {seconds:.0f} s, no phone, two kits")
        deadline = started + seconds
        while (left := deadline - time.monotonic()) > 0:  # bounded: ends at the deadline
            time.sleep(min(left, 60.0))
            if deadline - time.monotonic() > 0:
                progress(f"idle window: {deadline - time.monotonic():.0f} s left")
        elapsed = time.monotonic() - started
        time.sleep(1.0)  # the capture's last frames reach its log
        return [close_window(idle, elapsed) for idle in kits]


def report_idle(results: list[IdleResult]) -> None:
    for result in results:
        print(f"\n3. idle uplink, {result.label} ({result.seconds:.0f} s, no phone)")
        print(f"   wan0 TX: {result.tx_bytes} B in {result.tx_packets} packets (RX {result.rx_bytes} B); "
              f"captured {result.captured_frames} outgoing frames")
        for what, (frames, size) in sorted(result.captured.items(), key=lambda item: -item[1][1]):
            print(f"     {frames:5d} frames {size:8d} B  {what}")
        print(f"   the internet received {len(result.internet_hits)} request(s)/connection(s), "
              f"the public resolver {len(result.resolver_queries)} query(ies)")
        for hit in result.internet_hits[:10]:
            print(f"     {hit}")
        for query in result.resolver_queries[:10]:
            print(f"     {query}")


# --- summary and main --------------------------------------------------------------------------------------

@dataclass
class Overshoot:
    label: str
    quota: int
    received: int

    @property
    def bytes(self) -> int:
        return self.received - self.quota

    @property
    def percent(self) -> float:
        return 100 * self.bytes / self.quota


def quota_download(topology: Topology, kit: KitUnderTest, name: str, quota: int) -> int:
    phone = topology.add_phone(name)
    phone_lease(phone)
    if kit.accept(phone).status != 303:
        raise HarnessError(f"{name} could not accept the charter")
    return download(phone, min(10 * quota, 50_000_000))


def measure_quota(quota_mb: int) -> list[Overshoot]:
    quota = quota_mb * 1_000_000
    with Topology(prefix="tk-bquota") as topology:
        kit = KitUnderTest(topology, topology.workdir / "kit", session_minutes=SESSION_MINUTES, quota_mb=quota_mb,
                           check_enabled=False).start()
        topology.set_isolation(True)
        progress(f"quota overshoot: {quota_mb} MB quota, kernel quota rules")
        results = [Overshoot("kernel quota", quota, quota_download(topology, kit, "kquota", quota))]
        kit.remove_quota_rules()
        progress("quota overshoot: sweep only (the kernel's quota rules deleted), sweep every 1 s")
        results.append(Overshoot("sweep only (reference)", quota, quota_download(topology, kit, "squota", quota)))
    return [*results, measure_month_cap(quota_mb)]


def measure_month_cap(cap_mb: int) -> Overshoot:
    cap = cap_mb * 1_000_000
    with Topology(prefix="tk-bcap") as topology:
        kit = KitUnderTest(topology, topology.workdir / "kit", session_minutes=SESSION_MINUTES, quota_mb=0,
                           monthly_cap_mb=cap_mb, check_enabled=False).start()
        topology.set_isolation(True)
        progress(f"monthly cap overshoot: {cap_mb} MB cap, kernel month_cap quota, kiosk serve stopped")
        phone = topology.add_phone("mcap")
        phone_lease(phone)
        if kit.accept(phone).status != 303:
            raise HarnessError("mcap could not accept the charter")
        kit.stop_kiosk()
        budget, used = kit.month_cap()
        return Overshoot("monthly cap (kernel)", budget - used, download(phone, min(10 * cap, 50_000_000)))


def report_quota(results: list[Overshoot]) -> None:
    for result in results:
        print(f"   quota overshoot, {result.label:24} received {result.received:>11} B of a {result.quota} B quota: "
              f"{result.bytes:+} B ({result.percent:+.2f} %)")


@dataclass
class Figures:
    grant_p99_ms: float | None = None
    ratios: dict[str, float] | None = None
    idle: list[IdleResult] | None = None
    quota: list[Overshoot] | None = None
    quota_only: bool = False


def print_summary(figures: Figures) -> None:
    print("\nsummary:")
    print(f"   {'target':46}{'measured':>16}  verdict")
    if figures.quota_only:
        pass
    elif figures.grant_p99_ms is not None:
        print(f"   {f'grant to internet p99 ≤ {TARGET_GRANT_P99_MS:g} ms':46}{figures.grant_p99_ms:13.2f} ms  "
              f"{verdict(figures.grant_p99_ms <= TARGET_GRANT_P99_MS)}")
    else:
        print(f"   {f'grant to internet p99 ≤ {TARGET_GRANT_P99_MS:g} ms':46}{'no valid sample':>16}  NOT MET")
    for name in ("grant", "revoke"):
        if figures.ratios is not None:
            ratio = figures.ratios[name]
            print(f"   {f'{name} cost {LARGE_SET}/{SMALL_SET} clients ≤ {TARGET_COST_RATIO:g}':46}{ratio:16.2f}  "
                  f"{verdict(ratio <= TARGET_COST_RATIO)}")
    for result in figures.idle or []:
        if result.check_enabled:
            label, measured = f"idle WAN, check on: 0 B beyond the check ({result.seconds:.0f} s)", \
                result.beyond_check_bytes
        else:
            label, measured = f"idle WAN, check off: 0 B ({result.seconds:.0f} s)", result.own_bytes
        print(f"   {label:46}{human(measured):>16}  {verdict(measured <= TARGET_IDLE_BYTES)}"
              f"   (wan0 TX in all {result.tx_bytes} B, ARP/ND included)")
    if figures.idle is None and not figures.quota_only:
        print("   idle WAN: skipped (--skip-idle)")
    for result in figures.quota or []:
        print(f"   {f'quota overshoot, {result.label}':46}{f'{result.bytes:+} B':>16}  ({result.percent:+.2f} %)")


@contextlib.contextmanager
def grant_topology(phone_count: int) -> Iterator[tuple[Topology, KitUnderTest, dict[Phone, str]]]:
    with Topology(prefix="tk-bench") as topology:
        kit = KitUnderTest(topology, topology.workdir / "kit", session_minutes=SESSION_MINUTES,
                           quota_mb=QUOTA_MB).start()
        topology.set_isolation(True)
        phones = {}
        for index in range(phone_count):
            phone = topology.add_phone(f"bench{index}")
            phones[phone] = phone_lease(phone)
        yield topology, kit, phones


def run(args: argparse.Namespace) -> Figures:
    figures = Figures(quota_only=args.quota_only)
    if args.quota_only:
        figures.quota = measure_quota(args.quota_mb)
        report_quota(figures.quota)
        return figures
    with grant_topology(args.phones) as (topology, kit, phones):
        print(f"kit namespace {topology.kit}; phones {', '.join(f'{p.name} {ip}' for p, ip in phones.items())}")
        progress(f"grant to internet: {args.grants} grants")
        figures.grant_p99_ms = report_grants(measure_grants(kit, phones, args.grants))
        kit.stop_kiosk()  # its once-a-second sweep (nft list) would compete with the measured nft calls
        progress(f"grant and revoke cost: {args.repeats} rounds with {SMALL_SET} and {LARGE_SET} other clients")
        figures.ratios = report_cost(measure_cost(topology, args.repeats), args.repeats)
    if not args.skip_idle:
        figures.idle = measure_idle(args.idle_seconds)
        report_idle(figures.idle)
    figures.quota = measure_quota(args.quota_mb)
    report_quota(figures.quota)
    return figures


def check_machine() -> None:
    if os.geteuid() != 0:
        raise Unavailable("needs root (network namespaces, nft)")
    if not Path("/proc/self/ns/net").exists():
        raise Unavailable("this kernel has no network namespaces")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="grant to internet, firewall cost and idle uplink traffic, "
                                                 "in network namespaces")
    parser.add_argument("--grants", type=int, default=100, help="measured grants (default 100)")
    parser.add_argument("--phones", type=int, default=4, help="phones taking turns (default 4)")
    parser.add_argument("--repeats", type=int, default=50, help="grant+revoke rounds per set size (default 50)")
    parser.add_argument("--idle-seconds", type=float, default=300.0, help="idle window (default 300)")
    parser.add_argument("--skip-idle", action="store_true", help="do not measure the idle uplink")
    parser.add_argument("--departures", type=int, metavar="N",
                        help="only this: time from N disassociation events to their revoke, with the hostapd "
                             "stand-in (bench/association.py; no root needed; at most 10000)")
    parser.add_argument("--quota-only", action="store_true",
                        help="measure only the session quota's and the monthly cap's overshoot")
    parser.add_argument("--quota-mb", type=int, default=2,
                        help="session quota and monthly cap for the overshoot (default 2)")
    args = parser.parse_args(argv)
    if args.grants < 1 or not 1 <= args.phones <= 20 or args.repeats < 1 or args.idle_seconds <= 0:
        parser.error("--grants, --repeats and --idle-seconds must be positive, --phones between 1 and 20")
    if not 1 <= args.quota_mb <= 5:
        parser.error("--quota-mb must be between 1 and 5 (the simulated internet serves at most 50 MB at once)")
    return args


def main() -> None:
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # keeps the figures in order with the progress lines
    if args.departures is not None:
        from bench.association import measure_departures, report_departures

        report_departures(measure_departures(args.departures))
        return
    try:
        check_machine()
        figures = run(args)
    except (Unavailable, HarnessUnavailable) as problem:
        print(f"bench: cannot run here: {problem}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit("bench: interrupted")
    print_summary(figures)
    from bench.association import measure_departures, report_departures

    report_departures(measure_departures(200))


if __name__ == "__main__":
    main()
