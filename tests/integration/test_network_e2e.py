"""End to end, in network namespaces: a phone joins the kit, sees the portal, reaches nothing before
accepting, and the internet right after — with the real nft, dnsmasq, dhclient and `kiosk serve`.

Every group of "must fail" checks is preceded by its control: the same traffic passing through the same
kit with no kiosk firewall (only a masquerade), so a failure means the firewall blocked it.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.settings import defaults
from tests.stands.kit import DASHBOARD_PORT, PORTAL_PORT, KitUnderTest, wait_until
from tests.stands.netns import (
    KIT_LAN_IP,
    KIT_STAFF_IP,
    PUBLIC_RESOLVER,
    PUBLIC_SERVER,
    PUBLIC_SERVER6,
    Phone,
    Topology,
    open_topology,
)
from tests.support.system import need_binary, unavailable

pytestmark = pytest.mark.system

PORTAL = f"http://{KIT_LAN_IP}/"
ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - a phone's listener inside its own test namespace
KIT_SSH_PORT = 22
MEDIATOR_IP = "10.42.1.200"  # a mediator's phone on the staff network (static: the blocked-path target)


def internet_answers(phone: Phone) -> bool:
    result = phone.http_get(f"http://{PUBLIC_SERVER}/", timeout=3)
    return result.status == 200 and result.text == "internet ok\n"


def lands_on_portal(phone: Phone, url: str = f"http://{PUBLIC_SERVER}/") -> bool:
    result = phone.http_get(url, timeout=3)
    return result.status == 302 and result.headers.get("location") == PORTAL


def blocked_paths(topology: Topology, phone: Phone, other: Phone) -> dict[str, object]:
    """Each path a participant must not have before accepting, as (did it get through?, how, seconds)."""
    other_ip = other.addresses("eth0")[0].split("/")[0]
    checks = {
        "https": phone.tcp_connect(PUBLIC_SERVER, 443, timeout=3),
        "dns-over-tls": phone.tcp_connect(PUBLIC_SERVER, 853, timeout=3),
        "quic": phone.udp_exchange(PUBLIC_SERVER, 443, b"quic?", timeout=3),
        "other-phone": phone.tcp_connect(other_ip, 8000, timeout=3),
        "dashboard": phone.tcp_connect(KIT_STAFF_IP, DASHBOARD_PORT, timeout=3),
        "mediator-phone": phone.tcp_connect(MEDIATOR_IP, 8000, timeout=3),
        "ssh": phone.tcp_connect(KIT_LAN_IP, KIT_SSH_PORT, timeout=3),
        "icmp": phone.ping(PUBLIC_SERVER, timeout=1),
        "ipv6": phone.tcp_connect(PUBLIC_SERVER6, 80, timeout=3),
    }
    return checks


def open_tcp_ports(phone: Phone, *targets: str) -> dict[str, set[int]]:
    """What a participant's port scan of the kit finds: nmap's SYN scan of every TCP port (1-65535)."""
    nmap = need_binary("nmap")
    done = phone.run([nmap, "-n", "-Pn", "-sS", "-p", "1-65535", "-T4", "--max-retries", "1", "-oG", "-",
                      *targets], timeout=300)
    assert done.returncode == 0, done.stderr
    found = {target: set() for target in targets}
    for line in done.stdout.splitlines():
        host = re.match(r"Host: (\S+) .*Ports: (.*?)(\tIgnored State:|$)", line)
        if host:
            found[host.group(1)] = {int(port) for port, state in re.findall(r"(\d+)/(\w+(?:\|\w+)?)/tcp",
                                                                         host.group(2)) if state == "open"}
    return found


def udp_answers(phone: Phone, port: int) -> bool:
    """Whether a resolver on that UDP port of the kit answers a phone's query."""
    return phone.dns_query(KIT_LAN_IP, "www.internet.test", port=port, timeout=2).rcode is not None


