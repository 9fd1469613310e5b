"""A plan per wipe strategy: how to reach the tablet, the wipe's steps, its verification, and lending.

The steps and the verification are separate on purpose: verification never trusts that a step did its job,
so a step that silently left something behind still ends in needs-attention.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import paramiko

from kiosk.settings import Settings
from provisioning import android, linux
from provisioning.audit import CLEAN, PARTIAL
from provisioning.drivers.adb import AdbServer, AndroidShell
from provisioning.drivers.ssh import SshSession, connect, key_from_pin, load_or_create_kit_key, split_address
from provisioning.errors import HostKeyRefused, StepFailed
from provisioning.inventory import ANDROID_PARTIAL, ANDROID_USER, LINUX_SKELETON, Device, Inventory

PARTIAL_NOTE = ("partial wipe (single-user tablet): the listed apps' data was cleared and the shared folders "
                "emptied; accounts and other apps' data may remain")


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    action: Callable[[Any], None]


@dataclass(frozen=True)
class Verdict:
    findings: list[str]
    result: str = CLEAN
    note: str = ""


@dataclass
class Context:
    """What plans share: settings, the inventory, the kit's SSH key (made once), the adb server."""

    settings: Settings
    inventory: Inventory
    _kit_key: paramiko.PKey | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def timeout(self) -> float:
        return float(self.settings.tablets.step_timeout_seconds)

    def kit_key(self) -> paramiko.PKey:
        with self._lock:
            if self._kit_key is None:
                self._kit_key = load_or_create_kit_key(self.settings.tablets.ssh_key)
            return self._kit_key

    def adb_server(self) -> AdbServer:
        return AdbServer(self.settings.tablets.adb, self.settings.tablets.adb_server_port)


class Plan(ABC):
    strategy: str

    def __init__(self, device: Device, context: Context):
        self.device = device
        self.context = context

    @abstractmethod
    def open(self) -> contextlib.AbstractContextManager[Any]:
        """Reach the tablet; raises Unreachable (worth retrying) or another DeviceProblem."""

    @abstractmethod
    def steps(self) -> list[Step]: ...

    @abstractmethod
    def verify(self, session: Any) -> Verdict: ...

    @abstractmethod
    def lend(self, session: Any) -> dict[str, Any]:
        """Prepare the tablet for one participant; returns details to remember until it comes back."""


# --- Linux ---------------------------------------------------------------------------------------------
class LinuxPlan(Plan):
    strategy = LINUX_SKELETON

    @property
    def guest(self) -> linux.Guest:
        details = self.device.details
        keep = details.get("connections_keep")
        return linux.Guest(details["guest"], details["uid"], details["gid"], details["home"], details["skeleton"],
                           details["manifest"], details.get("account", {}), None if keep is None else tuple(keep))

    def open(self) -> SshSession:
        pin = self.context.inventory.host_key(self.device.name)
        if pin is None:
            raise HostKeyRefused("no host key is pinned for this laptop: enroll it again")
        host, port = split_address(self.device.address or "")
        return connect(host, port, self.device.details.get("login", "root"), key_from_pin(pin),
                       pkey=self.context.kit_key())

    def steps(self) -> list[Step]:
        return [
            Step("processes", "ending the guest's processes",
                 lambda s: s.check(linux.end_processes_script(self.guest), self.context.timeout,
                                   "ending the guest's processes")),
            Step("media", "unmounting removable media", self._unmount_media),
            Step("account", "putting the guest account back as enrolled (password, name, shell)",
                 self._restore_account),
            Step("home", "making the guest's home anew from the golden skeleton",
                 lambda s: s.check(linux.restore_home_script(self.guest), self.context.timeout,
                                   "restoring the guest's home")),
            Step("leftovers", "removing the guest's files on every filesystem, IPC objects, at jobs",
                 lambda s: s.check(linux.leftovers_script(self.guest), self.context.timeout,
                                   "removing what the guest left outside its home")),
            Step("wifi", "removing network connections not recorded at enrollment", self._remove_connections),
            Step("print", "cancelling print jobs and emptying the spool",
                 lambda s: s.check(linux.print_jobs_script(), self.context.timeout, "cancelling print jobs")),
        ]

    def _restore_account(self, session: SshSession) -> None:
        if not self.guest.recorded:
            raise StepFailed("the guest account was not recorded at enrollment: run `provision tablets skeleton "
                             f"{self.device.name}` first")
        session.check(linux.restore_account_script(self.guest), self.context.timeout, "restoring the guest account")

    def _unmount_media(self, session: SshSession) -> None:
        mounts = session.check("cat /proc/self/mounts", self.context.timeout, "listing mounts").text
        targets = linux.media_targets(mounts, self.guest.name)
        if targets:
            session.check("umount -l -- " + " ".join(linux.q(t) for t in targets), self.context.timeout,
                          "unmounting removable media")

    def _remove_connections(self, session: SshSession) -> None:
        if self.guest.connections_keep is None:
            raise StepFailed("the connections to keep were not recorded at enrollment: run `provision tablets "
                             f"skeleton {self.device.name}` first")
        listing = session.check(linux.connections_script(), self.context.timeout, "listing network connections")
        victims = linux.unwanted_connections(linux.parse_connections_output(listing.stdout),
                                             self.guest.connections_keep)
        if victims:
            session.check(linux.remove_connections_script(victims), self.context.timeout,
                          "removing network connections")

    def verify(self, session: SshSession) -> Verdict:
        done = session.check(linux.verify_script(self.guest), self.context.timeout, "verifying the laptop")
        return Verdict(linux.findings(self.guest, done.stdout))

    def lend(self, session: SshSession) -> dict[str, Any]:
        verdict = self.verify(session)
        if verdict.findings:
            raise StepFailed("not clean, so not lent: " + "; ".join(verdict.findings))
        return {}


