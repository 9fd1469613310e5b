"""playbooks/site.yml on a real Debian root (debootstrap, as Raspberry Pi OS Lite), through Ansible's chroot
connection — the image-baking path — then proven: a second run changes nothing, `--check --diff` changes
nothing, and the provisioned system serves a phone end to end inside network namespaces, with its own
installed units (nftables ruleset, both dnsmasq, the privileged helper as root, `kiosk serve` as the
service user from the installed virtual environment). Then collect.yml and `provision fleet` on two
provisioned kits and one that cannot be reached.

Timings of the runs are printed (pytest -s shows them); bench/provision.py measures them on purpose.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.test_playbooks_rootfs import (
    PlaybookRun,
    Unit,
    chroot_kit,
    copy_root,
    fresh_root,
    in_root,
    kit_group_vars,
    process_uid,
    remove_root,
    require_tools,
    run_in_roots,
    run_playbook,
    start_unit,
    sysctl_file,
    write_inventory,
)
from tests.stands.kit import KitUnderTest, wait_until
from tests.stands.netns import KIT_LAN_IP, KIT_STAFF_IP, PUBLIC_SERVER, open_topology
from tests.support.system import free_port, need_binary, unavailable

pytestmark = pytest.mark.system

PORTAL = f"http://{KIT_LAN_IP}/"
VAULT_PASSWORD = "test-vault-password"  # noqa: S105 - a throwaway vault made by this test
DASHBOARD_PASSWORD = "correct horse battery staple"  # noqa: S105 - encrypted into the test's own vault
SECRETS_TOOL = "/usr/local/lib/triporteur/triporteur-secrets"
FLEET_HUB = "ssh://fleet@203.0.113.2/srv/fleet.git"
FLEET_HOST_KEY = "203.0.113.2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZsZWV0LWh1Yi1ob3N0LWtleS1mb3ItdGVzdHM"
FLEET_SIGNER = 'lead@example.org namespaces="git" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxlYWQtc2lnbmluZy1rZXk'


@dataclass
class Provisioned:
    root: Path
    spare: Path  # a copy of the provisioned root, before anything ran in it (the second kit)
    inventory: Path
    wheelhouse: Path
    workdir: Path
    first: PlaybookRun
    second: PlaybookRun
    check: PlaybookRun


def _vault_file(workdir: Path) -> Path:
    path = workdir / "vault-password"
    path.write_text(VAULT_PASSWORD + "\n")
    path.chmod(0o600)
    return path


def _vaulted(name: str, value: str, vault_file: Path) -> str:
    vault = str(Path(sys.executable).parent / "ansible-vault")
    done = subprocess.run([vault, "encrypt_string", "--vault-password-file", str(vault_file), "--name", name, value],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory) -> Iterator[Provisioned]:
    require_tools()
    workdir = tmp_path_factory.mktemp("playbooks")
    wheelhouse = workdir / "wheelhouse"
    root = fresh_root(workdir / "kit-a")
    # kit-a is provisioned as an image is baked: nothing secret may end up in it.
    inventory = write_inventory(workdir / "inventory", {
        "kit-a": chroot_kit(root, kit_base_hostname="kit-a", kit_kiosk_ssid="Kit A", kit_kiosk_monthly_cap_mb=20000,
                            kit_area="Nord", kit_secrets_image_build=True,
                            kit_kiosk_host_settings={"fleet": {"hub": FLEET_HUB, "kit_name": "kit-a"}},
                            kit_fleet_hub_host_keys=[FLEET_HOST_KEY], kit_fleet_signers=[FLEET_SIGNER])},
        kit_group_vars(wheelhouse))
    first = run_playbook([root], inventory, "site.yml", log=workdir / "first.log")
    print(f"\nfirst run on a fresh root: {first.seconds:.0f} s")
    second = run_playbook([root], inventory, "site.yml", log=workdir / "second.log")
    print(f"second run: {second.seconds:.0f} s")
    check = run_playbook([root], inventory, "site.yml", "--check", "--diff", log=workdir / "check.log")
    print(f"--check --diff run: {check.seconds:.0f} s")
    spare = copy_root(root, workdir / "kit-b") if first.returncode == 0 else workdir / "kit-b"
    try:
        yield Provisioned(root, spare, inventory, wheelhouse, workdir, first, second, check)
    finally:
        for path in (root, spare):
            remove_root(path)


def test_site_yml_turns_a_debian_root_into_a_kit(provisioned):
    run = provisioned.first
    assert run.returncode == 0, run.output[-4000:]
    assert run.recap["kit-a"].failed == 0 and run.recap["kit-a"].changed > 20
    root = provisioned.root
    assert (root / "opt/triporteur/venv/bin/kiosk").exists()
    check = in_root(root, "/opt/triporteur/venv/bin/kiosk", "config", "check", "/etc/triporteur/kit.toml")
    assert check.returncode == 0, check.stderr
    settings = (root / "etc/triporteur/kit.toml").read_text()
    assert 'ssid = "Kit A"' in settings and "monthly_cap_mb = 20000" in settings
    assert json.loads((root / "etc/triporteur/release.json").read_text())["version"] == "0.1.0"
    for name in ("nftables.nft", "dnsmasq.conf", "dnsmasq-captive.conf", "hostapd.conf"):
        assert "Generated by `kiosk network render`" in (root / "etc/triporteur/generated" / name).read_text()
    assert 'include "/etc/triporteur/generated/nftables.nft"' in (root / "etc/nftables.conf").read_text()
    assert "net.ipv4.ip_forward = 1" in (root / "etc/sysctl.d/60-triporteur.conf").read_text()


def test_second_run_changes_nothing(provisioned):
    run = provisioned.second
    assert run.returncode == 0, run.output[-4000:]
    assert run.recap["kit-a"].changed == 0, f"changed on the second run: {run.changed_tasks()}"


def test_check_diff_runs_and_changes_nothing(provisioned):
    run = provisioned.check
    assert run.returncode == 0, run.output[-4000:]
    assert run.recap["kit-a"].changed == 0, f"--check would change: {run.changed_tasks()}"


def test_units_are_enabled_not_started_and_hardened(provisioned):
    root = provisioned.root
    wants = root / "etc/systemd/system/multi-user.target.wants"
    for unit in ("triporteur-kiosk.service", "triporteur-privileged.service", "triporteur-dnsmasq.service",
                 "triporteur-dnsmasq-captive.service", "triporteur-hostapd.service", "triporteur-lan.service",
                 "triporteur-firstboot.service", "ModemManager.service"):
        assert (wants / unit).is_symlink(), unit
    assert (root / "etc/systemd/system/sysinit.target.wants/nftables.service").is_symlink()
    assert not (wants / "hostapd.service").exists(), "Debian's own hostapd instance stays off"
    # The mediators' network starts when its adapter appears, never holding the participants' side up.
    staff_wants = root / "etc/systemd/system/sys-subsystem-net-devices-staff0.device.wants"
    for unit in ("triporteur-staff.service", "triporteur-hostapd-staff.service"):
        assert (staff_wants / unit).is_symlink() and not (wants / unit).exists(), unit
    assert "staff0" not in (root / "etc/systemd/system/triporteur-lan.service").read_text()
    settings = (root / "etc/triporteur/kit.toml").read_text()
    assert 'listen = "10.42.1.1:8081"' in settings and 'staff_ssid = "Equipe kit-a"' in settings
    timers = root / "etc/systemd/system/timers.target.wants"
    for timer in ("triporteur-purge.timer", "triporteur-quota.timer", "triporteur-clock-save.timer"):
        assert (timers / timer).is_symlink(), timer
    kiosk = Unit.read(root, "triporteur-kiosk.service")
    assert kiosk.user == "kiosk"
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                       ("PrivateTmp", "yes"), ("CapabilityBoundingSet", "")):
        assert kiosk.settings[key] == [value], key
    helper = Unit.read(root, "triporteur-privileged.service")
    assert helper.user == "root"
    assert helper.settings["CapabilityBoundingSet"] == ["CAP_NET_ADMIN CAP_CHOWN CAP_SYS_TIME"]
    assert not (root / "usr/sbin/policy-rc.d").exists(), "the chroot's service block was left in the image"
    assert "Storage=volatile" in (root / "etc/systemd/journald.conf.d/10-triporteur.conf").read_text()
    sshd = (root / "etc/ssh/sshd_config.d/10-triporteur.conf").read_text()
    assert "PasswordAuthentication no" in sshd and "PermitRootLogin no" in sshd
    assert "ssh-ed25519" in (root / "home/triporteur/.ssh/authorized_keys").read_text()


def test_the_fleet_pull_is_installed_with_its_pinned_keys_and_no_kit_key(provisioned):
    root = provisioned.root
    assert (root / "etc/systemd/system/timers.target.wants/triporteur-fleet.timer").is_symlink()
    assert (root / "etc/triporteur/fleet/known_hosts").read_text() == FLEET_HOST_KEY + "\n"
    assert (root / "etc/triporteur/fleet/allowed_signers").read_text() == FLEET_SIGNER + "\n"
    service = Unit.read(root, "triporteur-fleet.service")
    assert service.settings["ExecStart"][0].endswith("fleet pull")
    assert f'hub = "{FLEET_HUB}"' in (root / "etc/triporteur/kit.toml").read_text()
    assert (root / "usr/bin/ansible-pull").exists() and (root / "usr/bin/git").exists()
    # The kit's own key is made on the device by the unit's first run, never baked into the image.
    assert not (root / "var/lib/triporteur/fleet/id_ed25519").exists()
    # Participants are kept off the hub by the kit's firewall.
    assert "203.0.113.2 } reject" in (root / "etc/triporteur/generated/nftables.nft").read_text()


def test_no_secret_is_baked_into_the_image(provisioned):
    root = provisioned.root
    assert not list((root / "etc/ssh").glob("ssh_host_*")), "SSH host keys must be made by each kit"
    assert (root / "etc/machine-id").read_text() == ""
    assert not (root / "var/lib/triporteur/.secrets-done").exists()
    assert not (root / "var/lib/triporteur/secrets/dashboard-password.hash").exists()
    assert not (root / "var/lib/triporteur/secrets/tablets_ed25519").exists()


def _setting_line(path: Path, key: str) -> str:
    """A key=value line of a rendered dnsmasq file (the installed configuration, whatever its defaults)."""
    for line in path.read_text().splitlines():
        if line.startswith(f"{key}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"no {key}= in {path}")


def _internet_answers(phone) -> bool:
    result = phone.http_get(f"http://{PUBLIC_SERVER}/", timeout=3)
    return result.status == 200 and result.text == "internet ok\n"


def _lands_on_portal(phone) -> bool:
    result = phone.http_get(f"http://{PUBLIC_SERVER}/", timeout=3)
    return result.status == 302 and result.headers.get("location") == PORTAL


def test_the_provisioned_kit_serves_a_phone_end_to_end(provisioned, tmp_path):
    """First boot, then the installed units in the kit namespace; a phone joins, lands on the portal,
    accepts, reaches the internet. The web process runs as the service user, not root."""
    root = provisioned.root
    for binary in ("ip", "dhclient"):
        need_binary(binary)
    with open_topology(tmp_path / "net", on_unavailable=unavailable) as topology:
        topology.sysctl(topology.kit, sysctl_file(root, "60-triporteur.conf"))
        logs = tmp_path / "units"
        logs.mkdir()
        for unit in ("triporteur-firstboot.service", "nftables.service", "triporteur-lan.service"):
            start_unit(topology, root, unit, logs)
        started = {unit: start_unit(topology, root, unit, logs)
                   for unit in ("triporteur-dnsmasq.service", "triporteur-dnsmasq-captive.service",
                                "triporteur-privileged.service", "triporteur-kiosk.service")}
        kit = topology.kit_host
        captive_port = _setting_line(root / "etc/triporteur/generated/dnsmasq-captive.conf", "port")
        try:
            wait_until(lambda: kit.tcp_connect(KIT_LAN_IP, 53, timeout=0.5).open
                       and kit.tcp_connect(KIT_LAN_IP, int(captive_port), timeout=0.5).open, 30,
                       "both dnsmasq listening")
            wait_until(lambda: kit.tcp_connect(KIT_LAN_IP, 8080, timeout=0.5).open, 60, "kiosk serve listening")
            assert process_uid(started["triporteur-kiosk.service"].pid) != 0, "the web process must not be root"
            assert process_uid(started["triporteur-privileged.service"].pid) == 0

            # First boot made this kit's own secrets.
            assert list((root / "etc/ssh").glob("ssh_host_ed25519_key*"))
            assert (root / "var/lib/triporteur/secrets/tablets_ed25519").exists()
            assert (root / "var/lib/triporteur/secrets/dashboard-password.hash").read_text().startswith("scrypt$")
            shown = root / "root/triporteur-first-boot.txt"
            assert "Dashboard password:" in shown.read_text() and oct(shown.stat().st_mode)[-3:] == "600"

            phone = topology.add_phone("joins")
            lease = phone.dhcp()
            assert lease is not None and lease.address.startswith("10.42.0.")
            assert lease.router == KIT_LAN_IP and lease.captive_portal == f"{PORTAL}api/captive"
            assert lease.address in (root / "var/lib/misc/dnsmasq.leases").read_text()
            assert _lands_on_portal(phone), "before accepting, web pages land on the portal"
            assert not phone.tcp_connect(PUBLIC_SERVER, 443, timeout=3).open
            accepted = KitUnderTest(topology, tmp_path / "accept").accept(phone)
            assert (accepted.status, accepted.location) == (303, "/welcome?lang=fr"), accepted
            wait_until(lambda: _internet_answers(phone), 15, "the phone on the internet after accepting")
            assert phone.tcp_connect(PUBLIC_SERVER, 443, timeout=3).open

            # The staff adapter is plugged in after the kiosk started: its unit gives the kit its staff
            # address, and a mediator's phone gets an address there and opens the dashboard.
            mediator = topology.add_staff_device()
            start_unit(topology, root, "triporteur-staff.service", logs)
            staff_lease = mediator.dhcp()
            assert staff_lease.address.startswith("10.42.1.") and staff_lease.router == KIT_STAFF_IP
            dashboard = mediator.http_get(f"http://{KIT_STAFF_IP}/", timeout=5)
            assert dashboard.status == 303 and "/login" in dashboard.headers.get("location", ""), dashboard
            login = mediator.http_get(f"http://{KIT_STAFF_IP}/login", timeout=5)
            assert login.status == 200 and 'type="password"' in login.text
            assert mediator.http_get(f"http://{PUBLIC_SERVER}/", timeout=3).text == "internet ok\n"
            assert not phone.tcp_connect(KIT_STAFF_IP, 8081, timeout=3).open, "participants never reach it"
        finally:
            print(topology.run(topology.kit, ["ss", "-ltnup"]).stdout)
            for name in sorted(logs.glob("*.log")):
                print(f"\n--- {name.name}\n{name.read_text(errors='replace')[-3000:]}")


def _seed_sessions(root: Path, addresses: list[tuple[str, str]]) -> None:
    """Real sessions in the kit's store, through its own CLI as the service user (firewall backend none)."""
    for ip, mac in addresses:
        for action in ("allow", "deny"):
            done = in_root(root, "/opt/triporteur/venv/bin/kiosk", "--config", "/etc/triporteur/kit.toml", "clients",
                           action, "--ip", ip, "--mac", mac, user="kiosk", env=["KIOSK_FIREWALL_BACKEND=none"])
            assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def fleet(provisioned) -> Iterator[Path]:
    """Two provisioned kits and one that cannot be reached, in one inventory with a vault."""
    need_binary("ssh")
    workdir = provisioned.workdir / "fleet"
    vault = _vault_file(provisioned.workdir)
    kits = {
        "kit-a": chroot_kit(provisioned.root, kit_base_hostname="kit-a", kit_kiosk_ssid="Kit A",
                            kit_kiosk_monthly_cap_mb=20000, kit_area="Nord", kit_secrets_image_build=True),
        "kit-b": chroot_kit(provisioned.spare, kit_base_hostname="kit-b", kit_kiosk_ssid="Kit B", kit_area="Sud"),
        "kit-c": {"ansible_host": "127.0.0.1", "ansible_port": free_port(), "ansible_user": "nobody",
                  "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                             "-o ConnectTimeout=3", "kit_area": "Sud"},
    }
    inventory = write_inventory(workdir / "inventory", kits, kit_group_vars(provisioned.wheelhouse),
                                {"kit-b": _vaulted("kit_secrets_dashboard_password", DASHBOARD_PASSWORD, vault)})
    second_kit = run_playbook([provisioned.spare], inventory, "site.yml", "--limit", "kit-b",
                              "--vault-password-file", str(vault), log=workdir.parent / "kit-b.log")
    print(f"\nsecond kit (a copy, with its own settings and a vaulted password): {second_kit.seconds:.0f} s")
    assert second_kit.returncode == 0, second_kit.output[-4000:]
    _seed_sessions(provisioned.root, [("10.42.0.31", "02:00:00:00:00:31"), ("10.42.0.32", "02:00:00:00:00:32")])
    _seed_sessions(provisioned.spare, [("10.42.0.41", "02:00:00:00:00:41")])
    yield inventory


def _fleet_cli(provisioned: Provisioned, inventory: Path, *args: str, log: str) -> tuple[int, str]:
    vault = provisioned.workdir / "vault-password"
    command = [sys.executable, "-m", "provisioning.fleet_cli", *args, "--inventory", str(inventory),
               "--vault-password-file", str(vault)]
    code, output, seconds = run_in_roots([provisioned.root, provisioned.spare], command,
                                         provisioned.workdir / log)
    print(f"\nprovision fleet {args[0]}: {seconds:.0f} s\n{output[-2500:]}")
    return code, output


def test_the_vault_sets_the_dashboard_password(provisioned, fleet):
    stored = (provisioned.spare / "var/lib/triporteur/secrets/dashboard-password.hash").read_text()
    check = in_root(provisioned.spare, "/usr/bin/python3", "-c",
                    f"import runpy, sys; verify = runpy.run_path({SECRETS_TOOL!r}, run_name='s')['verify_password']; "
                    f"print(verify(sys.stdin.readline().strip(), {stored.strip()!r}))", stdin=DASHBOARD_PASSWORD + "\n")
    assert check.stdout.strip() == "True", check.stderr
    assert DASHBOARD_PASSWORD not in stored
    assert (provisioned.spare / "etc/hostname").read_text() == "kit-b\n"


def test_collect_merges_both_kits_and_names_the_unreachable_one(provisioned, fleet):
    report_dir = provisioned.workdir / "report"
    code, output = _fleet_cli(provisioned, fleet, "collect", "--report-dir", str(report_dir), log="collect.log")
    assert code == 1, "a kit could not be reached: the exit code says so"
    assert "kit-c" in output and "UNREACHABLE" in output
    rows = list(csv.DictReader(io.StringIO((report_dir / "fleet-activity.csv").read_text())))
    assert tuple(rows[0]) == ("kit", "area", "day", "sessions", "data_bytes", "session_minutes", "accompaniments",
                              "people_met", "accompaniment_minutes", "outings", "questionnaires", "appointments",
                              "tablet_loans")
    sessions = {kit: sum(int(row["sessions"]) for row in rows if row["kit"] == kit) for kit in ("kit-a", "kit-b")}
    assert sessions["kit-a"] >= 2 and sessions["kit-b"] == 1, sessions
    assert {row["area"] for row in rows} == {"Nord", "Sud"}
    page = (report_dir / "fleet-report.html").read_text()
    assert "<svg" in page and "Not collected" in page and "kit-c" in page
    assert "02:00:00" not in page and "10.42.0." not in (report_dir / "fleet-activity.csv").read_text()


def test_status_shows_each_kit_and_the_unreachable_one(provisioned, fleet):
    state = provisioned.workdir / "status.json"
    code, output = _fleet_cli(provisioned, fleet, "status", "--state", str(state), log="status.log")
    assert code == 1
    remembered = json.loads(state.read_text())
    assert remembered["kit-a"]["version"] == "0.1.0" and remembered["kit-a"]["last_contact"]
    assert remembered["kit-b"]["data"]["monthly_cap_bytes"] == 0
    assert remembered["kit-a"]["data"]["monthly_cap_bytes"] == 20000 * 1_000_000
    assert remembered["kit-c"]["state"] == "UNREACHABLE" and "last_contact" not in remembered["kit-c"]
    table = output[output.rindex("kit "):]
    assert "kit-c" in table and "never" in table


def test_apply_reports_an_unreachable_kit_instead_of_skipping_it(provisioned, fleet):
    code, output = _fleet_cli(provisioned, fleet, "apply", "--limit", "kit-c", log="apply-unreachable.log")
    assert code == 1
    summary = output[output.rindex("kit "):]
    assert "kit-c" in summary and "UNREACHABLE" in summary and "0 of 1 kit(s) went through" in summary


# --- Debian 13 (trixie): today's Raspberry Pi OS ----------------------------------------------------------


@dataclass
class ProvisionedTrixie:
    root: Path
    first: PlaybookRun
    second: PlaybookRun


@pytest.fixture(scope="module")
def provisioned_trixie(tmp_path_factory) -> Iterator[ProvisionedTrixie]:
    """site.yml on a debootstrapped trixie root as an image is baked (Python 3.13, nftables 1.1, dnsmasq 2.90,
    hostapd 2.10), twice. The end-to-end phone and the fleet run on bookworm above: the installed units and
    the kiosk are the same code; what differs by release is what Debian installs and how it reads our files."""
    require_tools()
    workdir = tmp_path_factory.mktemp("playbooks-trixie")
    root = fresh_root(workdir / "kit-t", release="trixie")
    inventory = write_inventory(workdir / "inventory", {
        "kit-t": chroot_kit(root, kit_base_hostname="kit-t", kit_kiosk_ssid="Kit T", kit_secrets_image_build=True)},
        kit_group_vars(workdir / "wheelhouse"))
    try:
        first = run_playbook([root], inventory, "site.yml", log=workdir / "first.log")
        print(f"\ntrixie: first run on a fresh root: {first.seconds:.0f} s")
        second = run_playbook([root], inventory, "site.yml", log=workdir / "second.log")
        print(f"trixie: second run: {second.seconds:.0f} s")
        yield ProvisionedTrixie(root, first, second)
    finally:
        remove_root(root)


def test_site_yml_on_trixie_makes_a_kit_and_a_second_run_changes_nothing(provisioned_trixie):
    root, first, second = provisioned_trixie.root, provisioned_trixie.first, provisioned_trixie.second
    assert first.returncode == 0, first.output[-4000:]
    assert first.recap["kit-t"].failed == 0 and first.recap["kit-t"].changed > 20
    assert 'VERSION_CODENAME=trixie' in (root / "etc/os-release").read_text()
    venv_python = in_root(root, "/opt/triporteur/venv/bin/python", "-c", "import sys; print(sys.version_info[:2])")
    assert venv_python.stdout.strip() == "(3, 13)", venv_python.stderr
    check = in_root(root, "/opt/triporteur/venv/bin/kiosk", "config", "check", "/etc/triporteur/kit.toml")
    assert check.returncode == 0, check.stderr
    assert second.returncode == 0, second.output[-4000:]
    assert second.recap["kit-t"].changed == 0, f"changed on the second run: {second.changed_tasks()}"


def test_on_trixie_the_units_are_enabled_and_debians_hostapd_stays_off(provisioned_trixie):
    root = provisioned_trixie.root
    wants = root / "etc/systemd/system/multi-user.target.wants"
    for unit in ("triporteur-kiosk.service", "triporteur-privileged.service", "triporteur-dnsmasq.service",
                 "triporteur-dnsmasq-captive.service", "triporteur-hostapd.service", "triporteur-lan.service",
                 "triporteur-firstboot.service", "ModemManager.service"):
        assert (wants / unit).is_symlink(), unit
    assert (root / "etc/systemd/system/sysinit.target.wants/nftables.service").is_symlink()
    assert not (wants / "hostapd.service").exists(), "Debian's own hostapd instance stays off"
    timers = root / "etc/systemd/system/timers.target.wants"
    for timer in ("triporteur-purge.timer", "triporteur-quota.timer", "triporteur-clock-save.timer"):
        assert (timers / timer).is_symlink(), timer
    assert not (root / "usr/sbin/policy-rc.d").exists(), "the chroot's service block was left in the image"
    assert not list((root / "etc/ssh").glob("ssh_host_*")), "SSH host keys must be made by each kit"


def test_trixies_own_nft_dnsmasq_and_hostapd_accept_the_installed_files(provisioned_trixie):
    """The files the kit boots with, read by the versions of the tools that will read them on the kit."""
    root = provisioned_trixie.root
    generated = "/etc/triporteur/generated"
    # nft -c parses and checks the ruleset against the kernel without loading it; in a network namespace of
    # its own all the same, so nothing could ever reach the host's firewall.
    nft = in_root(root, "/usr/bin/unshare", "--net", "--", "/usr/sbin/nft", "-c", "-f", "/etc/nftables.conf")
    assert nft.returncode == 0, nft.stderr
    for name in ("dnsmasq.conf", "dnsmasq-captive.conf"):
        dnsmasq = in_root(root, "/usr/sbin/dnsmasq", "--test", f"--conf-file={generated}/{name}")
        assert dnsmasq.returncode == 0, (name, dnsmasq.stderr)
    hostapd = in_root(root, "/usr/sbin/hostapd", "-dd", f"{generated}/hostapd.conf")
    output = hostapd.stdout + hostapd.stderr
    assert "errors found in configuration file" not in output and "unknown configuration item" not in output, output
    assert "nl80211" in output, output  # it went on to the driver, past the whole configuration
    broken = in_root(root, "/bin/sh", "-c", "printf 'interface=lan0\\ndriver=nl80211\\nchanel=6\\n' > /tmp/x.conf "
                     "&& /usr/sbin/hostapd -dd /tmp/x.conf")
    assert "errors found in configuration file" in broken.stdout + broken.stderr, "the control: a bad line is seen"