def redirect_guards(kit: KitUnderTest) -> dict[str, str]:
    """The input rules that let only redirected traffic reach the kit's real ports: handle -> rule."""
    listing = kit.host.run(["nft", "-a", "list", "chain", "inet", "kiosk", "input"], check=True).stdout
    return {match.group(2): match.group(1).strip()
            for match in re.finditer(r"^\s*(.*ct status dnat.*?) # handle (\d+)$", listing, re.MULTILINE)}


def passed(result: object) -> bool:
    return bool(getattr(result, "open", None) or getattr(result, "ok", None))


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> Iterator[tuple[Topology, KitUnderTest, dict]]:
    workdir: Path = tmp_path_factory.mktemp("e2e")
    with open_topology(workdir / "net", on_unavailable=unavailable) as topology:
        topology.set_isolation(False)  # the control shows phones reach each other without the kit's rules
        phone, other = topology.add_phone("ctl"), topology.add_phone("peer")
        phone.static("10.42.0.200"), other.static("10.42.0.201")
        phone.add_ipv6("2001:db8:42::200/64")
        topology.popen(other, [sys.executable, "-m", "http.server", "8000", "--bind", ANY_ADDRESS],
                       workdir / "peer-http.log")
        kit = KitUnderTest(topology, workdir / "kit", quota_mb=2)
        mediator = kit.staff_network()
        mediator.static(f"{MEDIATOR_IP}/24", gateway=KIT_STAFF_IP, dns=(KIT_STAFF_IP,))
        topology.popen(mediator, [sys.executable, "-m", "http.server", "8000", "--bind", ANY_ADDRESS],
                       workdir / "mediator-http.log")
        # Stand-ins for the kit's SSH and dashboard ports: a listener on each, so "refused" means the rule.
        stand_ins = [topology.popen(topology.kit_host, [sys.executable, "-m", "http.server", str(port), "--bind",
                                                        address], workdir / f"kit-{address}-{port}.log")
                     for address, port in ((KIT_LAN_IP, KIT_SSH_PORT), (KIT_STAFF_IP, DASHBOARD_PORT))]
        wait_until(lambda: other.tcp_connect("10.42.0.201", 8000, timeout=0.5).open, 15, "peer listening")
        wait_until(lambda: mediator.tcp_connect(MEDIATOR_IP, 8000, timeout=0.5).open, 15, "mediator listening")
        wait_until(lambda: topology.kit_host.tcp_connect(KIT_LAN_IP, KIT_SSH_PORT, timeout=0.5).open, 15, "ssh")
        topology.add_control_masquerade()
        topology.set_forwarding(ipv6=True)
        control = blocked_paths(topology, phone, other)
        control["http"] = internet_answers(phone)
        control["dns"] = phone.dns_query(PUBLIC_RESOLVER, "www.internet.test")
        topology.remove_control_masquerade()
        # The dashboard's stand-in gives way to kiosk serve's real listener; the SSH stand-in stays.
        topology.stop(stand_ins[1])
        kit.start()
        topology.set_isolation(True)
        try:
            yield topology, kit, control
        finally:
            print(kit.log())


def test_control_every_blocked_path_works_without_the_kit_firewall(network):
    _, _, control = network
    failures = {name: result for name, result in control.items()
                if name not in ("http", "dns") and not passed(result)}
    assert not failures, f"the control failed, so a block would prove nothing: {failures}"
    assert control["http"] is True
    assert control["dns"].addresses == [PUBLIC_SERVER]


def test_phone_gets_an_address_and_the_portal_api_by_dhcp(network):
    topology, kit, _ = network
    host_resolv = Path("/etc/resolv.conf").read_bytes()
    phone = topology.add_phone("lease")
    lease = phone.dhcp()
    assert lease is not None
    assert lease.address.startswith("10.42.0.")
    assert lease.router == KIT_LAN_IP
    assert lease.dns_servers == (KIT_LAN_IP,)
    assert lease.captive_portal == f"{PORTAL}api/captive"
    assert Path("/etc/resolv.conf").read_bytes() == host_resolv
    assert lease.address in kit.leases.read_text()


