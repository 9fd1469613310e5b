"""`kiosk network render`: one source of truth for nftables, dnsmasq and hostapd."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kiosk.adapters.firewall import Client, FirewallError, Grant, QuotaReading
from kiosk.adapters.nftables import grant_commands, parse_counters, parse_quotas, quota_objects, revoke_commands
from kiosk.probes import PINNED_PROBE_NAMES
from tests.support.system import kiosk_command, need_binary

CONFIG = """\
[portal]
listen = "0.0.0.0:8080"
public_url = "http://10.42.0.1/"
[network]
lan_interface = "lan0"
wan_interface = "wan0"
upstream_dns = ["198.51.100.53"]
walled_garden = ["aide.internet.test", "www.service-public.fr"]
staff_interface = "wlan1"
[wifi]
ssid = "Point numérique"
country = "FR"
channel = 11
staff_ssid = "Equipe"
staff_channel = 1
"""


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    config = tmp_path / "kit.toml"
    config.write_text(CONFIG)
    result = subprocess.run(kiosk_command("--config", str(config), "network", "render", "--dest",
                                          str(tmp_path / "out")), capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    return tmp_path / "out"


def test_render_writes_the_five_files_and_is_idempotent(rendered, tmp_path):
    assert sorted(p.name for p in rendered.iterdir()) == [
        "dnsmasq-captive.conf", "dnsmasq.conf", "hostapd-staff.conf", "hostapd.conf", "nftables.nft"]
    again = subprocess.run(kiosk_command("--config", str(tmp_path / "kit.toml"), "network", "render", "--dest",
                                         str(rendered)), capture_output=True, text=True, timeout=60, check=False)
    assert again.stdout.count("unchanged") == 5


def test_without_a_staff_wifi_its_hostapd_file_is_removed(rendered, tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text(CONFIG.replace('staff_ssid = "Equipe"\n', ""))
    done = subprocess.run(kiosk_command("--config", str(config), "network", "render", "--dest", str(rendered)),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "hostapd-staff.conf: removed" in done.stdout
    assert not (rendered / "hostapd-staff.conf").exists()
    # A wired staff network (no SSID) still gets its addresses.
    assert "interface=wlan1" in (rendered / "dnsmasq.conf").read_text()


def test_dhcp_announces_the_portal_api_and_the_kit_as_router_and_resolver(rendered):
    main = (rendered / "dnsmasq.conf").read_text()
    assert 'dhcp-option=tag:lan,114,"http://10.42.0.1/api/captive"' in main
    assert "dhcp-option=tag:lan,option:router,10.42.0.1" in main
    assert "dhcp-range=set:lan,10.42.0.20,10.42.0.250,255.255.255.0,180m" in main
    assert not [line for line in main.splitlines() if line.startswith("enable-ra")]  # no router advertisement
    assert "address=/use-application-dns.net/\n" in main
    for name in PINNED_PROBE_NAMES:
        assert f"address=/{name}/10.42.0.1" in main
    assert "server=198.51.100.53" in main and "no-resolv" in main
    assert "interface=wlan1" in main  # the staff network gets addresses too
    assert "dhcp-option=tag:staff,option:router,10.42.1.1" in main


def test_captive_resolver_answers_the_kit_for_everything_but_the_walled_garden(rendered):
    captive = (rendered / "dnsmasq-captive.conf").read_text()
    assert "port=5300" in captive
    assert "no-resolv" in captive  # never forwards anything but the walled garden
    assert captive.rstrip().endswith("address=/#/10.42.0.1")
    assert "server=/aide.internet.test/198.51.100.53" in captive
    assert "nftset=/aide.internet.test/4#inet#kiosk#walled_garden" in captive
    assert "dhcp-range" not in captive


def test_hostapd_isolates_participants_and_keeps_the_staff_passphrase_out_of_the_files(rendered):
    hostapd = (rendered / "hostapd.conf").read_text()
    for line in ("interface=lan0", "ssid=Point numérique", "utf8_ssid=1", "country_code=FR", "channel=11",
                 "ap_isolate=1"):
        assert line + "\n" in hostapd, line
    assert "Equipe" not in hostapd and "wpa" not in hostapd and "bss=" not in hostapd  # open, one network
    staff = (rendered / "hostapd-staff.conf").read_text()
    for line in ("interface=wlan1", "ssid=Equipe", "wpa=2", "rsn_pairwise=CCMP", "channel=1", "ap_isolate=1",
                 "wpa_psk_file=/etc/triporteur/staff-wifi.psk"):
        assert line + "\n" in staff, line
    assert "wpa_passphrase" not in hostapd + staff


def test_the_staff_network_gets_everything_and_its_web_port_leads_to_the_dashboard(rendered):
    ruleset = (rendered / "nftables.nft").read_text()
    assert 'iifname "wlan1" ip daddr 10.42.1.1 tcp dport 80 dnat ip to 10.42.1.1:8081' in ruleset
    # Neither side may use the other's addresses: the kiosk trusts the staff network by address.
    assert 'iifname "lan0" ip saddr != { 0.0.0.0, 10.42.0.0/24 } counter drop' in ruleset
    assert 'iifname "wlan1" ip saddr != { 0.0.0.0, 10.42.1.0/24 } counter drop' in ruleset
    assert 'iifname "wlan1" accept' in ruleset  # input: dashboard, SSH for the tech lead
    assert 'iifname "wlan1" oifname "wan0" accept' in ruleset  # mediators' phones reach the internet


def test_ruleset_owns_only_its_table(rendered):
    ruleset = (rendered / "nftables.nft").read_text()
    assert "flush ruleset" not in ruleset
    tables = {line.split("{")[0].strip() for line in ruleset.splitlines() if line.startswith("table ")}
    assert tables == {"table inet kiosk"}


def test_the_portal_and_captive_resolver_ports_take_only_the_kits_own_redirects(rendered):
    """A phone's scan of the kit finds DNS, DHCP and web only: 8080 and 5300 are reached through the
    redirects of 80 and 53, never directly (the end-to-end scan is in tests/integration)."""
    ruleset = (rendered / "nftables.nft").read_text()
    input_chain = ruleset.split("chain input {")[1].split("}\n")[0]
    assert "ip daddr 10.42.0.1 meta l4proto { tcp, udp } th dport 5300 ct status dnat accept" in input_chain
    assert "ip daddr 10.42.0.1 tcp dport 8080 ct status dnat accept" in input_chain
    assert "ip daddr 10.42.0.1 meta l4proto { tcp, udp } th dport 53 accept" in input_chain
    accepts = [line.strip() for line in input_chain.splitlines() if line.strip().endswith("accept")]
    unguarded = [line for line in accepts if ("5300" in line or "8080" in line) and "ct status dnat" not in line]
    assert not unguarded, unguarded
    prerouting = ruleset.split("chain prerouting {")[1].split("}\n")[0]
    assert "th dport 53 redirect to :5300" in prerouting and "tcp dport 80 redirect to :8080" in prerouting


@pytest.mark.system
def test_dnsmasq_accepts_both_configs(rendered):
    dnsmasq = need_binary("dnsmasq")
    for name in ("dnsmasq.conf", "dnsmasq-captive.conf"):
        result = subprocess.run([dnsmasq, "--test", f"--conf-file={rendered / name}"], capture_output=True,
                                text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr


def test_grant_and_revoke_are_one_batch_each():
    grant = Grant(Client("10.42.0.23", "5a:11:22:33:44:55"), expires_at=1000 + 7200)
    assert grant_commands(grant, now=1000) == [
        "add element inet kiosk allowed { 5a:11:22:33:44:55 . 10.42.0.23 timeout 7200s }",
        "add element inet kiosk allowed_ips { 10.42.0.23 timeout 7200s }"]
    assert grant_commands(Grant(Client(None, "02:aa:bb:cc:dd:ee"), None), now=0) == [
        "add element inet kiosk allowed_macs { 02:aa:bb:cc:dd:ee }"]
    assert len(revoke_commands(grant.client)) == 8  # add-then-delete never fails on a missing element
    with pytest.raises(FirewallError, match="already expired"):
        grant_commands(grant, now=10_000)


def test_a_grant_with_a_budget_gets_its_own_kernel_quota_and_revoking_deletes_it():
    client = Client("10.42.0.23", "5a:11:22:33:44:55")
    commands = grant_commands(Grant(client, 1000 + 600, quota_bytes=2_000_000), now=1000)
    assert commands[:2] == ["add quota inet kiosk q_10_42_0_23 { over 2000000 bytes }",
                            'add element inet kiosk session_quotas { 10.42.0.23 timeout 600s : "q_10_42_0_23" }']
    assert revoke_commands(client)[-1] == "delete quota inet kiosk q_10_42_0_23"
    # By MAC alone there is no kernel quota: a download's destination MAC is unknown in the forward hook.
    assert grant_commands(Grant(Client(None, "02:aa:bb:cc:dd:ee"), None, quota_bytes=5), now=0) == [
        "add element inet kiosk allowed_macs { 02:aa:bb:cc:dd:ee }"]


@pytest.mark.parametrize("budget", [0, -1, True, 2.5, "1000", 10**16])
def test_a_malformed_budget_is_refused_in_one_sentence(budget):
    with pytest.raises(FirewallError, match="whole number of bytes"):
        grant_commands(Grant(Client("10.42.0.23", "5a:11:22:33:44:55"), None, quota_bytes=budget), now=0)


def test_quotas_are_read_per_address_through_the_map():
    listing = {"nftables": [
        {"quota": {"family": "inet", "name": "q_10_42_0_23", "table": "kiosk", "bytes": 2000000, "used": 2000417,
                   "inv": True}},
        {"quota": {"family": "inet", "name": "q_10_42_0_24", "table": "kiosk", "bytes": 500, "used": 0, "inv": True}},
        {"map": {"family": "inet", "name": "session_quotas", "table": "kiosk", "type": "ipv4_addr", "map": "quota",
                 "elem": [[{"elem": {"val": "10.42.0.23", "timeout": 600, "expires": 500}}, "q_10_42_0_23"],
                          ["10.42.0.24", "q_10_42_0_24"]]}},
    ]}
    quotas = parse_quotas(listing)
    assert quotas == {"10.42.0.23": QuotaReading(2000417, 2000000), "10.42.0.24": QuotaReading(0, 500)}
    assert quotas["10.42.0.23"].exhausted and not quotas["10.42.0.24"].exhausted
    assert quota_objects(listing) == ["q_10_42_0_23", "q_10_42_0_24"]


def test_counters_add_upload_and_download_per_phone():
    listing = {"nftables": [
        {"metainfo": {"version": "1.0.6"}},
        {"set": {"family": "inet", "name": "allowed", "table": "kiosk", "elem": [
            {"elem": {"val": {"concat": ["5a:11:22:33:44:55", "10.42.0.23"]}, "timeout": 7200,
                      "counter": {"packets": 3, "bytes": 1200}}}]}},
        {"set": {"family": "inet", "name": "allowed_ips", "table": "kiosk", "elem": [
            {"elem": {"val": "10.42.0.23", "counter": {"packets": 9, "bytes": 48000}}}]}},
        {"set": {"family": "inet", "name": "allowed_macs", "table": "kiosk", "elem": [
            {"elem": {"val": "02:aa:bb:cc:dd:ee", "counter": {"packets": 1, "bytes": 60}}}]}},
    ]}
    assert parse_counters(listing) == {Client("10.42.0.23", "5a:11:22:33:44:55"): 49200,
                                       Client(None, "02:aa:bb:cc:dd:ee"): 60}


@pytest.mark.system
def test_hostapd_parses_the_rendered_file_without_error(rendered, tmp_path):
    """The real hostapd reads the whole file before it looks for a radio (none here), reporting each bad
    line; the control config proves a bad line would be caught."""
    hostapd = need_binary("hostapd", "/usr/sbin/hostapd")

    def parse(path: Path) -> str:
        result = subprocess.run([hostapd, "-dd", str(path)], capture_output=True, text=True, timeout=30,
                                check=False)
        return result.stdout + result.stderr

    control = tmp_path / "control.conf"
    control.write_text("interface=lan0\ndriver=nl80211\nchanel=6\n")
    assert "errors found in configuration file" in parse(control)
    for name in ("hostapd.conf", "hostapd-staff.conf"):
        output = parse(rendered / name)
        assert "errors found in configuration file" not in output, (name, output)
        assert "unknown configuration item" not in output, name
        assert "nl80211" in output, name  # it went on to the driver, past the whole configuration


def test_every_participant_address_leaves_through_its_own_block_of_nat_ports(rendered):
    """The connection log can name the device behind the kit's public address and a source port."""
    import ipaddress
    import itertools
    import re

    from kiosk.adapters import natports

    ruleset = (rendered / "nftables.nft").read_text()
    rules = re.findall(r"ip saddr (10\.42\.0\.\d+) masquerade to :(\d+)-(\d+)", ruleset)
    lan = ipaddress.IPv4Interface("10.42.0.1/24")
    assert [address for address, _, _ in rules] == [f"10.42.0.{n}" for n in range(2, 255)]  # all but the kit
    ranges = sorted((int(first), int(last)) for _, first, last in rules)
    assert all(last - first + 1 >= natports.MIN_BLOCK for first, last in ranges)
    assert all(previous[1] < following[0] for previous, following in itertools.pairwise(ranges))
    assert ranges[0][0] > 9999 and ranges[-1][1] <= 65535  # clear of the kit's and the mediators' ports
    assert 'masquerade to :1024-9999' in ruleset
    assert str(natports.block_for(lan, "10.42.0.23")) == "-".join(
        next((first, last) for address, first, last in rules if address == "10.42.0.23"))
    assert natports.block_for(lan, "10.42.0.1") is None and natports.block_for(lan, "192.0.2.5") is None


def test_a_participants_network_too_large_for_port_blocks_is_refused(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text('[network]\nlan_address = "10.42.0.1/22"\n')
    result = subprocess.run(kiosk_command("config", "check", str(config)), capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "network.lan_address: is too large" in result.stderr and "/24 or smaller" in result.stderr
