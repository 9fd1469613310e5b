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
    "home": "the guest's home differs from the golden skeleton",
    "temporary": "file(s) of the guest left outside its home",
    "wifi": "1 Wi-Fi connection(s) not on the allow-list",
    "print": "2 print job file(s) left in the spool",
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
    laptop.plant_usb_stick()
    laptop.start_guest_process()

    device = tablets.give_back("p")
    assert device.status == "needs-attention"
    assert LINUX_STEPS[skipped] in device.reason
    assert_honest(device, laptop)
    for personal in ("attestation", "Dupont", "carte", "CV"):
        assert personal not in device.reason  # counts and places, never a participant's names


def test_a_guest_file_where_no_step_looks_is_still_found(linux_tablets, tmp_path):
    laptop = linux_tablets()
    tablets = open_tablets(tablet_settings(tmp_path))
    enroll_laptop(tablets, "p", laptop)
    tablets.lend("p")
    laptop.plant_participant_session()
    laptop.path("/var/lib/php/sessions").mkdir(parents=True)
    laptop.guest_file("/var/lib/php/sessions/sess_caf", b"login=dupont")  # a world-writable corner

    device = tablets.give_back("p")
    assert device.status == "needs-attention"
    assert "1 file(s) of the guest left outside its home (/var/lib: 1)" in device.reason
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