def test_probe_names_resolve_to_the_kit_and_probes_land_on_the_portal(network):
    topology, _, _ = network
    phone = topology.add_phone("probe")
    phone.dhcp()
    for name, path in (("connectivitycheck.gstatic.com", "/generate_204"),
                       ("captive.apple.com", "/hotspot-detect.html"),
                       ("www.msftconnecttest.com", "/connecttest.txt")):
        answer = phone.dns_query(KIT_LAN_IP, name)
        assert answer.addresses == [KIT_LAN_IP], (name, answer)
        result = phone.http_get(f"http://{KIT_LAN_IP}{path}", host_header=name)
        assert (result.status, result.headers.get("location")) == (302, PORTAL), (name, result)


def test_before_accepting_nothing_else_gets_through(network):
    topology, _, _ = network
    phone, other = topology.add_phone("captive"), topology.add_phone("captive2")
    phone.dhcp(), other.dhcp()
    phone.add_ipv6("2001:db8:42::50/64")
    topology.popen(other, [sys.executable, "-m", "http.server", "8000", "--bind", ANY_ADDRESS],
                   topology.workdir / "captive2-http.log")
    wait_until(lambda: other.tcp_connect(other.addresses("eth0")[0].split("/")[0], 8000, timeout=0.5).open,
               15, "other phone listening")
    queries_before = len(topology.resolver_queries())

    assert lands_on_portal(phone), "HTTP to the internet server must land on the portal"
    results = blocked_paths(topology, phone, other)
    getting_through = {name: result for name, result in results.items() if passed(result)}
    assert not getting_through, getting_through
    slow = {name: result.elapsed for name, result in results.items()
            if name in ("https", "dns-over-tls", "quic", "dashboard", "mediator-phone", "ssh")
            and result.elapsed >= 1.0}
    assert not slow, f"refused, but not within 1 s: {slow}"

    # DNS straight to the public resolver is answered by the kit's captive resolver instead…
    direct = phone.dns_query(PUBLIC_RESOLVER, "www.internet.test")
    assert direct.addresses == [KIT_LAN_IP]
    # …and so is a query through the kit: nothing reaches the upstream resolver before accepting.
    through = phone.dns_query(KIT_LAN_IP, "tunnel-abcdef.internet.test")
    assert through.addresses == [KIT_LAN_IP]
    assert phone.dns_query(KIT_LAN_IP, "use-application-dns.net").rcode_name == "NXDOMAIN"
    for qtype in ("TXT", "AAAA", "MX", "10"):  # the record types DNS tunnels use (10: NULL)
        phone.dns_query(KIT_LAN_IP, f"{qtype.lower()}-payload.tunnel.internet.test", qtype=qtype)
    names = [entry.name for entry in topology.resolver_queries()[queries_before:]]
    assert not [name for name in names if name.endswith("internet.test")], names


