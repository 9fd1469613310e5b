"""Android tablets over ADB: one throwaway user per participant, or a partial fallback, and the proof.

Parsing follows Android's own output (`pm`, `am`, `settings`, toybox `ls`); the commands run through an
`AndroidShell`. With several users (`pm get-max-users` > 1, Android 7+), lending creates an ephemeral user,
skips its setup, makes the allowed apps available and switches to it; the wipe switches back to user 0,
removes every user the tech lead did not keep at enrollment, uninstalls from the kept users the third-party
apps installed since enrollment, and checks `pm list users`, `pm list packages -3 --user N`, `dumpsys account`
and the kept users' screen lock (`dumpsys lock_settings`) against what enrollment recorded. On a single-user tablet
the wipe clears the listed apps' data and empties the shared folders: accounts and other apps may keep
data, so that wipe is reported as partial, never as clean.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from provisioning.drivers.adb import AndroidShell, ShellResult
from provisioning.errors import StepFailed, UsageError

PARTICIPANT_NAME = "Participant"
MULTI_USER_MIN_SDK = 24  # Android 7: `pm create-user --ephemeral`
SHARED_STORAGE = "/sdcard"
# One user per line; the id comes first, so a user renamed with ':' or '}' cannot hide or fake another id.
_USER = re.compile(r"^\s*UserInfo\{(\d+):(.*):([0-9a-fA-F]+)\}( running)?.*$", re.MULTILINE)
# `dumpsys account` (AccountManagerService.dump): "User UserInfo{0:Owner:c13}:", then "Accounts: N" and one
# "Account {name=…, type=…}" line per account.
_ACCOUNT_USER = re.compile(r"^\s*User UserInfo\{(\d+):.*\}:\s*$")
_ACCOUNT_COUNT = re.compile(r"^\s*Accounts: (\d+)\s*$")
_ACCOUNT = re.compile(r"^\s*Account \{name=(.*), type=([^,{}]*)\}\s*$")
# `dumpsys lock_settings` (LockSettingsService.dump): "User N" then "CredentialType: PIN" (Android 12+ prints
# the name; Android 11 the number: -1 none, 1 pattern, 2/3 PIN, 4 password).
_LOCK_USER = re.compile(r"^\s*User (\d+)\s*$")
_LOCK_TYPE = re.compile(r"^\s*CredentialType: (\S+)\s*$")
LOCKED_TYPES = {"PIN", "PASSWORD", "PATTERN", "SMARTCARDNUMERIC", "1", "2", "3", "4"}
UNLOCKED_TYPES = {"NONE", "-1"}


@dataclass(frozen=True)
class AndroidUser:
    id: int
    name: str
    flags: int
    running: bool


def parse_users(text: str) -> list[AndroidUser]:
    if "Users:" not in text:
        raise StepFailed("unexpected answer to pm list users")
    return [AndroidUser(int(m.group(1)), m.group(2), int(m.group(3), 16), bool(m.group(4)))
            for m in _USER.finditer(text)]


def parse_max_users(text: str) -> int:
    found = re.search(r"Maximum supported users:\s*(\d+)", text)
    if not found:
        raise StepFailed("unexpected answer to pm get-max-users")
    return int(found.group(1))


def parse_created_user(text: str) -> int:
    found = re.search(r"Success: created user id (\d+)", text)
    if not found:
        raise StepFailed("the tablet could not create the participant's user (pm create-user)")
    return int(found.group(1))


def parse_listing(result: ShellResult) -> list[str] | None:
    """Names from `ls -A DIR`; None when the folder does not exist."""
    if "No such file or directory" in result.output:
        return None
    if result.status != 0:
        raise StepFailed("listing a shared folder failed")
    return [line for line in result.output.split("\n") if line]


def parse_packages(result: ShellResult) -> list[str]:
    """Names from `pm list packages -3 --user N` ("package:NAME" per line)."""
    if result.status != 0:
        raise StepFailed("listing a user's apps failed (pm list packages)")
    return sorted({line[len("package:"):].strip() for line in result.output.split("\n")
                   if line.startswith("package:")})


def account_digest(name: str, kind: str) -> str:
    """What the kit keeps of an account: enough to recognise it again, never its address."""
    return hashlib.sha256(f"{kind}\n{name}".encode()).hexdigest()[:20]


def parse_accounts(text: str) -> dict[int, list[str]]:
    """Per user, the digests of its accounts; raises when a user's "Accounts: N" and its lines disagree."""
    if "Accounts:" not in text:
        raise StepFailed("unexpected answer to dumpsys account")
    found: dict[int, list[str]] = {}
    counts: dict[int, int] = {}
    user: int | None = None
    listing = False  # only the lines right after "Accounts: N": later sections may name accounts again
    for line in text.split("\n"):
        if (header := _ACCOUNT_USER.match(line)) is not None:
            user = int(header.group(1))
            found[user] = []
            listing = False
        elif user is not None and (count := _ACCOUNT_COUNT.match(line)) is not None:
            counts[user] = int(count.group(1))
            listing = True
        elif listing and user is not None and (account := _ACCOUNT.match(line)) is not None:
            found[user].append(account_digest(account.group(1), account.group(2)))
        else:
            listing = False
    if any(counts.get(user) != len(digests) for user, digests in found.items()):
        raise StepFailed("unexpected answer to dumpsys account (the account count does not match its list)")
    return {user: sorted(digests) for user, digests in found.items()}


