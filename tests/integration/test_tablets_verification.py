"""Never a tablet reported ready while anything of a participant survives.

Verification is independent of the wipe's steps: take any one step away and the traces it should have
cleared must be found, and the tablet must end in needs-attention — on real sshd laptops and on simulated
Android tablets driven by the real adb server.
"""

from __future__ import annotations

import pytest

from provisioning.plans import plan_for
from tests.stands import tablets as stands
from tests.stands.tablets import (
    assert_honest,
    enroll_laptop,
    open_tablets,
    tablet_settings,
)

pytestmark = pytest.mark.system
adb_server = stands.adb_server
android_tablets = stands.android_tablets
linux_tablets = stands.linux_tablets  # fixtures


def without(step: str):
    """Plans as usual, minus one step: a wipe with a bug, or a step that silently did nothing."""
    def factory(device, context):
        plan = plan_for(device, context)
        steps = plan.steps
        plan.steps = lambda: [s for s in steps() if s.name != step]
        return plan

    return factory


LINUX_STEPS = {
    "processes": "process(es) of the guest still running",
    "media": "removable media still mounted",
    "account": "the guest account differs from enrollment: full name (GECOS), password, "
               "date of the last password change",
    "home": "the guest's home differs from the golden skeleton",
    "leftovers": "file(s) of the guest left outside its home",
    "wifi": "network connection(s) not recorded at enrollment",
    "print": "print job file(s) left in the spool",
}
HOSTILE_ONLY = {  # what only a hostile participant leaves: each found when its step is skipped
    "account": "the guest account differs from enrollment",
    "home": "extended attribute(s) or ACL(s) in the guest's home that the skeleton does not have",
    "leftovers": "shared memory or IPC object(s) of the guest",
    "wifi": "4 network connection(s) not recorded at enrollment (802-3-ethernet, wifi, wireguard)",
}


@pytest.mark.parametrize("skipped", sorted(LINUX_STEPS))
def test_a_linux_wipe_missing_any_step_is_never_ready(linux_tablets, tmp_path, skipped):
    laptop = linux_tablets()
    settings = tablet_settings(tmp_path)
    assert enroll_laptop(open_tablets(settings), "p", laptop).status == "ready"  # enrolled with every step
    tablets = open_tablets(settings, plan_factory=without(skipped))  # the return's wipe lacks one
    assert skipped in {step.name for step in plan_for(tablets.inventory.get("p"), tablets.context).steps()}
    tablets.lend("p")
    laptop.plant_participant_session()
    laptop.plant_hostile_participant()
    laptop.plant_usb_stick()
    laptop.start_guest_process()

    device = tablets.give_back("p")
    assert device.status == "needs-attention"
    assert LINUX_STEPS[skipped] in device.reason
    assert HOSTILE_ONLY.get(skipped, "") in device.reason
    assert_honest(device, laptop)
    for personal in ("attestation", "Dupont", "carte", "CV"):
        assert personal not in device.reason  # counts and places, never a participant's names


def test_a_guest_file_in_any_corner_is_removed_and_found_when_the_step_fails(linux_tablets, tmp_path):
    """No fixed list of places: a world-writable corner of /var/lib is swept like /tmp."""
    laptop = linux_tablets()
    settings = tablet_settings(tmp_path)
    enroll_laptop(open_tablets(settings), "p", laptop)
    broken = open_tablets(settings, plan_factory=without("leftovers"))
    broken.lend("p")
    laptop.path("/var/lib/php/sessions").mkdir(parents=True)
    laptop.guest_file("/var/lib/php/sessions/sess_caf", b"login=dupont")

    device = broken.give_back("p")
    assert device.status == "needs-attention"
    assert "1 file(s) of the guest left outside its home (/var/lib: 1)" in device.reason
    assert_honest(device, laptop)

    device = open_tablets(settings).wipe(["p"])[0]
    assert device.status == "ready", device.reason
    assert not laptop.path("/var/lib/php/sessions/sess_caf").exists()
    assert_honest(device, laptop)