def test_a_port_scan_of_the_kit_finds_only_dns_dhcp_and_web(network):
    """The portal and the captive resolver listen on high ports: phones reach them only through the kit's
    own redirects (80 -> portal, 53 -> captive resolver), so a scan finds TCP 53 and 80, UDP 53 and 67."""
    topology, kit, _ = network
    captive_port = defaults().network.captive_dns_port
    phone = topology.add_phone("scan")
    assert phone.dhcp() is not None  # UDP 67 answers
    # Before accepting, 53 and 80 to any address are redirected to the kit: its staff address included.
    assert open_tcp_ports(phone, KIT_LAN_IP, KIT_STAFF_IP) == {KIT_LAN_IP: {53, 80}, KIT_STAFF_IP: {53, 80}}
    assert udp_answers(phone, 53)
    assert not udp_answers(phone, captive_port)
    # Through the redirects, everything a phone needs still answers before accepting.
    assert lands_on_portal(phone)
    assert phone.http_get(f"{PORTAL}api/captive").status == 200
    assert phone.http_get(f"{PORTAL}questionnaire?lang=fr").status == 200
    assert phone.dns_query(PUBLIC_RESOLVER, "www.internet.test").addresses == [KIT_LAN_IP]
    assert phone.dns_query(KIT_LAN_IP, "www.internet.test", tcp=True).addresses == [KIT_LAN_IP]

    # Control: the same rules without the redirect condition, and the real ports answer a phone directly.
    guards = redirect_guards(kit)
    assert len(guards) == 2, guards
    try:
        for handle, rule in guards.items():
            kit.host.run(["nft", "-f", "-"], check=True, stdin=(
                f"replace rule inet kiosk input handle {handle} {rule.replace('ct status dnat ', '')}\n"))
        assert open_tcp_ports(phone, KIT_LAN_IP) == {KIT_LAN_IP: {53, 80, captive_port, PORTAL_PORT}}
        assert udp_answers(phone, captive_port)
    finally:
        listing = kit.host.run(["nft", "-a", "list", "chain", "inet", "kiosk", "input"], check=True).stdout
        for rule in guards.values():
            unguarded = re.escape(rule.replace("ct status dnat ", ""))
            handle = re.search(rf"^\s*{unguarded} # handle (\d+)$", listing, re.MULTILINE)
            if handle:
                kit.host.run(["nft", "-f", "-"], check=True,
                             stdin=f"replace rule inet kiosk input handle {handle.group(1)} {rule}\n")
    assert len(redirect_guards(kit)) == 2

    # Accepted, the phone is no longer redirected: the real ports stay shut, its DNS goes to the main resolver.
    # (Probes, not a second full scan: traffic to the kit counts against the 2 MB quota of this kit.)
    assert kit.accept(phone).status == 303
    for port in (PORTAL_PORT, captive_port):
        assert not phone.tcp_connect(KIT_LAN_IP, port, timeout=2).open, port
    assert not udp_answers(phone, captive_port)
    assert phone.dns_query(KIT_LAN_IP, "www.internet.test").addresses == [PUBLIC_SERVER]
    assert phone.dns_query(KIT_LAN_IP, "www.internet.test", tcp=True).addresses == [PUBLIC_SERVER]
    assert phone.http_get(f"{PORTAL}api/captive").status == 200
    assert phone.http_get(f"{PORTAL}questionnaire?lang=fr").status == 200
    assert internet_answers(phone)

def test_walled_garden_is_reachable_before_accepting(network):
    topology, kit, _ = network
    phone = topology.add_phone("garden")
    phone.dhcp()
    try:
        answer = phone.dns_query(KIT_LAN_IP, "aide.internet.test")
        assert answer.addresses == [PUBLIC_SERVER]
        result = phone.http_get(f"http://{PUBLIC_SERVER}/", host_header="aide.internet.test")
        assert (result.status, result.text) == (200, "internet ok\n")
        assert [e["elem"]["val"] if isinstance(e, dict) else e for e in kit.ruleset_elements("walled_garden")]
    finally:
        # aide and www share the server's address here: forget it so later checks stay meaningful.
        topology.run(topology.kit, ["nft", "flush", "set", "inet", "kiosk", "walled_garden"], check=True)


def test_accepting_opens_the_internet_at_once(network):
    topology, kit, _ = network
    phone = topology.add_phone("accept")
    phone.dhcp()
    assert lands_on_portal(phone)
    accepted = kit.accept(phone, lang="ar")
    assert (accepted.status, accepted.location) == (303, "/welcome?lang=ar"), accepted
    assert internet_answers(phone)
    assert phone.tcp_connect(PUBLIC_SERVER, 443).open
    android = phone.http_get(f"http://{KIT_LAN_IP}/generate_204", host_header="connectivitycheck.gstatic.com")
    assert android.status == 204
    apple = phone.http_get(f"http://{KIT_LAN_IP}/hotspot-detect.html", host_header="captive.apple.com")
    assert apple.status == 200 and "Success" in apple.text
    queries_before = len(topology.resolver_queries())
    assert phone.dns_query(KIT_LAN_IP, "www.internet.test").addresses == [PUBLIC_SERVER]
    assert "www.internet.test" in [entry.name for entry in topology.resolver_queries()[queries_before:]]
    listed = kit.kiosk("clients", "list")
    assert phone.addresses("eth0")[0].split("/")[0] in listed.stdout


