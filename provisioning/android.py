"""Android tablets over ADB: one throwaway user per participant, or a partial fallback, and the proof.

Parsing follows Android's own output (`pm`, `am`, `settings`, toybox `ls`); the commands run through an
`AndroidShell`. With several users (`pm get-max-users` > 1, Android 7+), lending creates an ephemeral user,
skips its setup, makes the allowed apps available and switches to it; the wipe switches back to user 0,
removes every user that was not there at enrollment and checks `pm list users`. On a single-user tablet
the wipe clears the listed apps' data and empties the shared folders: accounts and other apps may keep
data, so that wipe is reported as partial, never as clean.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass

from provisioning.drivers.adb import AndroidShell, ShellResult
from provisioning.errors import StepFailed

PARTICIPANT_NAME = "Participant"
MULTI_USER_MIN_SDK = 24  # Android 7: `pm create-user --ephemeral`
SHARED_STORAGE = "/sdcard"
# One user per line; the id comes first, so a user renamed with ':' or '}' cannot hide or fake another id.
_USER = re.compile(r"^\s*UserInfo\{(\d+):(.*):([0-9a-fA-F]+)\}( running)?.*$", re.MULTILINE)


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
