"""Never a tablet reported ready while anything of a participant survives.

Verification is independent of the wipe's steps: take any one step away and the traces it should have
cleared must be found, and the tablet must end in needs-attention — on real sshd laptops and on simulated
Android tablets driven by the real adb server.
"""

from __future__ import annotations

import pytest

from provisioning.errors import ProvisionError
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


# --- Android: the users, apps, accounts and screen locks a hostile participant can change --------------
SPY = "com.example.spy"  # an app a participant installs to read the next participant's data


def hostile_tablet(android_tablets, tablets, name: str):
    """A tablet with a kept user 10 ("Accueil", PIN set) and an owner account, enrolled and ready."""
    tablet = android_tablets()
    tablet.state.execute("pm create-user Accueil")
    tablet.state.set_lock(10, "PIN")
    tablet.state.add_account(0, "atelier.numerique@gmail.com")
    device = tablets.enroll_android(name, address=tablet.serial, keep_users=["Accueil"])
    assert [record["id"] for record in device.details["kept_users"]] == [0, 10]
    assert tablets.wipe([name])[0].status == "ready"
    return tablet


@pytest.mark.parametrize(("skipped", "finding"), [
    ("users", "1 user(s) besides the enrolled ones still on the tablet"),
    ("apps", "1 app(s) installed in user 0 since enrollment; 1 app(s) installed in user 10 since enrollment"),
])
def test_an_android_wipe_missing_a_step_is_never_ready(adb_server, android_tablets, tmp_path, skipped, finding):
    settings = tablet_settings(tmp_path, adb_port=adb_server.port)
    tablet = hostile_tablet(android_tablets, open_tablets(settings), "h")
    tablets = open_tablets(settings, plan_factory=without(skipped))
    tablets.lend("h")
    tablet.state.execute("pm create-user Copie")  # a second user, not ephemeral
    tablet.state.install_package(0, SPY)
    tablet.state.install_package(10, SPY)

    device = tablets.give_back("h")
    assert device.status == "needs-attention"
    assert finding in device.reason
    assert SPY not in device.reason and "Copie" not in device.reason


def test_nothing_a_hostile_android_participant_plants_survives_a_ready(adb_server, android_tablets, tmp_path):
    """A second user, an app in the owner's user and in the kept one, the owner's account swapped for the
    participant's, an account in the kept user, the owner's PIN removed: the wipe removes what the shell can
    (users, apps) and names the rest by category and count until the README's remedy is done on the tablet."""
    tablets = open_tablets(tablet_settings(tmp_path, adb_port=adb_server.port))
    tablet = hostile_tablet(android_tablets, tablets, "h")
    enrolled_apps = {user: tablet.state.packages_of(user) for user in (0, 10)}
    tablets.lend("h")
    tablet.state.execute("pm create-user Copie")
    tablet.state.install_package(0, SPY)
    tablet.state.install_package(10, SPY)
    tablet.state.remove_account(0, "atelier.numerique@gmail.com")
    tablet.state.add_account(0, "dupont.marie@gmail.com")  # same count as at enrollment, another account
    tablet.state.add_account(10, "dupont.marie@gmail.com")
    tablet.state.set_lock(0, "NONE")

    device = tablets.give_back("h")
    assert device.status == "needs-attention"
    assert device.reason == ("1 account(s) added to user 0 since enrollment; the owner (user 0) has no screen lock "
                             "(PIN); 1 account(s) added to user 10 since enrollment")
    assert tablet.state.user_ids() == [0, 10]  # the second user is gone
    assert {user: tablet.state.packages_of(user) for user in (0, 10)} == enrolled_apps  # the spy app too
    with pytest.raises(ProvisionError, match="needs-attention"):
        tablets.lend("h")

    # The README's remedy, on the tablet, half done: the accounts removed, the PIN not set again.
    tablet.state.remove_account(0, "dupont.marie@gmail.com")
    tablet.state.remove_account(10, "dupont.marie@gmail.com")
    device = tablets.wipe(["h"])[0]
    assert device.status == "needs-attention"
    assert device.reason == "the owner (user 0) has no screen lock (PIN)"

    tablet.state.set_lock(0, "PIN")
    device = tablets.wipe(["h"])[0]
    assert device.status == "ready", device.reason
    assert tablets.lend("h").status == "lent"


def test_an_android_screen_lock_the_shell_cannot_see_is_never_ready(adb_server, android_tablets, tmp_path):
    tablets = open_tablets(tablet_settings(tmp_path, adb_port=adb_server.port))
    hidden = android_tablets(lock_dump="hidden")  # an older Android: no CredentialType in dumpsys lock_settings
    tablets.enroll_android("old", address=hidden.serial)
    device = tablets.wipe(["old"])[0]
    assert device.status == "needs-attention"
    assert device.reason == ("could not check the screen lock of the owner (user 0): this Android does not show it "
                             "to the shell")

    numbers = android_tablets(lock_dump="numbers", release="11", sdk=30)  # Android 11 prints "CredentialType: 3"
    tablets.enroll_android("eleven", address=numbers.serial)
    assert tablets.wipe(["eleven"])[0].status == "ready"
    numbers.state.set_lock(0, "NONE")
    assert tablets.wipe(["eleven"])[0].reason == "the owner (user 0) has no screen lock (PIN)"


def test_an_android_tablet_enrolled_before_the_record_is_never_ready(adb_server, android_tablets, tmp_path):
    tablet = android_tablets()
    tablets = open_tablets(tablet_settings(tmp_path, adb_port=adb_server.port))
    tablets.enroll_android("a", address=tablet.serial)
    tablets.inventory.update_details("a", kept_users=None)  # what an older kit stored
    device = tablets.wipe(["a"])[0]
    assert device.status == "needs-attention"
    assert "enrolled before the kit recorded its apps and accounts: enroll it again" in device.reason
    tablets.enroll_android("a", address=tablet.serial)
    assert tablets.wipe(["a"])[0].status == "ready"