def test_quota_used_up_makes_the_phone_captive_again(network):
    topology, kit, _ = network
    phone = topology.add_phone("quota")
    phone.dhcp()
    kit.accept(phone)
    assert internet_answers(phone)
    first = phone.http_get(f"http://{PUBLIC_SERVER}/bytes/1000000", timeout=20)
    assert first.status == 200 and len(first.body) == 1_000_000
    for _ in range(4):  # up to 5 MB in all, past the 2 MB quota; the kit may cut in between downloads
        if phone.http_get(f"http://{PUBLIC_SERVER}/bytes/1000000", timeout=20).status != 200:
            break
    wait_until(lambda: lands_on_portal(phone), 20, "the phone captive again once its 2 MB are used")
    assert "quota" in kit.kiosk("connections", "export", "--since", "2000-01-01", "--until", "2100-01-01").stdout


def test_mediator_allows_and_denies_from_the_command_line(network):
    topology, kit, _ = network
    phone = topology.add_phone("cli")
    lease = phone.dhcp()
    allowed = kit.kiosk("clients", "allow", "--ip", lease.address)
    assert allowed.returncode == 0, allowed.stderr
    assert internet_answers(phone)
    denied = kit.kiosk("clients", "deny", "--ip", lease.address)
    assert denied.returncode == 0, denied.stderr
    assert lands_on_portal(phone)


def test_the_connection_log_names_the_phone_behind_a_public_source_port(network):
    """Both phones share the kit's uplink address; a lawful request names that address and a source port.
    The port the public server saw falls in the block the log records for that phone, and only there."""
    import csv
    import io

    topology, kit, _ = network
    phones = {name: topology.add_phone(name) for name in ("nata", "natb")}
    addresses = {}
    for name, phone in phones.items():
        addresses[name] = phone.dhcp().address
        assert kit.kiosk("clients", "allow", "--ip", addresses[name]).returncode == 0
    before = len(topology.internet_hits())
    for phone in phones.values():
        for _ in range(3):
            assert internet_answers(phone)
        assert phone.udp_exchange(PUBLIC_SERVER, 443, b"quic?", timeout=3).reply == b"quic?"
    hits = topology.internet_hits()[before:]
    export = kit.kiosk("connections", "export", "--since", "2000-01-01", "--until", "2100-01-01")
    assert export.returncode == 0, export.stderr
    blocks = {row["ip_address"]: row["nat_source_ports"] for row in csv.DictReader(io.StringIO(export.stdout))
              if row["end_utc"] == ""}
    spans = {name: tuple(map(int, blocks[ip].split("-"))) for name, ip in addresses.items()}
    assert spans["nata"] != spans["natb"]
    seen = [hit["client_port"] for hit in hits if hit["service"] in ("http", "udp")]
    assert len(seen) == 8
    for port in seen:
        owners = [name for name, (first, last) in spans.items() if first <= port <= last]
        assert len(owners) == 1, f"source port {port} is in no phone's block or in two: {spans}"
    assert {name for port in seen for name, (first, last) in spans.items() if first <= port <= last} == set(phones)


