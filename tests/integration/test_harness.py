"""Self-tests of the network harness (tests/stands/netns.py): the topology works *without* the kit's firewall.

These are the controls the blocking tests rely on: if traffic did not pass here, a later "blocked" would
prove nothing. Where ICMP or IPv6 does not cross namespaces on a machine, `Topology.capabilities()` says so;
the tests then check that the capability report is consistent and warn, and blocking tests should assert the
rule on `Topology.kit_ruleset()` instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stands.netns import (
    KIT_LAN_IP,
    KIT_LAN_IP6,
    LAN_IF,
    NETNS_ETC,
    PUBLIC_RESOLVER,
    PUBLIC_SERVER,
    PUBLIC_SERVER6,
    UPLINK_IP6,
    Topology,
    open_topology,
    wait_for,
)
from tests.support.system import need_binary, unavailable

pytestmark = pytest.mark.system

OUR_PREFIX = f"tk-kit-{os.getpid()}-"
CAPTIVE_URL = "http://10.42.0.1/api/captive"


def netns_list() -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=True)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """After the whole module: no namespace or resolver dir with this process's prefix survives."""
    yield
    if os.geteuid() != 0 or not Path("/run/netns").exists():
        return
    assert [ns for ns in netns_list() if ns.startswith(OUR_PREFIX)] == []
    if NETNS_ETC.exists():
        assert [d.name for d in NETNS_ETC.iterdir() if d.name.startswith(OUR_PREFIX)] == []


@pytest.fixture
def topo(tmp_path: Path) -> Iterator[Topology]:
    for name in ("ip", "bridge", "nft", "dnsmasq"):
        need_binary(name)
    with open_topology(tmp_path / "net", on_unavailable=unavailable) as topology:
        yield topology