def parse_locks(text: str) -> dict[int, bool]:
    """Per user: True when a PIN, password or pattern protects it; users whose type is not shown are absent."""
    locks: dict[int, bool] = {}
    user: int | None = None
    for line in text.split("\n"):
        if (header := _LOCK_USER.match(line)) is not None:
            user = int(header.group(1))
        elif user is not None and (kind := _LOCK_TYPE.match(line)) is not None:
            value = kind.group(1).upper()
            if value in LOCKED_TYPES:
                locks[user] = True
            elif value in UNLOCKED_TYPES:
                locks[user] = False
    return locks


def choose_strategy(max_users: int, sdk: int) -> str:
    return "android-user" if max_users > 1 and sdk >= MULTI_USER_MIN_SDK else "android-partial"


class AndroidTablet:
    """The commands a wipe or a lend needs, each bounded by the step timeout."""

    def __init__(self, shell: AndroidShell, timeout: float):
        self.shell = shell
        self.timeout = timeout

    def sh(self, command: str, label: str) -> ShellResult:
        return self.shell.run(command, self.timeout, label)

    def prop(self, name: str) -> str:
        return self.sh(f"getprop {shlex.quote(name)}", "reading the Android version").output.strip()

    def max_users(self) -> int:
        return parse_max_users(self.sh("pm get-max-users", "asking how many users the tablet supports").output)

    def users(self) -> list[AndroidUser]:
        return parse_users(self.sh("pm list users", "listing the tablet's users").output)

    def current_user(self) -> int | None:
        text = self.sh("am get-current-user", "asking which user is active").output.strip()
        return int(text) if text.isdigit() else None

    def switch_to(self, user: int, label: str) -> None:
        result = self.sh(f"am switch-user {user}", label)
        if result.status != 0 or "Error" in result.output:
            raise StepFailed(f"the tablet refused to switch to user {user}")
        deadline = time.monotonic() + self.timeout
        while self.current_user() != user:
            if time.monotonic() >= deadline:
                raise StepFailed(f"the tablet did not switch to user {user}")
            time.sleep(0.2)

    def create_participant(self) -> int:
        result = self.sh(f"pm create-user --ephemeral {PARTICIPANT_NAME}", "creating the participant's user")
        return parse_created_user(result.output)

    def skip_setup(self, user: int) -> None:
        result = self.sh(f"settings put --user {user} secure user_setup_complete 1", "skipping the setup wizard")
        if result.status != 0:
            raise StepFailed("the tablet refused to skip the new user's setup")

    def make_available(self, user: int, package: str) -> None:
        result = self.sh(f"cmd package install-existing --user {user} {shlex.quote(package)}",
                         f"making {package} available")
        if "installed for user" not in result.output:
            raise StepFailed(f"could not make {package} available to the participant (is it installed?)")

    def remove_user(self, user: int) -> None:
        result = self.sh(f"pm remove-user {user}", "removing the participant's user")
        if "Success" not in result.output and any(u.id == user for u in self.users()):
            raise StepFailed(f"pm remove-user could not remove user {user}: the participant's data is still there")

    def third_party_packages(self, user: int) -> list[str]:
        return parse_packages(self.sh(f"pm list packages -3 --user {user}", f"listing user {user}'s apps"))

    def uninstall(self, user: int, package: str) -> None:
        result = self.sh(f"pm uninstall --user {user} {shlex.quote(package)}", f"removing an app from user {user}")
        if "Success" not in result.output:
            raise StepFailed(f"could not remove an app installed in user {user} since enrollment (pm uninstall)")

    def accounts(self) -> dict[int, list[str]]:
        return parse_accounts(self.sh("dumpsys account", "listing the accounts").output)

    def locks(self) -> dict[int, bool]:
        return parse_locks(self.sh("dumpsys lock_settings", "reading the screen locks").output)

    def clear_app(self, package: str) -> None:
        result = self.sh(f"pm clear {shlex.quote(package)}", f"clearing {package}'s data")
        if result.output.strip() != "Success":
            raise StepFailed(f"could not clear {package}'s data (pm clear)")

    def folder_entries(self, folder: str) -> list[str] | None:
        path = f"{SHARED_STORAGE}/{folder}"
        return parse_listing(self.sh(f"ls -A {shlex.quote(path)}", "listing a shared folder"))

    def empty_folder(self, folder: str) -> None:
        entries = self.folder_entries(folder) or []
        path = f"{SHARED_STORAGE}/{folder}"
        for start in range(0, len(entries), 50):
            batch = " ".join(shlex.quote(f"{path}/{name}") for name in entries[start:start + 50])
            result = self.sh(f"rm -rf {batch}", f"emptying {folder}")
            if result.status != 0:
                raise StepFailed(f"could not empty the shared folder {folder}")


