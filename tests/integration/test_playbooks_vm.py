"""A baked kit booted for real: site.yml through the chroot connection (the image-baking path), the root
made into an ext4 disk image and booted by QEMU under its own systemd (tests/stands/vm.py), then proven:

- systemd is PID 1 and the boot finished; the first-boot unit made the kit's own secrets once (dashboard
  password hash, tablets' key, SSH host keys, machine id — none of them in the image); the kit's units
  started in order under their hardening, the kiosk as the service user and the helper as root; the
  kiosk answers HTTP inside the VM; the journal's limits and the timers are in effect;
- site.yml over SSH against the running kit (keys only, the host key pinned from the first boot's
  console, become through sudo), from a network namespace of its own: a changed Wi-Fi name is applied,
  its handlers restart the kiosk, the new setting is live; a second run changes nothing.

The VM's LAN is a wired virtio NIC (lan0), so this kit runs with `kit_network_hostapd: false` (the
Wi-Fi of an external access point): a VM has no radio. The boot time and both SSH run times are printed
(pytest -s shows them).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_playbooks_rootfs import (
    ADMIN_KEY,
    PLAYBOOKS,
    VENV_BIN,
    PlaybookRun,
    chroot_kit,
    fresh_root,
    kit_group_vars,
    parse_recap,
    remove_root,
    require_tools,
    run_playbook,
    write_inventory,
)
from tests.stands.vm import BOOT_PACKAGES, VirtualMachine, VmError, build_image, prepare_root, wait_until
from tests.support.system import need_binary

pytestmark = pytest.mark.system

ADMIN_USER = "triporteur"  # kit_base_admin_user's default
SERVICE_USER = "kiosk"
HOSTNAME = "kit-vm"
SSID = "Kit VM"
NEW_SSID = "Kit VM renamed"
PORTAL = "10.42.0.1:8080"  # the portal's listen port on the kit's LAN address (lan0 in the VM)
SETTINGS = {"network": {"lan_interface": "lan0", "wan_interface": "wan0", "lan_address": "10.42.0.1/24"}}
KIT_UNITS = ("nftables.service", "triporteur-lan.service", "triporteur-dnsmasq.service",
             "triporteur-dnsmasq-captive.service", "triporteur-privileged.service", "triporteur-kiosk.service",
             "ModemManager.service", "ssh.service")
TIMERS = ("triporteur-purge.timer", "triporteur-quota.timer", "triporteur-clock-save.timer")
SECRETS = "/var/lib/triporteur/secrets"


@dataclass
class BootedKit:
    vm: VirtualMachine
    workdir: Path
    root: Path
    key: Path
    public_key: str
    wheelhouse: Path
    boot_seconds: float
    system_state: str
    image_machine_id: str
    runs: dict[str, PlaybookRun] = field(default_factory=dict)
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)


def _kit_vars(public_key: str, wheelhouse: Path) -> dict[str, Any]:
    return kit_group_vars(wheelhouse) | {
        "kit_base_admin_keys": [ADMIN_KEY, public_key],
        # Raspberry Pi OS Lite has these; a debootstrap minbase needs them to boot (apt caches the .debs).
        "kit_base_extra_packages": BOOT_PACKAGES,
        "kit_kiosk_settings": SETTINGS,
        "kit_network_hostapd": False,
    }


def _require_vm_tools() -> None:
    require_tools()
    for binary in ("qemu-system-x86_64", "mkfs.ext4", "ssh", "ssh-keygen", "ip", "du"):
        need_binary(binary)


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Iterator[BootedKit]:
    _require_vm_tools()
    workdir = tmp_path_factory.mktemp("vm")
    key = workdir / "admin_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tech-lead@vm-test", "-f", str(key)],
                   check=True, timeout=60)
    public_key = key.with_suffix(".pub").read_text().strip()
    wheelhouse = workdir / "wheelhouse"
    root = fresh_root(workdir / "root")
    try:
        inventory = write_inventory(workdir / "bake-inventory", {
            "kit-vm": chroot_kit(root, kit_base_hostname=HOSTNAME, kit_kiosk_ssid=SSID,
                                 kit_secrets_image_build=True)}, _kit_vars(public_key, wheelhouse))
        bake = run_playbook([root], inventory, "site.yml", log=workdir / "bake.log")
        print(f"\nbaking the image through the chroot connection: {bake.seconds:.0f} s")
        assert bake.returncode == 0, bake.output[-4000:]
        # What the image carries into every kit: no host key, an empty machine id, no secret.
        assert not list((root / "etc/ssh").glob("ssh_host_*")), "host keys baked into the image"
        image_machine_id = (root / "etc/machine-id").read_text()
        assert image_machine_id == ""
        assert not (root / "var/lib/triporteur/.secrets-done").exists()
        kernel, initrd = prepare_root(root)
        # qemu reads the kernel from here: kept outside the root, which is removed before booting.
        for path in (kernel, initrd):
            os.link(path, workdir / path.name)
        kernel, initrd = workdir / kernel.name, workdir / initrd.name
        image = workdir / "disk.raw"
        seconds = build_image(root, image)
        print(f"ext4 image ({image.stat().st_size // 2**20} MB, mkfs.ext4 -d): {seconds:.0f} s")
    except BaseException:
        remove_root(root)
        raise
    remove_root(root)  # the disk image is the kit now
    with VirtualMachine(workdir, kernel, initrd, image, ADMIN_USER, key) as vm:
        try:
            vm.wait_for_host_keys(timeout=300)
            boot = vm.wait_for_ssh(timeout=180)
            state = vm.ssh("timeout 240 systemctl is-system-running --wait", timeout=260).stdout.strip()
            analyze = vm.ssh("systemd-analyze time", timeout=60).stdout.strip()
            how = "; ".join([vm.accelerator, *vm.notes])
            print(f"boot ({how}): SSH answered {boot:.1f} s after qemu started; system {state}; {analyze}")
            yield BootedKit(vm, workdir, root, key, public_key, wheelhouse, boot, state, image_machine_id)
        except BaseException:
            print(f"\n--- console (last lines)\n{vm.console()[-6000:]}\n--- qemu\n{vm.qemu_output()[-2000:]}")
            raise
        finally:
            stopped = vm.shutdown(timeout=90)
            print(f"\nthe VM {'powered off cleanly' if stopped else 'did not power off: qemu stopped by its PID'}")
            kernel.unlink(missing_ok=True)
            initrd.unlink(missing_ok=True)


def _show(kit: BootedKit, unit: str, *properties: str) -> dict[str, str]:
    done = kit.vm.ssh(["systemctl", "show", unit, "-p", ",".join(properties)], timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def _out(kit: BootedKit, command: str | list[str], timeout: float = 60) -> str:
    done = kit.vm.ssh(command, timeout=timeout)
    assert done.returncode == 0, f"{command}: {done.returncode} {done.stderr or done.stdout}"
    return done.stdout


def _http(kit: BootedKit, path: str) -> tuple[int, str]:
    """An HTTP GET from inside the VM (the system's python3), no redirect followed."""
    code = ("import http.client, sys; c = http.client.HTTPConnection(sys.argv[1], timeout=5); "
            "c.request('GET', sys.argv[2]); r = c.getresponse(); print(r.status); "
            "print(r.getheader('Location') or r.getheader('Content-Type'))")
    done = kit.vm.ssh(["python3", "-c", code, PORTAL, path], timeout=30, sudo=False)
    if done.returncode != 0:
        return 0, done.stderr.strip()
    status, _, rest = done.stdout.partition("\n")
    return int(status), rest.strip()


def _kiosk_state(kit: BootedKit) -> dict[str, str]:
    return _show(kit, "triporteur-kiosk.service", "MainPID", "ActiveState", "ActiveEnterTimestampMonotonic",
                 "NRestarts")


# --- the boot --------------------------------------------------------------------------------------------


def test_systemd_is_pid_1_and_the_boot_finishes(kit):
    assert _out(kit, "readlink /proc/1/exe").strip() in ("/usr/lib/systemd/systemd", "/lib/systemd/systemd")
    failed = _out(kit, "systemctl list-units --failed --no-legend --plain").strip()
    assert kit.system_state == "running", f"{kit.system_state}; failed units:\n{failed}"
    assert _out(kit, "hostname").strip() == HOSTNAME


def test_first_boot_made_the_kits_own_secrets_once(kit):
    firstboot = _show(kit, "triporteur-firstboot.service", "ActiveState", "SubState", "Result", "ExecMainStatus",
                      "ConditionResult")
    assert firstboot == {"ActiveState": "active", "SubState": "exited", "Result": "success",
                         "ExecMainStatus": "0", "ConditionResult": "yes"}, firstboot
    journal = _out(kit, "journalctl -b --no-pager -o cat -u triporteur-firstboot.service")
    assert journal.count("made the dashboard password") == 1, journal
    assert journal.count("made the tablets' SSH key") == 1, journal
    # Each secret exists, belongs to the right user and is readable by nobody else.
    listing = _out(kit, f"stat -c '%n %U %a' /var/lib/triporteur/.secrets-done {SECRETS} "
                        f"{SECRETS}/dashboard-password.hash {SECRETS}/tablets_ed25519 /root/triporteur-first-boot.txt")
    owners = {name: (user, mode) for name, user, mode in (line.split() for line in listing.splitlines())}
    assert owners[f"{SECRETS}/dashboard-password.hash"] == (SERVICE_USER, "600")
    assert owners[f"{SECRETS}/tablets_ed25519"] == (SERVICE_USER, "600")
    assert owners[SECRETS] == (SERVICE_USER, "700")
    assert owners["/root/triporteur-first-boot.txt"] == ("root", "600")
    assert _out(kit, f"cat {SECRETS}/dashboard-password.hash").startswith("scrypt$")
    assert "Dashboard password:" in _out(kit, "cat /root/triporteur-first-boot.txt")
    # The host keys were made by this boot, and are the ones the test pinned from the console.
    served = {" ".join(line.split()[:2]) for line in _out(kit, "cat /etc/ssh/ssh_host_*_key.pub").splitlines()}
    assert served == set(kit.vm.host_keys) and any(key.startswith("ssh-ed25519 ") for key in served)
    machine_id = _out(kit, "cat /etc/machine-id").strip()
    assert re.fullmatch(r"[0-9a-f]{32}", machine_id) and machine_id != kit.image_machine_id
    assert machine_id != Path("/etc/machine-id").read_text().strip(), "the host's machine id"


def test_the_kits_units_run_in_order_as_their_users(kit):
    for unit in KIT_UNITS:
        state = _show(kit, unit, "ActiveState", "SubState", "Result")
        assert state["ActiveState"] == "active" and state["Result"] == "success", f"{unit}: {state}"
    kiosk = _show(kit, "triporteur-kiosk.service", "MainPID", "ExecMainStartTimestampMonotonic", "NRestarts")
    helper = _show(kit, "triporteur-privileged.service", "MainPID", "ExecMainStartTimestampMonotonic", "NRestarts")
    assert (kiosk["NRestarts"], helper["NRestarts"]) == ("0", "0"), "a unit failed and was restarted"
    assert _out(kit, ["ps", "-o", "user=", "-p", kiosk["MainPID"]]).strip() == SERVICE_USER
    assert _out(kit, ["ps", "-o", "user=", "-p", helper["MainPID"]]).strip() == "root"
    status = _out(kit, f"cat /proc/{kiosk['MainPID']}/status")
    assert re.search(r"^CapEff:\s+0+$", status, re.MULTILINE), "the kiosk holds no capability"
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.MULTILINE)
    # Order of a boot: secrets, then firewall, then the helper, then the kiosk.
    firstboot = _show(kit, "triporteur-firstboot.service", "ExecMainExitTimestampMonotonic")
    nftables = _show(kit, "nftables.service", "ActiveEnterTimestampMonotonic")
    assert int(firstboot["ExecMainExitTimestampMonotonic"]) <= int(kiosk["ExecMainStartTimestampMonotonic"])
    assert int(nftables["ActiveEnterTimestampMonotonic"]) <= int(helper["ExecMainStartTimestampMonotonic"])
    assert int(helper["ExecMainStartTimestampMonotonic"]) <= int(kiosk["ExecMainStartTimestampMonotonic"])
    assert "inet 10.42.0.1/24" in _out(kit, "ip -4 address show dev lan0")
    assert "table inet" in _out(kit, "nft list tables")


