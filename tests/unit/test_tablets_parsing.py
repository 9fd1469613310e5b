"""The pure part of the tablet wipes: scripts rendered with every value quoted, outputs parsed strictly.

The Linux scripts are run here with the real `sh`, GNU find and coreutils on temporary trees (never over SSH),
with names a participant could choose: spaces, quotes, newlines, backslashes, a name like a section marker.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning import android, linux
from provisioning.drivers.adb import ShellResult
from provisioning.errors import StepFailed, UsageError, explain_failure

HOSTILE = ["espace et accents é", "quote'simple", 'quote"double', "retour\nligne", "anti\\slash", "$(reboot)",
           "@@triporteur:end", "-rf", "E"]


def sh(script: str) -> bytes:
    return subprocess.run(["sh", "-c", script], capture_output=True, timeout=30, check=True).stdout


def make_tree(top: Path) -> None:
    (top / "dir").mkdir(parents=True)
    for index, name in enumerate(HOSTILE):
        (top / "dir" / name).write_text(f"content {index}")
    (top / "link").symlink_to("dir")
    (top / ".hidden").write_bytes(b"\x00\xff")


def tree(path: Path) -> tuple[dict, set[int]]:
    output = sh(f"printf '{linux.MARK}tree\\0'; {linux.tree_script(str(path))}")
    return linux.manifest_from(linux.parse_sections(output)["tree"])


def test_a_tree_with_hostile_names_is_read_exactly(tmp_path):
    make_tree(tmp_path / "t")
    manifest, owners = tree(tmp_path / "t")
    assert set(manifest) == {".", "dir", "link", ".hidden", *(f"dir/{name}" for name in HOSTILE)}
    assert manifest["link"] == ["l", "dir"]
    assert manifest["dir/retour\nligne"][0:3] == ["f", "0644", 9]
    assert len(manifest["dir/@@triporteur:end"][3]) == 64  # a marker-like name is a name, and is hashed
    assert owners == {os.getuid()}


def test_hashing_only_skeleton_paths_never_follows_a_link(tmp_path):
    make_tree(tmp_path / "t")
    (tmp_path / "t" / "trap").symlink_to("/dev/zero")  # would never end if hashed
    output = sh(f"printf '{linux.MARK}tree\\0'; {linux.tree_script(str(tmp_path / 't'), ['trap', '.hidden'])}")
    manifest, _ = linux.manifest_from(linux.parse_sections(output)["tree"])
    assert manifest["trap"] == ["l", "/dev/zero"]
    assert manifest[".hidden"][3] is not None
    assert manifest["dir/E"][3] is None  # not asked for


def test_comparing_trees_counts_unexpected_names_without_showing_them():
    expected = {".": ["d", "0750"], ".bashrc": ["f", "0644", 3, "a" * 64], "Bureau": ["d", "0755"]}
    actual = {".": ["d", "0750"], ".bashrc": ["f", "0644", 3, "b" * 64], "attestation-Dupont.pdf": ["f", "0600", 9, ""]}
    difference = linux.compare_trees(expected, actual)
    text = difference.describe("the guest's home")
    assert text == ("the guest's home differs from the golden skeleton: 1 unexpected item(s), 1 missing (Bureau), "
                    "1 changed (.bashrc)")
    assert "Dupont" not in text
    assert not linux.compare_trees(expected, dict(expected))


def test_restoring_a_home_from_a_skeleton_with_hostile_names(tmp_path):
    skeleton, home = tmp_path / "skel", tmp_path / "home dir with 'quotes'"
    make_tree(skeleton)
    make_tree(home)
    (home / "participant file").write_text("private")
    (home / "dir" / "espace et accents é").write_text("changed")
    expected, _ = tree(skeleton)
    guest = linux.Guest("guest", os.getuid(), os.getgid(), str(home), str(skeleton), expected)
    sh(linux.restore_home_script(guest))
    restored, _ = tree(home)
    assert restored == expected
    assert not linux.compare_trees(expected, restored)


def test_leftovers_are_swept_on_every_mounted_filesystem_not_a_fixed_list(tmp_path):
    guest = linux.Guest("guest", 4242, 4242, "/home/guest", "/skel")
    script = linux.leftovers_script(guest)
    assert script.startswith("U=4242;")
    assert "/proc/self/mounts" in script and "-user \"$U\" -prune -exec rm -rf --one-file-system" in script
    assert "/var/tmp" not in script  # found because it is mounted or under /, never because it is listed
    roots = sh(linux._sweep_roots_script() + 'printf "%s\\n" "$roots"').decode().split("\n")
    mounted = {line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
               if line.split()[2] == "tmpfs"}
    assert mounted and mounted <= set(roots)  # every tmpfs of this machine is a sweep root
    assert "/proc" not in roots and "/sys" not in roots


def test_the_sweep_finds_files_on_a_second_filesystem_and_ipc_lists_by_creator(tmp_path):
    guest = linux.Guest("guest", os.getuid(), os.getgid(), str(tmp_path / "home"), "/skel")
    listing = sh("\n".join(["U=424242", linux._ipc_list(), "echo end"]))
    assert listing == b"end\n"  # no object of an unused uid
    assert "-printf '%p\\0' -prune" in linux.verify_script(guest)


@pytest.mark.parametrize(("recorded", "actual", "changed"), [
    ("tkguest:x:1001:1001:Invité:/home/tkguest:/bin/bash",
     "tkguest:x:1001:1001:Invité,Jean,,06:/home/tkguest:/bin/bash",
     ["full name (GECOS)"]),
    ("tkguest:x:1001:1001:Invité:/home/tkguest:/bin/bash", "tkguest:x:1001:1001:Invité:/home/tkguest:/bin/zsh",
     ["shell"]),
])
def test_account_differences_name_the_field_never_the_value(recorded, actual, changed):
    shadow = "tkguest:$y$j9T$old:19000:0:99999:7:::"
    record = {"passwd": recorded, "shadow": shadow}
    assert linux.account_differences(record, {"passwd": actual, "shadow": shadow}) == changed
    new_password = {"passwd": recorded, "shadow": "tkguest:$y$j9T$participant:20793:0:99999:7:::"}
    assert linux.account_differences(record, new_password) == ["password", "date of the last password change"]
    assert linux.account_differences(record, dict(record)) == []


def test_restoring_the_account_quotes_the_recorded_hash_and_gecos():
    guest = linux.Guest("tkguest", 1001, 1001, "/home/tkguest", "/skel", {},
                        {"passwd": "tkguest:x:1001:1001:Invité 'kit':/home/tkguest:/bin/bash",
                         "shadow": "tkguest:$y$j9T$abc$def:19000:0:99999:7:::"}, ())
    script = linux.restore_account_script(guest)
    assert "usermod -p '$y$j9T$abc$def' -c 'Invité '\"'\"'kit'\"'\"'' -s /bin/bash -- tkguest" in script
    assert "chage -d 19000 -- tkguest" in script
    with pytest.raises(StepFailed, match="enroll the laptop again"):
        linux.restore_account_script(linux.Guest("g", 1, 1, "/h", "/s", {}, {"passwd": "g:x", "shadow": "g"}, ()))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
                        min_size=1, max_size=20), max_size=8))
def test_no_name_can_end_a_section_early(names):
    """Records are read by their structure: whatever a participant names a file, the sections that follow
    are still read, and nothing is invented."""
    records = b"".join(b"E\0f\0" + b"0644\0" + b"1000\0" + b"3\0" + name.encode() + b"\0\0" for name in names)
    data = f"{linux.MARK}home\0".encode() + records + f"{linux.MARK}spool\0d00001-001\0{linux.MARK}end\0".encode()
    sections = linux.parse_sections(data)
    assert [record[5] for record in sections["home"]] == names
    assert sections["spool"] == [["d00001-001"]]
    assert "end" in sections


PASSWD_LINE = "tkguest:x:1001:1001:Invité:/home/tkguest:/bin/bash"  # noqa: S105 - no password in it
SHADOW_LINE = "tkguest:$y$j9T$kit:19000:0:99999:7:::"  # a made-up hash
GUEST = linux.Guest("tkguest", 1001, 1001, "/home/tkguest", "/skel",
                    {".": ["d", "0750"], "a": ["f", "0644", 1, "c" * 64]},
                    {"passwd": PASSWD_LINE, "shadow": SHADOW_LINE},
                    ("0d1e-kit",))


def verification_output(**sections: bytes) -> bytes:
    clean_tree = b"E\0d\x000750\x001001\x004096\0\0\0E\0f\x000644\x001001\x001\0a\0\0" + b"c" * 64 + b"  ./a\0"
    skeleton = clean_tree.replace(b"\x001001\x00", b"\x000\x00")  # root-owned
    parts = {"account": f"{PASSWD_LINE}\0{SHADOW_LINE}\0".encode(), "processes": b"", "skeleton": skeleton,
             "home": clean_tree, "xattr": b"0\x000\0", "sweep": b"", "mqueue": b"/dev/mqueue\0", "ipc": b"",
             "at": b"", "linger": b"",
             "wifi": b"K\0/etc/NetworkManager/system-connections/kit.nmconnection\x000d1e-kit\0Point numerique staff\0"
                     b"wifi\0",
             "spool": b"", "mounts": b"", "free": b"900000\0", **sections}
    return b"".join(f"{linux.MARK}{name}\0".encode() + body for name, body in parts.items()) + \
        f"{linux.MARK}end\0".encode()


def test_a_clean_verification_has_no_findings():
    assert linux.findings(GUEST, verification_output()) == []


@pytest.mark.parametrize(("section", "body", "finding"), [
    ("account", f"{PASSWD_LINE}\0tkguest:$y$j9T$Dupont:20793:0:99999:7:::\0".encode(),
     "the guest account differs from enrollment: password, date of the last password change"),
    ("account", b"", "the guest account differs from enrollment: the passwd entry, the shadow entry"),
    ("processes", b"4242\0", "1 process(es) of the guest still running"),
    ("sweep", b"/tmp/a\0/var/lib/php/x\0/var/lib/y\0", "3 file(s) of the guest left outside its home "
                                                       "(/tmp: 1, /var/lib: 2)"),
    ("sweep", b"/run/lock/x\0/srv/partage/y\0/dev/mqueue/z\0", "3 file(s) of the guest left outside its home "
                                                                 "(/dev/mqueue: 1, /run/lock: 1, /srv: 1)"),
    ("xattr", b"1\x000\0", "1 extended attribute(s) or ACL(s) in the guest's home that the skeleton does not have"),
    ("xattr", b"", "extended attributes could not be checked (install the attr package on the laptop)"),
    ("mqueue", b"", "POSIX message queues could not be checked (/dev/mqueue is not mounted)"),
    ("ipc", b"-m 3\0-q 7\0", "2 shared memory or IPC object(s) of the guest"),
    ("at", b"12\0", "1 at job(s) of the guest queued"),
    ("linger", b"linger\0", "the guest's user services linger"),
    ("wifi", b"N\0f1a2:802-11-wireless:Box\\:Dupont\0", "1 network connection(s) not recorded at enrollment "
                                                       "(802-11-wireless)"),
    ("wifi", b"K\0/etc/NetworkManager/system-connections/x\0other-uuid\0Point numerique staff\0wireguard\0",
     "1 network connection(s) not recorded at enrollment (wireguard)"),
    ("spool", b"d00042-001\0c00042\0", "2 print job file(s) left in the spool"),
    ("mounts", b"/media/tkguest/CLE\0", "removable media still mounted for the guest"),
    ("free", b"1024\0", "the tablet's disk is full (1 MB free)"),
    ("home", b"E\0d\x000750\x001001\x004096\0\0\0", "the guest's home differs from the golden skeleton: 1 missing (a)"),
    ("home", b"E\0d\x000750\x000\x004096\0\0\0E\0f\x000644\x001001\x001\0a\0\0" + b"c" * 64 + b"  ./a\0",
     "items in the guest's home are not owned by the guest"),
    ("skeleton", b"", "the golden skeleton is missing on the laptop"),
    ("skeleton", b"E\0d\x000750\x001001\x004096\0\0\0E\0f\x000644\x000\x001\0a\0\0" + b"c" * 64 + b"  ./a\0",
     "the golden skeleton is not owned by root (the guest could change it): provision tablets skeleton NAME"),
])
def test_each_leftover_is_a_finding(section, body, finding):
    found = linux.findings(GUEST, verification_output(**{section: body}))
    assert finding in found
    assert not any("Dupont" in text or "php" in text or "$y$" in text for text in found)


def test_a_laptop_enrolled_before_the_records_is_never_ready():
    old = linux.Guest("tkguest", 1001, 1001, "/home/tkguest", "/skel", GUEST.manifest)
    found = linux.findings(old, verification_output())
    assert any("provision tablets skeleton NAME" in text for text in found)


def test_a_verification_cut_short_is_not_clean():
    cut = verification_output().split(f"{linux.MARK}end".encode())[0]
    assert linux.findings(GUEST, cut) == ["the verification did not complete"]


def test_connections_are_kept_by_uuid_never_by_name():
    connections = linux.parse_connections([
        ["N", "1-2:802-11-wireless:Caf\\:é \\\\ box"], ["N", "3-4:ethernet:Wired"],
        ["K", "/etc/NetworkManager/system-connections/x", "kit-uuid", "Point numerique staff", "wifi"],
        ["K", "/etc/NetworkManager/system-connections/y", "copy-uuid", "Point numerique staff", "wifi"]])
    assert [c.name for c in connections] == ["Caf:é \\ box", "Wired", "Point numerique staff", "Point numerique staff"]
    assert linux.connections_to_keep(connections[2:3], ["Point numerique staff"]) == ("kit-uuid",)
    assert linux.connections_to_keep(connections[:2], []) == ("1-2", "3-4")  # all present at a clean enrollment
    victims = linux.unwanted_connections(connections, ["kit-uuid"])
    assert [c.handle for c in victims] == ["1-2", "3-4", "/etc/NetworkManager/system-connections/y"]
    script = linux.remove_connections_script(victims)
    assert "nmcli connection delete uuid 1-2 uuid 3-4" in script
    assert "rm -f -- /etc/NetworkManager/system-connections/y" in script


def test_keyfile_listing_reads_only_the_connection_section(tmp_path):
    directory = tmp_path / "system-connections"
    directory.mkdir()
    (directory / "Box Dupont.nmconnection").write_text("[connection]\nid=Box Dupont\nuuid=u-1\ntype=wireguard\n"
                                                       "[wireguard]\nprivate-key=secret\n[vpn]\nid=not this\n")
    script = linux.connections_script().replace("/etc/NetworkManager/system-connections", str(directory))
    connections = linux.parse_connections_output(sh(script))
    assert [(c.name, c.uuid, c.type, c.via) for c in connections] == [("Box Dupont", "u-1", "wireguard", "keyfile")]


def test_media_mount_points_are_decoded_and_deepest_first():
    mounts = ("/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /media/tkguest/CLE\\040USB vfat rw 0 0\n"
              "/dev/sdb2 /media/tkguest/CLE\\040USB/part vfat rw 0 0\n/dev/sdc1 /media/other/X vfat rw 0 0\n")
    assert linux.media_targets(mounts, "tkguest") == ["/media/tkguest/CLE USB/part", "/media/tkguest/CLE USB"]


def test_failed_commands_never_quote_the_device():
    problem = explain_failure("removing the guest's temporary files", 1,
                              "rm: cannot remove '/tmp/attestation-Dupont.pdf': Operation not permitted")
    assert problem.reason == "permission denied while removing the guest's temporary files"
    assert explain_failure("restoring", 1, "cp: error writing 'x': No space left on device").reason == \
        "the tablet's disk is full (restoring)"
    assert explain_failure("x", 3, "secret name").reason == "x failed (exit status 3)"


# --- Android ------------------------------------------------------------------------------------------
def test_android_users_as_android_10_and_13_print_them():
    android10 = "Users:\n\tUserInfo{0:Owner:13} running\n\tUserInfo{10:Participant:510}\n"
    android13 = "Users:\n\tUserInfo{0:Propriétaire:c13} running\n\tUserInfo{11:Invité: x:1510} running\n"
    assert [(u.id, u.name, u.running) for u in android.parse_users(android10)] == [(0, "Owner", True),
                                                                                   (10, "Participant", False)]
    users = android.parse_users(android13)
    assert [u.id for u in users] == [0, 11] and users[1].flags & 0x100
    assert android.unexpected_users(users, [0]) == [11]
    with pytest.raises(StepFailed):
        android.parse_users("Error: java.lang.SecurityException")


def test_android_answers():
    assert android.parse_max_users("Maximum supported users: 4\n") == 4
    assert android.parse_created_user("Success: created user id 12\n") == 12
    with pytest.raises(StepFailed, match="could not create"):
        android.parse_created_user("Error: couldn't create User.\n")
    assert android.parse_listing(ShellResult(0, "a\nb c\n")) == ["a", "b c"]
    assert android.parse_listing(ShellResult(1, "ls: /sdcard/Movies: No such file or directory\n")) is None
    assert android.choose_strategy(4, 33) == "android-user"
    assert android.choose_strategy(1, 33) == "android-partial"
    assert android.choose_strategy(4, 23) == "android-partial"  # no ephemeral users before Android 7


ACCOUNTS_DUMP = """User UserInfo{0:Owner:c13}:
  Accounts: 2
    Account {name=atelier.numerique@gmail.com, type=com.google}
    Account {name=Invité, type=com.whatsapp}

  Active Sessions: 0

  RegisteredServicesCache: 1 services
    ServiceInfo: AuthenticatorDescription {type=com.google}, ComponentInfo{com.google.android.gms/x}, uid 10123

  Account visibility:
    Account {name=atelier.numerique@gmail.com, type=com.google}

