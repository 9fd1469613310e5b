"""Android tablets over ADB: simulated tablets speaking the device side of ADB over TCP, driven by Debian's
real adb server and client (`adb connect`)."""

from __future__ import annotations

import pytest

from provisioning.errors import ProvisionError
from tests.stands import tablets as stands
from tests.stands.adb_device import FLAG_EPHEMERAL
from tests.stands.tablets import (
    Recorder,
    open_tablets,
    provision,
    tablet_settings,
    write_config,
)

pytestmark = pytest.mark.system
adb_server = stands.adb_server
android_tablets = stands.android_tablets  # fixtures


def test_the_real_adb_client_talks_to_the_simulated_tablet(adb_server, android_tablets):
    tablet = android_tablets()
    connected = adb_server.adb("connect", tablet.serial)
    assert f"connected to {tablet.serial}" in connected.stdout, connected.stderr
    devices = adb_server.adb("devices", "-l").stdout
    assert f"{tablet.serial}" in devices and "device" in devices and "model:SM_T220" in devices
    users = adb_server.adb("-s", tablet.serial, "shell", "pm", "list", "users")
    assert users.stdout == "Users:\n\tUserInfo{0:Owner:c13} running\n"
    status = adb_server.adb("-s", tablet.serial, "shell", "pm remove-user 0; echo status=$?").stdout
    assert status == "Error: couldn't remove user id 0\nstatus=1\n"


def test_multi_user_tablet_lend_and_return_from_the_command_line(adb_server, android_tablets, tmp_path):
    tablet = android_tablets()
    config = write_config(tmp_path / "kit.toml", tablet_settings(tmp_path, adb_port=adb_server.port))

    enrolled = provision(config, "tablets", "enroll", "android", "tab-1", "--address", tablet.serial)
    assert enrolled.returncode == 0, enrolled.stderr
    assert "Android 13 (SDK 33), SM-T220; up to 4 users: each participant gets a throwaway user" in enrolled.stdout
    assert "tab-1: ready — verified clean" in enrolled.stdout

    lent = provision(config, "tablets", "lend", "tab-1")
    assert lent.returncode == 0, lent.stderr
    assert lent.stdout.strip() == "tab-1: lent (participant's user 10)"
    participant = tablet.state.users[10]
    assert participant.ephemeral and participant.name == "Participant"
    assert participant.settings[("secure", "user_setup_complete")] == "1"
    assert 10 in tablet.state.packages["fr.caf.mobile"]  # made available from user 0's install
    assert tablet.state.current == 10

    tablet.state.plant_file(10, "Download/attestation-caf.pdf")
    tablet.state.plant_file(10, "DCIM/Camera/IMG_0001.jpg")
    tablet.state.plant_app_data(10, "fr.caf.mobile", "session")
    tablet.state.add_account(10, "dupont@example.org")

    returned = provision(config, "tablets", "return", "tab-1")
    assert returned.returncode == 0, returned.stdout + returned.stderr
    assert "tab-1: ready — verified clean" in returned.stdout
    assert tablet.state.user_ids() == [0]
    assert tablet.state.current == 0
    assert tablet.state.personal_files(0) == []
    assert any(command == "pm list users" for command in tablet.state.commands)


def test_single_user_tablet_gets_a_partial_wipe_reported_as_such(adb_server, android_tablets, tmp_path):
    tablet = android_tablets(max_users=1, release="9", sdk=28, model="Lenovo TB-X104F")
    settings = tablet_settings(tmp_path, adb_port=adb_server.port)
    config = write_config(tmp_path / "kit.toml", settings)
    enrolled = provision(config, "tablets", "enroll", "android", "tab-2", "--address", tablet.serial)
    assert "single user: wipes clear the listed apps and shared folders only (PARTIAL wipe)" in enrolled.stdout
    assert "tab-2: ready (PARTIAL)" in enrolled.stdout

    refused = provision(config, "tablets", "lend", "tab-2")
    assert refused.returncode == 1
    assert "only partially wiped" in refused.stderr and "--accept-partial" in refused.stderr
    assert provision(config, "tablets", "lend", "tab-2", "--accept-partial").returncode == 0

    tablet.state.plant_file(0, "Download/avis-imposition.pdf")
    tablet.state.plant_file(0, "Pictures/Screenshots/capture.png")
    tablet.state.plant_file(0, "Documents/.cache/hidden.txt")
    tablet.state.plant_app_data(0, "fr.caf.mobile", "session")
    tablet.state.add_account(0, "dupont@example.org")
    returned = provision(config, "tablets", "return", "tab-2")
    assert returned.returncode == 0, returned.stderr
    assert "tab-2: ready (PARTIAL) — partial wipe (single-user tablet)" in returned.stdout
    assert tablet.state.personal_files(0) == []
    assert "fr.caf.mobile" not in tablet.state.users[0].app_data
    assert tablet.state.users[0].accounts == ["dupont@example.org"]  # what "partial" means
    listing = provision(config, "tablets", "list").stdout
    assert "partial" in listing
    audit = provision(config, "tablets", "audit", "tab-2").stdout
    assert "android-partial" in audit and "partial" in audit and "clean" not in audit


