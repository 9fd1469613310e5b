"""The kit itself inside a harness topology: the rendered ruleset loaded with the real nft, the two real
dnsmasq instances with the rendered configs, and the real `kiosk serve`, all in the kit namespace.

Used by the end-to-end tests and by bench/network.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kiosk.adapters.nftables import parse_counters
from kiosk.settings import defaults
from tests.stands.netns import (
    KIT_LAN_IP,
    KIT_STAFF_IP,
    LAN_IF,
    PUBLIC_RESOLVER,
    PUBLIC_SERVER,
    STAFF_IF,
    WAN_IF,
    Host,
    Phone,
    Topology,
    wait_for,
)

PORTAL_PORT = 8080
DASHBOARD_PORT = 8081
CONFIG = """\
[portal]
listen = "0.0.0.0:{portal_port}"
public_url = "http://{kit_ip}/"
[dashboard]
listen = "{staff_ip}:{dashboard_port}"
[store]
path = "{store}"
[firewall]
backend = "nftables"
[access]
session_minutes = {session_minutes}
idle_minutes = 30
quota_mb = {quota_mb}
check_seconds = 1
[network]
lan_interface = "{lan}"
wan_interface = "{wan}"
lan_address = "{kit_ip}/24"
dhcp_leases = "{leases}"
upstream_dns = [{upstream}]
walled_garden = ["aide.internet.test"]
staff_interface = "{staff}"
staff_address = "{staff_ip}/24"
[uplink]
check_enabled = {check_enabled}
check_url = "http://198.51.100.10/generate_204"
monthly_cap_mb = {monthly_cap_mb}
"""


@dataclass
class Accepted:
    status: int | None
    location: str
    detail: str


class KitUnderTest:
    def __init__(self, topology: Topology, workdir: Path, *, session_minutes: int = 120, quota_mb: int = 500,
                 check_enabled: bool = True, upstream_dns: tuple[str, ...] = (PUBLIC_RESOLVER,),
                 monthly_cap_mb: int = 0) -> None:
        self.topology = topology
        self.host: Host = topology.kit_host
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.leases = workdir / "dnsmasq.leases"
        self.config = workdir / "kit.toml"
        self.config.write_text(CONFIG.format(
            portal_port=PORTAL_PORT, dashboard_port=DASHBOARD_PORT, kit_ip=KIT_LAN_IP, store=workdir / "kiosk.db",
            staff=STAFF_IF, staff_ip=KIT_STAFF_IP,
            session_minutes=session_minutes, quota_mb=quota_mb, lan=LAN_IF, wan=WAN_IF, leases=self.leases,
            upstream=", ".join(f'"{address}"' for address in upstream_dns),
            check_enabled="true" if check_enabled else "false", monthly_cap_mb=monthly_cap_mb))
        self.rendered = workdir / "etc"
        self.kiosk_process: subprocess.Popen | None = None
        self.mediator: Phone | None = None

    def staff_network(self) -> Phone:
        """The mediators' network with one phone on it, and the kit's address there (the unit's job on a Pi)."""
        if self.mediator is None:
            self.mediator = self.topology.add_staff_device()
            self.topology.ip_batch(self.host.ns, [f"addr replace {KIT_STAFF_IP}/24 dev {STAFF_IF}"])
        return self.mediator

    # --- the pieces, as the Pi's units would start them ------------------------------------------------

    def kiosk(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A `kiosk` command run as root inside the kit namespace."""
        return self.host.run([sys.executable, "-m", "kiosk", "--config", str(self.config), *args], timeout=timeout)

    def render(self) -> None:
        done = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(self.config), "network", "render",
                               "--dest", str(self.rendered)], capture_output=True, text=True, timeout=60,
                              check=False)
        if done.returncode != 0:
            raise AssertionError(f"render failed: {done.stderr}")

    def load_ruleset(self) -> None:
        done = self.host.run(["nft", "-f", str(self.rendered / "nftables.nft")], timeout=30)
        if done.returncode != 0:
            raise AssertionError(f"nft refused the ruleset: {done.stderr}")

    def start_dnsmasq(self) -> None:
        for name in ("dnsmasq.conf", "dnsmasq-captive.conf"):
            # --user=root: the test's folders are private to root; on the Pi dnsmasq drops to its own user.
            self.topology.popen(self.host, ["dnsmasq", "--keep-in-foreground", "--user=root",
                                            f"--conf-file={self.rendered / name}", "--log-facility=-"],
                                self.workdir / f"{name}.log")
        captive_port = defaults().network.captive_dns_port
        wait_for(lambda: self.host.tcp_connect(KIT_LAN_IP, 53, timeout=0.5).open
                 and self.host.tcp_connect(KIT_LAN_IP, captive_port, timeout=0.5).open, 20, "both dnsmasq listening")

    def start_kiosk(self) -> None:
        self.kiosk_process = self.topology.popen(
            self.host, [sys.executable, "-m", "kiosk", "--config", str(self.config), "serve"],
            self.workdir / "kiosk.log")
        wait_for(lambda: self.host.tcp_connect(KIT_LAN_IP, PORTAL_PORT, timeout=0.5).open, 30, "kiosk serve")

    def stop_kiosk(self) -> None:
        if self.kiosk_process is not None:
            self.topology.stop(self.kiosk_process)
            self.kiosk_process = None

    def start(self) -> KitUnderTest:
        self.staff_network()
        self.render()
        self.load_ruleset()
        self.start_dnsmasq()
        self.start_kiosk()
        return self

    def log(self, name: str = "kiosk.log") -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    # --- what a phone does ---------------------------------------------------------------------------

    def accept(self, phone: Host, lang: str = "fr") -> Accepted:
        """Load the portal and post its form, as a browser does (no redirect followed)."""
        code = f"""
import http.client, json, re, urllib.parse
c = http.client.HTTPConnection("{KIT_LAN_IP}", 80, timeout=5)
c.request("GET", "/?lang={lang}")
page = c.getresponse().read().decode()
token = re.search(r'name="csrf_token" value="([^"]+)"', page)
if not token:
    print(json.dumps({{"status": None, "location": "", "detail": page[:400]}})); raise SystemExit
body = urllib.parse.urlencode({{"csrf_token": token.group(1), "accept": "yes", "lang": "{lang}"}})
c.request("POST", "/accept", body, {{"Content-Type": "application/x-www-form-urlencoded"}})
r = c.getresponse(); r.read()
print(json.dumps({{"status": r.status, "location": r.getheader("Location") or "", "detail": ""}}))
"""
        done = phone.python(code, timeout=20)
        if done.returncode != 0:
            raise AssertionError(f"accept failed: {done.stderr}")
        return Accepted(**json.loads(done.stdout))

    def ruleset_elements(self, set_name: str) -> list:
        listing = json.loads(self.host.run(["nft", "-j", "list", "set", "inet", "kiosk", set_name]).stdout)
        return next(item["set"].get("elem", []) for item in listing["nftables"] if "set" in item)


    def forwarded_bytes(self, phone_ip: str) -> int:
        """IP bytes the kit forwarded for a phone, both directions, from its set elements' counters."""
        listing = json.loads(self.host.run(["nft", "-j", "list", "table", "inet", "kiosk"], check=True).stdout)
        return sum(count for client, count in parse_counters(listing).items() if client.ip == phone_ip)

    def month_cap(self) -> tuple[int, int]:
        """The kernel's monthly-cap quota: (bytes it lets through, bytes it has seen)."""
        listing = json.loads(self.host.run(["nft", "-j", "list", "quota", "inet", "kiosk", "month_cap"],
                                           check=True).stdout)
        quota = next(item["quota"] for item in listing["nftables"] if "quota" in item)
        return int(quota["bytes"]), int(quota.get("used", 0))

    def remove_quota_rules(self, map_name: str = "session_quotas") -> int:
        """Delete the forward rules that enforce the kernel quotas reached through ``map_name`` (a control);
        returns how many."""
        listing = self.host.run(["nft", "-a", "list", "chain", "inet", "kiosk", "forward"], check=True).stdout
        handles = [line.rsplit("# handle ", 1)[1] for line in listing.splitlines() if f"@{map_name}" in line]
        for handle in handles:
            self.host.run(["nft", "delete", "rule", "inet", "kiosk", "forward", "handle", handle], check=True)
        return len(handles)

    def dropped_as_spoofed(self, interface: str) -> int:
        """Packets the kit's anti-spoofing rule dropped so far on ``interface`` (its counter)."""
        listing = json.loads(self.host.run(["nft", "-j", "list", "chain", "inet", "kiosk", "antispoof"]).stdout)
        for item in listing["nftables"]:
            expressions = item.get("rule", {}).get("expr", [])
            if {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": interface}} in expressions:
                return next(e["counter"]["packets"] for e in expressions if "counter" in e)
        raise AssertionError(f"no anti-spoofing rule for {interface}")


def download(phone: Host, size: int) -> int:
    """Body bytes a phone receives of one plain HTTP download from the simulated internet, reading until
    the server is done or the transfer stalls for 3 s (the kernel dropping its packets)."""
    code = f"""
import json, socket
s = socket.create_connection(("{PUBLIC_SERVER}", 80), timeout=5)
s.sendall(b"GET /bytes/{size} HTTP/1.0\\r\\nHost: www.internet.test\\r\\n\\r\\n")
s.settimeout(3)
data = b""
try:
    while chunk := s.recv(65536):
        data += chunk
except OSError:
    pass
print(json.dumps({{"body": len(data.partition(b"\\r\\n\\r\\n")[2])}}))
"""
    done = phone.python(code, timeout=300)
    if done.returncode != 0:
        raise AssertionError(f"download failed: {done.stderr}")
    return json.loads(done.stdout)["body"]


def wait_until(predicate, timeout: float, what: str):
    """Poll with a deadline (never a blind sleep): the kit's housekeeping runs every second here."""
    return wait_for(predicate, timeout, what, interval=0.2)