# --- Android -------------------------------------------------------------------------------------------
class AndroidPlan(Plan):
    @contextlib.contextmanager
    def open(self) -> Iterator[android.AndroidTablet]:
        shell = AndroidShell(self.context.adb_server(), serial=self.device.serial, address=self.device.address)
        shell.attach(timeout=self.context.timeout)
        yield android.AndroidTablet(shell, self.context.timeout)

    @property
    def apps(self) -> list[str]:
        return list(self.context.settings.tablets.android_apps)

    @property
    def folders(self) -> list[str]:
        return list(self.context.settings.tablets.android_shared_folders)


class AndroidUserPlan(AndroidPlan):
    strategy = ANDROID_USER

    @property
    def baseline(self) -> list[int]:
        return list(self.device.details.get("baseline_users", [0]))

    def steps(self) -> list[Step]:
        return [Step("owner", "switching back to the owner (user 0)",
                     lambda t: t.switch_to(0, "switching back to the owner")),
                Step("users", "removing the participant's user", self._remove_users),
                Step("apps", "removing apps installed since enrollment", self._remove_apps)]

    @property
    def records(self) -> list[dict[str, Any]] | None:
        return self.device.details.get("kept_users")

    def _remove_users(self, tablet: android.AndroidTablet) -> None:
        for user in android.unexpected_users(tablet.users(), self.baseline):
            tablet.remove_user(user)

    def _remove_apps(self, tablet: android.AndroidTablet) -> None:
        # Accounts and screen locks cannot be changed from the shell: the verification reports them.
        for record in self.records or []:
            for package in sorted(set(tablet.third_party_packages(record["id"])) - set(record["packages"])):
                tablet.uninstall(record["id"], package)

    def verify(self, tablet: android.AndroidTablet) -> Verdict:
        # An ephemeral user is removed in the background once switched away from: give it the step timeout.
        deadline = time.monotonic() + self.context.timeout
        while True:
            leftover = android.unexpected_users(tablet.users(), self.baseline)
            if not leftover or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        found = []
        if leftover:
            found.append(f"{len(leftover)} user(s) besides the enrolled ones still on the tablet")
        if tablet.current_user() != 0:
            found.append("the tablet is not back on its owner (user 0)")
        found.extend(android.record_findings(tablet, self.records))
        return Verdict(found)

    def lend(self, tablet: android.AndroidTablet) -> dict[str, Any]:
        if android.unexpected_users(tablet.users(), self.baseline):
            raise StepFailed("the tablet has users besides the enrolled ones: wipe it before lending")
        findings = android.record_findings(tablet, self.records)
        if findings:
            raise StepFailed("not clean, so not lent: " + "; ".join(findings))
        user = tablet.create_participant()
        tablet.skip_setup(user)
        for package in self.apps:
            tablet.make_available(user, package)
        tablet.switch_to(user, "switching to the participant's user")
        return {"lent_user": user}


class AndroidPartialPlan(AndroidPlan):
    strategy = ANDROID_PARTIAL

    def steps(self) -> list[Step]:
        return [Step("apps", "clearing the listed apps' data", self._clear_apps),
                Step("folders", "emptying the shared folders", self._empty_folders)]

    def _clear_apps(self, tablet: android.AndroidTablet) -> None:
        for package in self.apps:
            tablet.clear_app(package)

    def _empty_folders(self, tablet: android.AndroidTablet) -> None:
        for folder in self.folders:
            tablet.empty_folder(folder)

    def verify(self, tablet: android.AndroidTablet) -> Verdict:
        found = []
        for folder in self.folders:
            entries = tablet.folder_entries(folder)
            if entries:
                found.append(f"{len(entries)} item(s) left in the shared folder {folder}")
        return Verdict(found, PARTIAL, PARTIAL_NOTE)

    def lend(self, tablet: android.AndroidTablet) -> dict[str, Any]:
        verdict = self.verify(tablet)
        if verdict.findings:
            raise StepFailed("not clean, so not lent: " + "; ".join(verdict.findings))
        return {}


PLANS: dict[str, type[Plan]] = {LINUX_SKELETON: LinuxPlan, ANDROID_USER: AndroidUserPlan,
                                ANDROID_PARTIAL: AndroidPartialPlan}


def plan_for(device: Device, context: Context) -> Plan:
    return PLANS[device.strategy](device, context)
