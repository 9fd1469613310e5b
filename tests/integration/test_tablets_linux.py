"""Linux loaner laptops over SSH: real OpenSSH servers, each in its own namespaces with its own host key, a
real guest account and a home full of a participant's traces."""

from __future__ import annotations

import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from provisioning.errors import ProvisionError
from provisioning.events import RUNNING, events_since
from provisioning.tablets import LinuxCredentials
from tests.stands import tablets as stands
from tests.stands.sshd import ROOT_PASSWORD, wait_until
from tests.stands.tablets import (
    Recorder,
    assert_honest,
    enroll_laptop,
    open_tablets,
    provision,
    tablet_settings,
    write_config,
)
from tests.support.system import REPO

pytestmark = pytest.mark.system
linux_tablets = stands.linux_tablets  # fixtures


def test_enroll_lend_return_from_the_command_line_leaves_nothing_of_the_participant(linux_tablets, tmp_path):
    laptop = linux_tablets()
    config = write_config(tmp_path / "kit.toml", tablet_settings(tmp_path))

    enrolled = provision(config, "tablets", "enroll", "linux", "portable-1", "--address", "127.0.0.1",
                         "--port", str(laptop.port), "--user", laptop.guest, "--identity", str(laptop.admin_key),
                         "--yes")
    assert enrolled.returncode == 0, enrolled.stderr
    fingerprint = f"SHA256:{_fingerprint(laptop.host_key_public)}"
    assert fingerprint in enrolled.stdout  # shown before pinning
    assert "portable-1: ready — verified clean" in enrolled.stdout
    assert (tmp_path / "kit" / "tablets_ed25519").stat().st_mode & 0o777 == 0o600  # the kit's key, made here
    assert "triporteur-kit" in laptop.path("/root/.ssh/authorized_keys").read_text()

    assert provision(config, "tablets", "lend", "portable-1").returncode == 0
    assert "lent" in provision(config, "tablets", "list").stdout
    laptop.plant_participant_session()
    laptop.start_guest_process()

    returned = provision(config, "tablets", "return", "portable-1")
    assert returned.returncode == 0, returned.stdout + returned.stderr
    assert "portable-1: ready — verified clean" in returned.stdout
    assert "making the guest's home anew from the golden skeleton" in returned.stdout  # a progress line
    assert laptop.leftovers() == []
    assert laptop.guest_processes() == []
    assert laptop.kit_owned_tmp.exists()  # only the guest's files go, not the kit's
    assert laptop.path("/etc/NetworkManager/system-connections/Point numerique staff.nmconnection").exists()
    listing = provision(config, "tablets", "list").stdout
    assert "portable-1" in listing and "ready" in listing and "clean" in listing

    audit = provision(config, "tablets", "audit", "portable-1").stdout
    assert "linux-skeleton" in audit and "clean" in audit
    for personal in ("attestation", "Dupont", "Freebox", "carte", "caf.fr"):
        assert personal not in audit + listing
    with sqlite3.connect(tmp_path / "kiosk.db") as db:
        everything = "\n".join(str(row) for table in ("tablets", "wipe_jobs", "wipe_events")
                               for row in db.execute(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names
    for personal in ("attestation", "Dupont", "Freebox", "carte", "mot-de-passe"):
        assert personal not in everything


def _fingerprint(public_base64: str) -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.sha256(base64.b64decode(public_base64)).digest()).decode().rstrip("=")


def test_enrollment_with_a_password_and_a_confirmation_that_is_refused(linux_tablets, tmp_path):
    laptop = linux_tablets()
    settings = tablet_settings(tmp_path)
    config = write_config(tmp_path / "kit.toml", settings)

    no_terminal = provision(config, "tablets", "enroll", "linux", "p", "--address", f"127.0.0.1:{laptop.port}",
                            "--user", laptop.guest, stdin="")
    assert no_terminal.returncode == 2
    assert "--yes" in no_terminal.stderr and "Traceback" not in no_terminal.stderr

    tablets = open_tablets(settings)
    with pytest.raises(ProvisionError, match="not confirmed"):
        tablets.enroll_linux("p", f"127.0.0.1:{laptop.port}", laptop.guest, lambda fingerprint, previous: False,
                             credentials=LinuxCredentials(password=ROOT_PASSWORD))
    assert tablets.inventory.find("p") is None
    assert "triporteur-kit" not in laptop.path("/root/.ssh/authorized_keys").read_text()

    enrolled = provision(config, "tablets", "enroll", "linux", "p", "--address", f"127.0.0.1:{laptop.port}",
                         "--user", laptop.guest, "--password-stdin", "--yes", stdin=ROOT_PASSWORD + "\n")
    assert enrolled.returncode == 0, enrolled.stderr
    assert "p: ready" in enrolled.stdout

    wrong = provision(config, "tablets", "enroll", "linux", "q", "--address", f"127.0.0.1:{laptop.port}",
                      "--user", "nobody-here", "--identity", str(laptop.admin_key), "--yes")
    assert wrong.returncode == 1
    assert "no account 'nobody-here'" in wrong.stderr


def test_a_changed_host_key_is_refused_and_nothing_is_touched(linux_tablets, tmp_path):
    laptop = linux_tablets()
    recorder = Recorder()
    tablets = open_tablets(tablet_settings(tmp_path), recorder)
    assert enroll_laptop(tablets, "p", laptop).status == "ready"
    tablets.lend("p")
    laptop.plant_participant_session()

    laptop.stop()
    laptop.new_host_key()  # someone else answers at the laptop's address (or it was reinstalled)
    laptop.start()
    device = tablets.give_back("p")
    assert device.status == "needs-attention"
    assert "host key CHANGED" in device.reason
    assert laptop.path("/tmp/scan-passeport.png").exists()  # the kit never logged in
    assert recorder.states("p")[-1] == "needs-attention"

    with pytest.raises(ProvisionError, match="only a ready tablet is lent"):
        tablets.lend("p")

    # The tech lead checked the reinstall: enrolling again shows the change and pins the new key.
    seen = []
    tablets.enroll_linux("p", f"127.0.0.1:{laptop.port}", laptop.guest,
                         lambda fingerprint, previous: seen.append((fingerprint, previous)) or True)
    assert seen[0][1] is not None and seen[0][0] != seen[0][1].fingerprint
    assert_honest(tablets.wipe(["p"])[0], laptop)
    assert tablets.inventory.get("p").status == "ready"


def test_an_unknown_host_key_type_is_refused(linux_tablets, tmp_path):
    """A server offering a key of another type than the pinned one is not the enrolled laptop either."""
    import paramiko
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    laptop = linux_tablets()
    tablets = open_tablets(tablet_settings(tmp_path))
    enroll_laptop(tablets, "p", laptop)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    other = paramiko.ECDSAKey.from_private_key(io.StringIO(pem.decode()))
    with tablets.store.write() as db:
        db.execute("UPDATE tablet_host_keys SET key_type = ?, key_base64 = ?",
                   (other.get_name(), other.get_base64()))
    device = tablets.wipe(["p"])[0]
    assert device.status == "needs-attention"
    assert "host key" in device.reason and "refused" in device.reason


def test_sshd_stopped_mid_wipe_needs_attention_and_a_later_run_finishes(linux_tablets, tmp_path):
    laptop = linux_tablets()
    recorder = Recorder()
    tablets = open_tablets(tablet_settings(tmp_path, tablets__retries=2), recorder)
    enroll_laptop(tablets, "p", laptop)
    tablets.lend("p")
    laptop.plant_participant_session()
    laptop.start_guest_process()

    def power_off_the_laptop(event):
        if event.tablet == "p" and event.state == RUNNING and event.detail.startswith("making the guest's home anew"):
            laptop.stop()

    unsubscribe = tablets.bus.subscribe(power_off_the_laptop)
    device = tablets.give_back("p")
    unsubscribe()
    assert device.status == "needs-attention"
    assert "connect" in device.reason or "dropped" in device.reason
    assert any("retrying in" in detail for detail in recorder.details("p"))  # retried, with backoff
    assert_honest(device, laptop)

    laptop.start()
    device = tablets.wipe(["p"])[0]
    assert device.status == "ready", device.reason
    assert_honest(device, laptop)
    results = [job.result for job in tablets.jobs.history("p", 2)]
    assert results == ["clean", "failed"]


def test_a_power_cut_of_the_kit_mid_wipe_leaves_wiping_and_the_next_run_finishes(linux_tablets, tmp_path):
    laptop = linux_tablets(hang_loginctl=True)  # the wipe's first step hangs: the kit loses power meanwhile
    settings = tablet_settings(tmp_path, tablets__step_timeout_seconds=60)
    config = write_config(tmp_path / "kit.toml", settings)
    tablets = open_tablets(settings)
    enroll_laptop(tablets, "p", laptop, wipe=False)
    with tablets.store.write() as db:  # as if lent after a verified wipe (its first step would hang here)
        db.execute("UPDATE tablets SET status = 'lent'")
    laptop.plant_participant_session()

    kit = subprocess.Popen([sys.executable, "-m", "provisioning", "--config", str(config), "tablets", "return", "p"],
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: any(e.detail == "ending the guest's processes" for e in events_since(tablets.store)),
                   30, "the wipe to start")
    finally:
        os.kill(kit.pid, signal.SIGKILL)  # the power cut
        kit.wait(timeout=10)
    assert tablets.inventory.get("p").status == "wiping"
    [job] = tablets.jobs.history("p")
    assert job.ended_at is None

    laptop.stop()
    laptop.hang_loginctl = False
    laptop.start()
    resumed = provision(config, "tablets", "wipe", "--all-returned")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming an interrupted wipe" in resumed.stdout
    device = tablets.inventory.get("p")
    assert device.status == "ready"
    assert_honest(device, laptop)
    [job] = tablets.jobs.history("p")  # the same job, finished
    assert job.result == "clean" and job.attempts == 2


def test_a_step_that_never_ends_times_out(linux_tablets, tmp_path):
    laptop = linux_tablets(hang_loginctl=True)
    tablets = open_tablets(tablet_settings(tmp_path, tablets__step_timeout_seconds=2))
    started = time.monotonic()
    device = enroll_laptop(tablets, "p", laptop)
    assert time.monotonic() - started < 30
    assert device.status == "needs-attention"
    assert device.reason == "timed out after 2 s while ending the guest's processes"


def test_a_full_disk_needs_attention(linux_tablets, tmp_path):
    laptop = linux_tablets(home_size="48m")
    tablets = open_tablets(tablet_settings(tmp_path))
    assert enroll_laptop(tablets, "p", laptop).status == "ready"
    tablets.lend("p")
    laptop.ssh("dd if=/dev/zero of=/home/filler bs=64k count=1024 2>/dev/null")  # root's file fills the disk
    device = tablets.give_back("p")
    assert device.status == "needs-attention"
    assert "disk is full" in device.reason


def test_retries_with_backoff_when_sshd_refuses_connections(linux_tablets, tmp_path):
    """sshd's MaxStartups drops connections beyond its limit; the kit retries with backoff."""
    laptop = linux_tablets(max_startups="2")
    recorder = Recorder()
    tablets = open_tablets(tablet_settings(tmp_path, tablets__retries=8), recorder)
    enroll_laptop(tablets, "p", laptop)
    hogs = [socket.create_connection(("127.0.0.1", laptop.port)) for _ in range(2)]  # unauthenticated
    for hog in hogs:
        wait_until(lambda hog=hog: hog.recv(64), 5, "sshd's banner")

    def release_after_first_retry(event):
        if "retrying in" in event.detail:
            for hog in hogs:
                hog.close()

    tablets.bus.subscribe(release_after_first_retry)
    device = tablets.wipe(["p"])[0]
    assert device.status == "ready", device.reason
    assert any("retrying in" in detail for detail in recorder.details("p"))

    hogs = [socket.create_connection(("127.0.0.1", laptop.port)) for _ in range(2)]  # lending retries too
    for hog in hogs:
        wait_until(lambda hog=hog: hog.recv(64), 5, "sshd's banner")
    release = threading.Timer(0.3, lambda: [hog.close() for hog in hogs])
    release.start()
    assert tablets.lend("p").status == "lent"
    release.join(5)


def test_several_laptops_wiped_in_parallel_with_a_progress_line_each(linux_tablets, tmp_path):
    laptops = [linux_tablets(f"l{i}") for i in range(3)]
    settings = tablet_settings(tmp_path)
    config = write_config(tmp_path / "kit.toml", settings)
    tablets = open_tablets(settings)
    for index, laptop in enumerate(laptops):
        enroll_laptop(tablets, f"p{index}", laptop)
        tablets.lend(f"p{index}")
        laptop.plant_participant_session()
        assert provision(config, "tablets", "return", f"p{index}", "--later").returncode == 0
    assert sorted(tablets.returned()) == ["p0", "p1", "p2"]

    result = provision(config, "tablets", "wipe", "--all-returned")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 ready, 0 need attention" in result.stdout
    for index, laptop in enumerate(laptops):
        assert_honest(tablets.inventory.get(f"p{index}"), laptop)
        assert tablets.inventory.get(f"p{index}").status == "ready"
        states = [e.state for e in events_since(tablets.store) if e.tablet == f"p{index}"]
        assert states[-4:] == ["running", "running", "verifying", "ready"]
        assert states.count("queued") == 3  # enrollment's wipe, the return's and this one

    threads = [threading.Thread(target=tablets.lend, args=(f"p{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert {d.status for d in tablets.list()} == {"lent"}


def test_a_laptop_used_since_its_wipe_is_not_lent(linux_tablets, tmp_path):
    laptop = linux_tablets()
    tablets = open_tablets(tablet_settings(tmp_path))
    enroll_laptop(tablets, "p", laptop)
    laptop.guest_file("/var/tmp/someone-was-here", b"x")  # someone used the guest session anyway
    device = tablets.lend("p")
    assert device.status == "needs-attention"
    assert "1 file(s) of the guest left outside its home (/var/tmp: 1)" in device.reason
    assert_honest(tablets.wipe(["p"])[0], laptop)