User UserInfo{11:Démo, salle 2:410}:
  Accounts: 0

  Active Sessions: 0
"""


def test_dumpsys_account_gives_each_user_its_accounts_as_digests_only():
    # Only the lines under "Accounts: N" count: a later section naming an account again is not counted twice.
    accounts = android.parse_accounts(ACCOUNTS_DUMP)
    assert sorted(accounts) == [0, 11] and len(accounts[0]) == 2 and accounts[11] == []
    assert android.account_digest("atelier.numerique@gmail.com", "com.google") in accounts[0]
    assert not any("gmail" in digest for digest in accounts[0])  # the kit never keeps an address
    with pytest.raises(StepFailed, match="does not match"):
        android.parse_accounts(ACCOUNTS_DUMP.replace("Accounts: 2", "Accounts: 3"))
    with pytest.raises(StepFailed, match="dumpsys account"):
        android.parse_accounts("Can't find service: account\n")


def test_dumpsys_lock_settings_as_android_11_and_13_print_it_and_older_ones_do_not():
    android13 = ("Current lock settings service state:\n\nUser State:\n  User 0\n    SID: 5e1\n    Quality: 131072\n"
                 "    CredentialType: PIN\n  User 11\n    Quality: 0\n    CredentialType: NONE\n")
    assert android.parse_locks(android13) == {0: True, 11: False}
    android11 = "User State:\n  User 0\n    CredentialType: 3\n  User 10\n    CredentialType: -1\n"
    assert android.parse_locks(android11) == {0: True, 10: False}
    assert android.parse_locks("User State:\n  User 0\n    Quality: 131072\n") == {}  # not shown: not checked


def test_third_party_packages_and_kept_users():
    result = ShellResult(0, "package:fr.caf.mobile\npackage:com.whatsapp\n\n")
    assert android.parse_packages(result) == ["com.whatsapp", "fr.caf.mobile"]
    with pytest.raises(StepFailed, match="pm list packages"):
        android.parse_packages(ShellResult(255, "Error: user 12 not found\n"))
    users = android.parse_users("Users:\n\tUserInfo{0:Owner:c13} running\n\tUserInfo{11:Démo:410}\n"
                                "\tUserInfo{12:Démo:410}\n\tUserInfo{13:Accueil:410}\n")
    assert android.keepable(users, []) == [0]
    assert android.keepable(users, ["11", "Accueil"]) == [0, 11, 13]
    with pytest.raises(UsageError, match="several users 'Démo'"):
        android.keepable(users, ["Démo"])
    with pytest.raises(UsageError, match="no user '42'"):
        android.keepable(users, ["42"])