def test_a_tablet_that_goes_offline_mid_wipe_needs_attention_then_finishes(adb_server, android_tablets, tmp_path):
    tablet = android_tablets()
    recorder = Recorder()
    tablets = open_tablets(tablet_settings(tmp_path, adb_port=adb_server.port, tablets__step_timeout_seconds=5),
                           recorder)
    tablets.enroll_android("tab-3", address=tablet.serial)
    assert tablets.wipe(["tab-3"])[0].status == "ready"
    tablets.lend("tab-3")
    tablet.state.plant_file(10, "Download/caf.pdf")

    tablet.drop_on = "am switch-user 0"  # the tablet leaves the Wi-Fi as the wipe begins
    device = tablets.give_back("tab-3")
    assert device.status == "needs-attention"
    assert "not connected" in device.reason or "went away" in device.reason or "cannot connect" in device.reason
    assert any("retrying in" in detail for detail in recorder.details("tab-3"))
    assert 10 in tablet.state.user_ids()

    tablet.drop_on = None
    tablet.come_back()
    device = tablets.wipe(["tab-3"])[0]
    assert device.status == "ready", device.reason
    assert tablet.state.user_ids() == [0]


def test_pm_remove_user_failing_needs_attention(adb_server, android_tablets, tmp_path):
    tablet = android_tablets()
    tablets = open_tablets(tablet_settings(tmp_path, adb_port=adb_server.port))
    tablets.enroll_android("tab-4", address=tablet.serial)
    tablets.wipe(["tab-4"])
    tablets.lend("tab-4")
    tablet.state.fail_remove_user = True  # and the ephemeral user is not removed by Android either

    device = tablets.give_back("tab-4")
    assert device.status == "needs-attention"
    assert device.reason == "pm remove-user could not remove user 10: the participant's data is still there"
    with pytest.raises(ProvisionError, match="needs-attention"):
        tablets.lend("tab-4")

    tablet.state.fail_remove_user = False
    assert tablets.wipe(["tab-4"])[0].status == "ready"
    assert tablet.state.user_ids() == [0]


def test_a_usb_tablet_is_enrolled_by_its_serial(adb_server, android_tablets, tmp_path):
    tablet = android_tablets(release="10", sdk=29)
    assert "connected" in adb_server.adb("connect", tablet.serial).stdout  # what a USB cable gives: a serial
    tablets = open_tablets(tablet_settings(tmp_path, adb_port=adb_server.port))
    device = tablets.enroll_android("tab-usb", serial=tablet.serial)
    assert device.serial == tablet.serial and device.address is None and device.where == f"usb:{tablet.serial}"
    assert device.details["android_version"] == "10" and device.strategy == "android-user"
    assert tablets.wipe(["tab-usb"])[0].status == "ready"

    tablet.go_offline()
    adb_server.adb("disconnect", tablet.serial)
    device = tablets.wipe(["tab-usb"])[0]  # unplugged: a USB tablet is not reconnected by address
    assert device.status == "needs-attention"
    assert "the tablet is not connected" in device.reason


def test_leftover_users_are_refused_before_lending(adb_server, android_tablets, tmp_path):
    tablet = android_tablets()
    tablets = open_tablets(tablet_settings(tmp_path, adb_port=adb_server.port))
    tablets.enroll_android("tab-5", address=tablet.serial)
    tablets.wipe(["tab-5"])
    tablet.state.execute("pm create-user --ephemeral Someone")  # made on the tablet behind the kit's back
    assert tablet.state.users[10].flags & FLAG_EPHEMERAL

    device = tablets.lend("tab-5")
    assert device.status == "needs-attention"
    assert "users besides the enrolled ones" in device.reason
    assert tablets.wipe(["tab-5"])[0].status == "ready"
    assert tablet.state.user_ids() == [0]


def test_users_to_keep_are_named_at_enrollment_and_any_other_is_refused(adb_server, android_tablets, tmp_path):
    tablet = android_tablets()
    config = write_config(tmp_path / "kit.toml", tablet_settings(tmp_path, adb_port=adb_server.port))
    tablet.state.execute("pm create-user Accueil")  # user 10, the tech lead's
    tablet.state.set_lock(10, "PIN")
    tablet.state.execute("pm create-user --ephemeral Participant")  # user 11, left by an interrupted lend
    tablet.state.add_account(0, "atelier.numerique@gmail.com")

    refused = provision(config, "tablets", "enroll", "android", "tab-k", "--address", tablet.serial)
    assert refused.returncode == 2
    assert "user(s) 10 on the tablet: keep them with --keep-user ID" in refused.stderr
    assert "Traceback" not in refused.stderr
    kept = provision(config, "tablets", "enroll", "android", "tab-k", "--address", tablet.serial,
                     "--keep-user", "10")
    assert kept.returncode == 0, kept.stderr
    assert "tab-k: user 10 kept with 0 app(s) and 0 account(s)" in kept.stdout
    assert "tab-k: the owner (user 0) kept with 2 app(s) and 1 account(s)" in kept.stdout
    assert "tab-k: ready — verified clean" in kept.stdout
    assert tablet.state.user_ids() == [0, 10]  # the participant's leftover user removed, the kept one not
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("kiosk.db*"))
    assert b"kept_users" in stored and b"atelier" not in stored  # accounts are kept as digests, never addresses

    wrong = provision(config, "tablets", "enroll", "android", "tab-k", "--address", tablet.serial,
                      "--keep-user", "42")
    assert wrong.returncode == 2 and "no user '42' on the tablet" in wrong.stderr

    single = android_tablets(max_users=1)
    partial = provision(config, "tablets", "enroll", "android", "tab-s", "--address", single.serial,
                        "--keep-user", "0")
    assert partial.returncode == 2 and "--keep-user needs a tablet that allows several users" in partial.stderr