def start_test_dhcp_server(topo: Topology, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A plain dnsmasq, DHCP only (port=0), for this self-test only: not the kit's configuration.

    Arguments reach dnsmasq without a shell, so option 114 is given unquoted (quotes would be sent);
    --no-ping skips the ~3 s ICMP check dnsmasq makes before offering an address.
    """
    leases, log = tmp_path / "test-dnsmasq.leases", tmp_path / "test-dnsmasq.log"
    argv = [need_binary("dnsmasq"), "--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--no-ping",
            f"--interface={LAN_IF}", "--bind-interfaces", "--dhcp-authoritative",
            "--dhcp-range=10.42.0.20,10.42.0.250,1h", f"--dhcp-option=114,{CAPTIVE_URL}",
            f"--dhcp-option=option:dns-server,{KIT_LAN_IP}", f"--dhcp-leasefile={leases}",
            f"--pid-file={tmp_path / 'test-dnsmasq.pid'}", f"--log-facility={log}", "--log-dhcp"]
    process = topo.popen(topo.kit, argv, tmp_path / "test-dnsmasq.out")
    wait_for(lambda: process.poll() is not None or (log.exists() and "DHCP, IP range" in log.read_text()),
             10.0, "test dnsmasq to start")
    assert process.poll() is None, (tmp_path / "test-dnsmasq.out").read_text()
    return process, leases


def host_resolv_fingerprint() -> tuple[bytes, int]:
    path = Path("/etc/resolv.conf")
    return path.read_bytes(), path.stat().st_mtime_ns


def test_phone_gets_a_dhcp_lease_with_option_114_and_the_host_resolver_is_untouched(topo: Topology,
                                                                                    tmp_path: Path) -> None:
    need_binary("dhclient")
    before = host_resolv_fingerprint()
    host_forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    phone = topo.add_phone("alice")
    _, leases = start_test_dhcp_server(topo, tmp_path)

    lease = phone.dhcp(timeout=15)

    assert lease is not None
    assert lease.router == KIT_LAN_IP
    assert lease.dns_servers == (KIT_LAN_IP,)
    assert lease.captive_portal == CAPTIVE_URL
    assert lease.prefixlen == 24 and lease.lease_time == 3600
    assert phone.addresses("eth0") == [f"{lease.address}/24"]
    assert phone.default_route() == KIT_LAN_IP
    assert phone.dhclient is not None and phone.dhclient.poll() is not None, "dhclient is stopped once bound"
    assert phone.mac in leases.read_text() and lease.address in leases.read_text()
    assert f"nameserver {KIT_LAN_IP}" in (NETNS_ETC / phone.ns / "resolv.conf").read_text()
    assert any(event["reason"] == "BOUND" for event in phone.dhcp_events())
    assert host_resolv_fingerprint() == before, "dhclient must never write the host's /etc/resolv.conf"
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host_forwarding, "kit sysctls stay in the kit"


def test_control_without_firewall_a_phone_reaches_the_internet(topo: Topology) -> None:
    phone = topo.add_phone("bob")
    phone.static("10.42.0.22")
    topo.add_control_masquerade()

    page = phone.http_get(f"http://{PUBLIC_SERVER}/")
    assert (page.status, page.text) == (200, "internet ok\n"), page
    assert phone.http_get(f"http://{PUBLIC_SERVER}/generate_204", host_header="connectivitycheck.test").status == 204
    https = phone.tcp_connect(PUBLIC_SERVER, 443, read_banner=True)
    assert https.open and https.banner.startswith(b"internet tcp 443"), https
    assert phone.tcp_connect(PUBLIC_SERVER, 853).open
    assert phone.udp_exchange(PUBLIC_SERVER, 443, b"quic?").reply == b"quic?"
    assert phone.tcp_connect(PUBLIC_SERVER, 8080, timeout=2).state == "refused"

    answer = phone.dns_query(PUBLIC_RESOLVER, "www.internet.test")
    assert (answer.rcode_name, answer.addresses) == ("NOERROR", [PUBLIC_SERVER]), answer
    assert phone.dns_query(PUBLIC_RESOLVER, "aide.internet.test", tcp=True).addresses == [PUBLIC_SERVER]
    assert phone.dns_query(PUBLIC_RESOLVER, "elsewhere.example").rcode_name == "NXDOMAIN"

    names = {(entry.name, entry.qtype, entry.source) for entry in topo.resolver_queries()}
    assert ("www.internet.test", "A", "198.51.100.2") in names, "the resolver logs each query, masqueraded"
    hits = topo.internet_hits()
    assert {(hit["service"], hit.get("path"), hit["client"]) for hit in hits} >= {
        ("http", "/", "198.51.100.2"), ("http", "/generate_204", "198.51.100.2")}
    assert [hit["host"] for hit in hits if hit.get("path") == "/generate_204"] == ["connectivitycheck.test"]


def test_control_icmp_crosses_namespaces_or_the_harness_says_so(topo: Topology) -> None:
    need_binary("ping")
    phone = topo.add_phone("carol")
    phone.static("10.42.0.23")
    topo.add_control_masquerade()
    capabilities = topo.capabilities()

    echo = phone.ping(PUBLIC_SERVER)

    assert echo.ok == capabilities.icmp, (echo.output, capabilities)
    if not capabilities.icmp:
        warnings.warn(f"ICMP echo does not cross namespaces here: {capabilities.detail}", stacklevel=1)


def test_control_ipv6_is_forwarded_when_the_kit_forwards_it(topo: Topology) -> None:
    if not topo.ipv6_configured:
        unavailable("IPv6 is disabled in this kernel's namespaces")
    host_forwarding = Path("/proc/sys/net/ipv6/conf/all/forwarding").read_text()
    phone = topo.add_phone("dave")
    phone.add_ipv6("2001:db8:42::24/64")
    topo.add_control_masquerade()
    assert phone.tcp_connect(KIT_LAN_IP6, 9, timeout=2).state == "refused", "the kit's LAN answers over IPv6"
    assert not phone.tcp_connect(PUBLIC_SERVER6, 80, timeout=1).open, "IPv6 forwarding is off until asked"

    topo.set_forwarding(ipv6=True)

    capabilities = topo.capabilities()
    page = phone.http_get(f"http://[{PUBLIC_SERVER6}]/")
    assert (page.status == 200) == capabilities.ipv6, (page, capabilities)
    if capabilities.icmp6:
        assert phone.ping(UPLINK_IP6).ok
    assert Path("/proc/sys/net/ipv6/conf/all/forwarding").read_text() == host_forwarding, "only the kit forwards"
    if not (capabilities.ipv6 and capabilities.icmp6):
        warnings.warn(f"IPv6 does not fully cross namespaces here: {capabilities.detail}", stacklevel=1)


def test_phones_reach_each_other_only_without_isolation(topo: Topology) -> None:
    eve, frank = topo.add_phone("eve"), topo.add_phone("frank")
    eve.static("10.42.0.25")
    frank.static("10.42.0.26")
    # A TCP RST from a closed port proves the path: no listener needed.
    assert eve.tcp_connect("10.42.0.26", 9, timeout=2).state == "refused"

    topo.set_isolation(True)

    assert eve.isolated and frank.isolated
    blocked = eve.tcp_connect("10.42.0.26", 9, timeout=1.5)
    assert blocked.state in ("timeout", "unreachable"), blocked
    assert eve.tcp_connect(KIT_LAN_IP, 9, timeout=2).state == "refused", "isolated phones still reach the kit"
    late = topo.add_phone("grace")
    assert late.isolated, "phones that join later are isolated too"

    topo.set_isolation(False)
    assert wait_for(lambda: eve.tcp_connect("10.42.0.26", 9, timeout=1).state == "refused", 10, "path back")


def test_unplugging_the_uplink_cuts_the_internet_and_plugging_restores_it(topo: Topology) -> None:
    phone = topo.add_phone("henri")
    phone.static("10.42.0.27")
    topo.add_control_masquerade()
    assert phone.tcp_connect(PUBLIC_SERVER, 80).open

    topo.unplug()

    assert phone.tcp_connect(PUBLIC_SERVER, 80, timeout=1.5).state in ("timeout", "unreachable")
    assert phone.dns_query(PUBLIC_RESOLVER, "www.internet.test", timeout=1.5).error in ("timeout", "unreachable")
    assert phone.tcp_connect(KIT_LAN_IP, 9, timeout=2).state == "refused", "the LAN still works offline"

    topo.plug()

    assert wait_for(lambda: phone.tcp_connect(PUBLIC_SERVER, 80, timeout=1).open, 10, "internet back")
    assert phone.dns_query(PUBLIC_RESOLVER, "www.internet.test").addresses == [PUBLIC_SERVER]


def test_everything_is_removed_even_when_the_test_body_fails(tmp_path: Path) -> None:
    for name in ("ip", "bridge", "dnsmasq"):
        need_binary(name)
    child_pid_file = tmp_path / "child.pid"
    daemon = ("import os, sys, time\n"
              "if os.fork() == 0:\n"
              "    open(sys.argv[1], 'w').write(str(os.getpid()))\n"
              "    time.sleep(60)\n")  # the parent exits at once: a stray child, like a daemon that forked

    with (pytest.raises(RuntimeError, match="test body failed"), pytest.warns(UserWarning, match="stray"),
          open_topology(tmp_path / "net", on_unavailable=unavailable) as topology):
        phone = topology.add_phone("ivan")
        sleeper = topology.popen(phone, ["sleep", "60"], tmp_path / "sleep.log")
        topology.popen(phone, [sys.executable, "-c", daemon, str(child_pid_file)], tmp_path / "daemon.log")
        wait_for(lambda: child_pid_file.exists() and child_pid_file.read_text(), 5, "forked child")
        names = topology.namespaces()
        assert all((NETNS_ETC / ns / "resolv.conf").exists() for ns in names)
        raise RuntimeError("test body failed")

    assert sleeper.poll() is not None
    assert not Path(f"/proc/{child_pid_file.read_text()}").exists()
    assert not set(names) & set(netns_list())
    assert not any((NETNS_ETC / ns).exists() for ns in names)
    assert topology.namespaces() == []