def test_every_planted_trace_is_gone_when_ready(linux_tablets, tmp_path):
    laptop = linux_tablets()
    tablets = open_tablets(tablet_settings(tmp_path))
    enroll_laptop(tablets, "p", laptop)
    tablets.lend("p")
    planted = laptop.plant_participant_session()
    laptop.plant_usb_stick()
    laptop.start_guest_process()

    device = tablets.give_back("p")
    assert device.status == "ready", device.reason
    survivors = [what for what, path in planted.items()
                 if what != "changed skeleton file" and (path.exists() or path.is_symlink())]
    assert survivors == []
    assert (laptop.home / ".bashrc").read_text() == (laptop.skeleton / ".bashrc").read_text()
    assert (laptop.home / "Bureau/Aide.txt").exists()
    assert not (laptop.home / "raccourci").is_symlink()
    assert_honest(device, laptop)


def test_an_android_wipe_that_leaves_a_user_is_never_ready(adb_server, android_tablets, tmp_path):
    tablet = android_tablets()
    tablets = open_tablets(tablet_settings(tmp_path, adb_port=adb_server.port), plan_factory=without("users"))
    tablets.enroll_android("a", address=tablet.serial)
    tablet.state.execute("pm create-user Participant")  # not ephemeral: Android will not remove it by itself
    tablet.state.plant_file(10, "Download/avis-imposition.pdf")

    device = tablets.wipe(["a"])[0]
    assert device.status == "needs-attention"
    assert device.reason == "1 user(s) besides the enrolled ones still on the tablet"
    assert tablet.state.user_ids() == [0, 10]


def test_a_partial_wipe_that_leaves_a_file_is_never_ready(adb_server, android_tablets, tmp_path):
    tablet = android_tablets(max_users=1)
    tablets = open_tablets(tablet_settings(tmp_path, adb_port=adb_server.port), plan_factory=without("folders"))
    tablets.enroll_android("a", address=tablet.serial)
    tablet.state.plant_file(0, "DCIM/Camera/IMG_2026.jpg")
    tablet.state.plant_file(0, "Download/releve.pdf")

    device = tablets.wipe(["a"])[0]
    assert device.status == "needs-attention"
    assert "1 item(s) left in the shared folder Download" in device.reason
    assert "1 item(s) left in the shared folder DCIM" in device.reason
    assert "releve" not in device.reason


def test_nothing_a_hostile_participant_plants_survives_a_return(linux_tablets, tmp_path):
    """The issue's list, planted as the guest: own password, GECOS, /run/lock, a second filesystem, an xattr and
    an ACL on the home itself, a message queue and shared memory, an at job, a user unit and lingering, a
    same-name Wi-Fi, a WireGuard VPN, an 802.1X login, a CUPS tmp file, a passwd-like process."""
    laptop = linux_tablets()
    tablets = open_tablets(tablet_settings(tmp_path))
    enroll_laptop(tablets, "p", laptop)
    tablets.lend("p")
    planted = laptop.plant_hostile_participant()
    before = laptop.leftovers()
    for trace in ("run/lock/", "srv/partage", "extended attributes on the home", "the guest account differs",
                  "network connections", "print spool", "SysV IPC objects", "at jobs: 1", "dev/mqueue/dupont"):
        assert any(trace in found for found in before), (trace, before)  # the control: each was really planted

    device = tablets.give_back("p")
    assert device.status == "ready", device.reason
    assert laptop.leftovers() == [] and laptop.guest_processes() == []
    assert laptop.account_lines() == laptop.enrolled_account  # the documented guest password logs in again
    status, _, _ = laptop.as_guest("true")
    assert status == 0
    assert not laptop.path("/var/lib/systemd/linger/tkguest").exists()
    assert len(planted) >= 15
    assert_honest(device, laptop)