def test_the_kiosk_answers_http_inside_the_vm(kit):
    status, detail = wait_until(lambda: (lambda answer: answer if answer[0] else None)(_http(kit, "/")), 60,
                                "the portal answering", interval=1)
    assert status in (200, 302, 303), (status, detail)
    status, detail = _http(kit, "/api/captive")
    assert status == 200 and detail.startswith("application/captive+json"), (status, detail)


def test_the_journal_limits_and_the_timers_are_in_effect(kit):
    journald = _out(kit, "journalctl -b --no-pager -o cat -t systemd-journald")
    assert re.search(r"Runtime Journal .* max 32\.0M", journald), journald
    assert _out(kit, "find /var/log/journal -name '*.journal' 2>/dev/null || true").strip() == "", \
        "Storage=volatile: nothing on the SD card"
    listed = _out(kit, "systemctl list-timers --all --no-legend --plain")
    for timer in TIMERS:
        assert timer in listed, listed
        assert _out(kit, ["systemctl", "is-active", timer]).strip() == "active", timer


# --- site.yml over SSH --------------------------------------------------------------------------------------


def _ssh_inventory(kit: BootedKit, ssid: str) -> Path:
    vm = kit.vm
    host = {"ansible_host": "127.0.0.1", "ansible_port": vm.port, "ansible_user": ADMIN_USER,
            "ansible_ssh_private_key_file": str(kit.key), "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={vm.known_hosts} -o StrictHostKeyChecking=yes "
                                       "-o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes",
            "kit_base_hostname": HOSTNAME, "kit_kiosk_ssid": ssid}
    return write_inventory(kit.workdir / f"ssh-inventory-{len(kit.runs)}", {"kit-vm": host},
                           _kit_vars(kit.public_key, kit.wheelhouse))