def test_a_packet_the_kit_cannot_track_never_leaves_with_the_phones_own_address(network):
    """Conntrack marks some packets invalid (UDP-Lite here), and NAT never sees those: they must not cross
    with the phone's private address and a port of its choosing, which would also fool the connection log."""
    import json
    import subprocess

    topology, kit, _ = network
    phone = topology.add_phone("invalid")
    lease = phone.dhcp()
    assert kit.kiosk("clients", "allow", "--ip", lease.address).returncode == 0
    listener_code = ("import json, socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 136); "
                     f"s.bind(({PUBLIC_SERVER!r}, 4443)); s.settimeout(4); seen = []; print('ready', flush=True)\n"
                     "try:\n    while len(seen) < 5: seen.append(s.recvfrom(100)[1][0])\n"
                     "except TimeoutError: pass\nprint(json.dumps(seen))")
    listener = subprocess.Popen(["ip", "netns", "exec", topology.internet, sys.executable, "-c", listener_code],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "ready"  # bound before the phone sends
        sent = phone.python("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 136)\n"
                            f"for _ in range(5): s.sendto(b'udp-lite', ({PUBLIC_SERVER!r}, 4443))")
        assert sent.returncode == 0, sent.stderr
        out, err = listener.communicate(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait(timeout=10)
    assert listener.returncode == 0, err
    sources = json.loads(out)
    assert not [source for source in sources if source.startswith("10.42.")], sources
    assert internet_answers(phone)  # ordinary traffic still goes through


def test_restart_and_reboot_keep_an_authorised_phone_online(network):
    topology, kit, _ = network
    phone = topology.add_phone("restart")
    phone.dhcp()
    kit.accept(phone)
    assert internet_answers(phone)
    kit.stop_kiosk()
    assert internet_answers(phone), "the grant lives in the firewall, not in the kiosk process"
    kit.load_ruleset()  # a reboot: the table comes back empty
    assert not internet_answers(phone)
    kit.start_kiosk()  # reconciles the firewall from the store
    wait_until(lambda: internet_answers(phone), 10, "the phone back online after the kiosk reconciled")


def test_uplink_unplugged_probes_still_reach_the_portal_and_offline_pages_load(network):
    topology, _, _ = network
    phone = topology.add_phone("offline")
    phone.dhcp()
    topology.unplug()
    try:
        assert phone.dns_query(KIT_LAN_IP, "connectivitycheck.gstatic.com").addresses == [KIT_LAN_IP]
        probe = phone.http_get(f"http://{KIT_LAN_IP}/generate_204", host_header="connectivitycheck.gstatic.com")
        assert (probe.status, probe.headers.get("location")) == (302, PORTAL)
        offline = phone.http_get(f"{PORTAL}info?lang=fr")
        assert offline.status == 200 and "Infos pratiques" in offline.text
        # The portal says so plainly (the WAN lost its carrier), with no restart and no data spent.
        wait_until(lambda: "Les services ci-dessous marchent" in phone.http_get(f"{PORTAL}?lang=fr").text, 10,
                   "the portal telling the internet is down")
    finally:
        topology.plug()
    wait_until(lambda: "aller sur internet" in phone.http_get(f"{PORTAL}?lang=fr").text, 10,
               "the accept button back once the uplink returns")


def test_a_firewall_reloaded_while_the_kit_runs_is_restored_without_a_restart(network):
    topology, kit, _ = network
    phone = topology.add_phone("reload")
    phone.dhcp()
    kit.accept(phone)
    assert internet_answers(phone)
    kit.load_ruleset()  # `nft -f` by a playbook, or the nftables service restarted
    wait_until(lambda: internet_answers(phone), 10, "the lost grant restored by the kit's next sweep")


def test_the_staff_network_reaches_the_dashboard_and_the_internet_without_the_portal(network):
    topology, kit, _ = network
    mediator = kit.mediator
    lease = mediator.dhcp()
    assert lease.address.startswith("10.42.1.") and lease.router == KIT_STAFF_IP, lease
    # The dashboard on the kit's staff address, by its own port and by plain http://10.42.1.1/.
    for url in (f"http://{KIT_STAFF_IP}:{DASHBOARD_PORT}/", f"http://{KIT_STAFF_IP}/"):
        page = mediator.http_get(url, timeout=5)
        assert page.status == 303 and "/login" in page.headers.get("location", ""), (url, page)
        login = mediator.http_get(url + "login", timeout=5)
        assert login.status == 200 and "Tableau de bord des médiateurs" in login.text, (url, login.status)
    # Mediators' phones never see the portal: their probes succeed and the internet answers at once.
    probe = mediator.http_get(f"http://{KIT_LAN_IP}/generate_204", host_header="connectivitycheck.gstatic.com")
    assert probe.status == 204
    assert mediator.http_get(f"http://{PUBLIC_SERVER}/", timeout=3).text == "internet ok\n"
    assert mediator.dns_query(KIT_STAFF_IP, "www.internet.test").addresses == [PUBLIC_SERVER]
    # A participant's http://10.42.1.1/ is the portal, like any web address before accepting…
    phone = topology.add_phone("staffcheck")
    phone.dhcp()
    assert lands_on_portal(phone, f"http://{KIT_STAFF_IP}/")
    # …and once accepted, neither the dashboard nor a mediator's phone answers.
    assert kit.accept(phone).status == 303
    assert internet_answers(phone)
    for port in (DASHBOARD_PORT, 80):
        assert not phone.tcp_connect(KIT_STAFF_IP, port, timeout=3).open, port
    assert not phone.tcp_connect(MEDIATOR_IP, 8000, timeout=3).open

    # A participant who takes a staff address on the open Wi-Fi is dropped at the door: the kiosk trusts
    # the staff network by address, so it must never see such a packet.
    spoofer = topology.add_phone("spoofer")
    spoofer.static("10.42.1.77/16")  # /16: the kit's 10.42.0.1 stays its gateway
    dropped = kit.dropped_as_spoofed("lan0")
    probe = spoofer.http_get(f"http://{KIT_LAN_IP}/generate_204", host_header="connectivitycheck.gstatic.com",
                             timeout=2)
    assert probe.status is None, probe
    assert not spoofer.http_get(f"http://{PUBLIC_SERVER}/", timeout=2).status
    assert kit.dropped_as_spoofed("lan0") > dropped


def test_with_the_uplinks_own_resolvers_nothing_is_forwarded_before_accepting(tmp_path):
    """network.upstream_dns left empty: the main resolver uses the uplink's (resolv.conf). The captive
    resolver must still forward nothing but the walled garden, for any record type."""
    with open_topology(tmp_path / "net", on_unavailable=unavailable) as topology:
        topology.write_resolv_conf(topology.kit, [PUBLIC_RESOLVER])
        kit = KitUnderTest(topology, tmp_path / "kit", upstream_dns=(), check_enabled=False).start()
        phone = topology.add_phone("noup")
        phone.dhcp()
        queries_before = len(topology.resolver_queries())
        for qtype in ("A", "TXT", "AAAA", "MX", "10", "CNAME"):  # 10: NULL
            phone.dns_query(KIT_LAN_IP, f"{qtype.lower()}-payload.tunnel.internet.test", qtype=qtype)
        names = [entry.name for entry in topology.resolver_queries()[queries_before:]]
        assert not [name for name in names if "tunnel" in name], names
        assert phone.dns_query(KIT_LAN_IP, "aide.internet.test").addresses == [PUBLIC_SERVER]
        assert kit.accept(phone).status == 303
        assert phone.dns_query(KIT_LAN_IP, "www.internet.test").addresses == [PUBLIC_SERVER]


def test_session_expiry_makes_the_phone_captive_again(tmp_path):
    """A separate kit with one-minute sessions: the set element's timeout closes access by itself."""
    with open_topology(tmp_path / "net", on_unavailable=unavailable) as topology:
        kit = KitUnderTest(topology, tmp_path / "kit", session_minutes=1, check_enabled=False).start()
        phone = topology.add_phone("expiry")
        phone.dhcp()
        started = time.monotonic()
        kit.accept(phone)
        assert internet_answers(phone)
        wait_until(lambda: lands_on_portal(phone), 90, "the phone captive again after its one-minute session")
        assert time.monotonic() - started >= 55