def unexpected_users(users: Iterable[AndroidUser], baseline: Iterable[int]) -> list[int]:
    known = set(baseline)
    return sorted(user.id for user in users if user.id not in known)


def keepable(users: Iterable[AndroidUser], named: Iterable[str]) -> list[int]:
    """The owner and the users the tech lead named (by id or exact name) at enrollment."""
    kept = {0}
    for wanted in named:
        matches = [user.id for user in users if str(user.id) == wanted.strip() or user.name == wanted]
        if len(matches) != 1:
            listing = ", ".join(f"{user.id} ({user.name})" for user in users)
            problem = "no user" if not matches else "several users"
            raise UsageError(f"{problem} {wanted!r} on the tablet: name a user by its id (the tablet has {listing})")
        kept.add(matches[0])
    return sorted(kept)


def user_records(tablet: AndroidTablet, kept: Iterable[int]) -> list[dict[str, Any]]:
    """What enrollment records of each user allowed to remain: its third-party apps and its accounts."""
    accounts = tablet.accounts()
    return [{"id": user, "packages": tablet.third_party_packages(user), "accounts": accounts.get(user, [])}
            for user in kept]


def record_findings(tablet: AndroidTablet, records: list[dict[str, Any]] | None) -> list[str]:
    """Apps, accounts and screen locks of the kept users compared with enrollment, by category and count."""
    if records is None:
        return ["enrolled before the kit recorded its apps and accounts: enroll it again "
                "(provision tablets enroll android NAME …)"]
    found = []
    accounts = tablet.accounts()
    locks = tablet.locks()
    for record in records:
        user = int(record["id"])
        extra = set(tablet.third_party_packages(user)) - set(record["packages"])
        if extra:
            found.append(f"{len(extra)} app(s) installed in user {user} since enrollment")
        known = list(record["accounts"])  # a list, not a set: the same account may be there twice
        added = 0
        for digest in accounts.get(user, []):
            if digest in known:
                known.remove(digest)
            else:
                added += 1
        if added:
            found.append(f"{added} account(s) added to user {user} since enrollment")
        who = "the owner (user 0)" if user == 0 else f"user {user}"
        if user not in locks:
            found.append(f"could not check the screen lock of {who}: this Android does not show it to the shell")
        elif not locks[user]:
            found.append(f"{who} has no screen lock (PIN)")
    return found