def _over_ssh(kit: BootedKit, ssid: str, name: str) -> PlaybookRun:
    """ansible-playbook site.yml from the VM's network namespace: 127.0.0.1:PORT is the VM's sshd there."""
    inventory = _ssh_inventory(kit, ssid)
    log = kit.workdir / f"{name}.log"
    env = {**os.environ, "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(kit.vm.control_dir),
           "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    argv = kit.vm.in_namespace([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory),
                                str(PLAYBOOKS / "site.yml")])
    started = time.monotonic()
    with log.open("w") as output:
        done = subprocess.run(argv, stdout=output, stderr=subprocess.STDOUT, timeout=1200, check=False,
                              cwd=PLAYBOOKS, env=env)
    text = log.read_text(errors="replace")
    return PlaybookRun(done.returncode, text, time.monotonic() - started, parse_recap(text))


@pytest.fixture(scope="module")
def applied(kit) -> BootedKit:
    kit.before = _kiosk_state(kit)
    kit.runs["change"] = _over_ssh(kit, NEW_SSID, "ssh-change")
    print(f"\nsite.yml over SSH with a new Wi-Fi name: {kit.runs['change'].seconds:.0f} s")
    kit.after = _kiosk_state(kit)
    kit.runs["again"] = _over_ssh(kit, NEW_SSID, "ssh-again")
    print(f"site.yml over SSH again: {kit.runs['again'].seconds:.0f} s")
    return kit


def test_site_yml_over_ssh_applies_a_change_and_restarts_the_kiosk(applied):
    run = applied.runs["change"]
    assert run.returncode == 0, run.output[-5000:]
    assert run.recap["kit-vm"].failed == 0 and run.recap["kit-vm"].changed > 0
    assert "Write the settings file" in "\n".join(run.changed_tasks()), run.changed_tasks()
    assert "RUNNING HANDLER [kit_kiosk : Restart the kiosk]" in run.output
    before, after = applied.before, applied.after
    assert after["ActiveState"] == "active", after
    assert after["MainPID"] != before["MainPID"], "the kiosk was not restarted"
    assert int(after["ActiveEnterTimestampMonotonic"]) > int(before["ActiveEnterTimestampMonotonic"])
    # The new name is what the running kit uses: in its settings, read by the restarted kiosk, and in the
    # rendered access point's file.
    assert f'ssid = {json.dumps(NEW_SSID)}' in _out(applied, "cat /etc/triporteur/kit.toml")
    assert f"ssid={NEW_SSID}" in _out(applied, "cat /etc/triporteur/generated/hostapd.conf").splitlines()
    started = _out(applied, "systemctl show --timestamp=unix -p ExecMainStartTimestamp --value "
                            "triporteur-kiosk.service").strip()
    written = int(_out(applied, "stat -c %Y /etc/triporteur/kit.toml").strip())
    assert int(started.lstrip("@")) >= written, "the kiosk runs from before the new settings"
    status, detail = wait_until(lambda: (lambda answer: answer if answer[0] else None)(_http(applied, "/")), 60,
                                "the portal answering after the restart", interval=1)
    assert status in (200, 302, 303), (status, detail)


def test_a_second_ssh_run_changes_nothing(applied):
    run = applied.runs["again"]
    assert run.returncode == 0, run.output[-5000:]
    assert run.recap["kit-vm"].changed == 0, f"changed on the second run: {run.changed_tasks()}"
    assert _kiosk_state(applied)["MainPID"] == applied.after["MainPID"], "restarted with nothing changed"


def test_the_vm_stand_waits_with_a_deadline():
    with pytest.raises(VmError, match="not within"):
        wait_until(lambda: False, 0.3, "nothing", interval=0.1)
