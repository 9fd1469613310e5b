"""The loaned tablets' rules, shared by the `provision` command and (later) the dashboard: enroll, lend,
return, wipe, retire. Nothing here prints; a person is asked through the `confirm` callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import paramiko

from kiosk.settings import Settings
from kiosk.store import Store
from provisioning import android, linux
from provisioning.audit import PARTIAL, Jobs
from provisioning.drivers.adb import AndroidShell
from provisioning.drivers.ssh import (
    connect,
    fetch_host_key,
    join_address,
    pinned,
    public_line,
    split_address,
)
from provisioning.errors import DeviceProblem, ProvisionError, StepFailed, UsageError
from provisioning.events import EventBus, purge_events
from provisioning.inventory import (
    ATTENTION,
    LENT,
    LINUX_SKELETON,
    READY,
    RETIRED,
    WIPING,
    Device,
    Inventory,
    PinnedKey,
    check_name,
)
from provisioning.plans import Context, Plan, plan_for
from provisioning.wipe import WIPEABLE, Backoff, Wiper

Confirm = Callable[[str, PinnedKey | None], bool]


@dataclass(frozen=True)
class LinuxCredentials:
    """How to log in the first time, before the kit's own key is installed."""

    identity: str | None = None
    password: str | None = None

    def pkey(self) -> paramiko.PKey | None:
        if not self.identity:
            return None
        try:
            return paramiko.PKey.from_path(self.identity)
        except (OSError, paramiko.SSHException, ValueError) as problem:
            raise UsageError(f"cannot read the key {self.identity}: {problem}") from None


class Tablets:
    def __init__(self, settings: Settings, store: Store, bus: EventBus | None = None,
                 clock: Callable[[], float] = time.time, backoff: Backoff | None = None,
                 plan_factory: Callable[[Device, Context], Plan] = plan_for):
        self.settings = settings
        self.store = store
        self.clock = clock
        self.inventory = Inventory(store, clock)
        self.jobs = Jobs(store, clock)
        self.bus = bus or EventBus(store, clock)
        self.context = Context(settings, self.inventory)
        self.plan_factory = plan_factory
        self.wiper = Wiper(self.inventory, self.jobs, self.bus, lambda device: plan_factory(device, self.context),
                           attempts=settings.tablets.retries, backoff=backoff)

    @classmethod
    def open(cls, settings: Settings, **options: Any) -> Tablets:
        store = Store(settings.store.path)
        store.upgrade()
        return cls(settings, store, **options)

    @property
    def timeout(self) -> float:
        return float(self.settings.tablets.step_timeout_seconds)

    def _refuse_if_lent(self, name: str) -> None:
        existing = self.inventory.find(check_name(name))
        if existing is not None and existing.status == LENT:
            raise ProvisionError(f"{name} is lent: return it before enrolling it again")

    # --- enrollment ------------------------------------------------------------------------------------
    def enroll_linux(self, name: str, address: str, guest: str, confirm: Confirm, *, port: int | None = None,
                     login: str = "root",
                     credentials: LinuxCredentials | Callable[[], LinuxCredentials] | None = None) -> Device:
        """Fetch and show the host key, pin it once confirmed, install the kit's key, learn the guest account
        and the golden skeleton's manifest. Nothing is stored unless every part succeeds."""
        self._refuse_if_lent(name)
        host, default_port = split_address(address)
        port = port or default_port
        offered = fetch_host_key(host, port, self.timeout)
        previous = self.inventory.host_key(name)
        if not confirm(offered.fingerprint, previous):
            raise ProvisionError("host key not confirmed: nothing was changed")
        # Asked only now: a password is never sent to a host whose key a person has not confirmed.
        credentials = credentials() if callable(credentials) else credentials or LinuxCredentials()
        kit_key = self.context.kit_key()
        first = credentials.pkey()
        first_login = {"pkey": first or (None if credentials.password else kit_key), "password": credentials.password}
        try:
            session = connect(host, port, login, offered, timeout=self.timeout, **first_login)
        except StepFailed:
            raise StepFailed(f"{login}@{join_address(host, port)} refused the login: give --identity KEY (a key "
                             "it accepts) or --password-stdin") from None
        with session:
            line = public_line(kit_key)
            session.sudo = False  # the key goes into the login account's own ~/.ssh
            session.check("umask 077; mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && "
                          f"(grep -qxF {linux.q(line)} ~/.ssh/authorized_keys || "
                          f"printf '%s\\n' {linux.q(line)} >> ~/.ssh/authorized_keys)",
                          self.timeout, "installing the kit's key")
        skeleton = self.settings.tablets.linux_skeleton
        with connect(host, port, login, offered, pkey=kit_key, timeout=self.timeout) as session:
            missing = session.check(linux.requirements_script(), self.timeout, "checking the laptop's tools").text
            if missing.strip():
                raise StepFailed("the laptop lacks: " + ", ".join(missing.split()))
            passwd = session.run(linux.guest_script(guest), self.timeout, "finding the guest account")
            if passwd.status != 0:
                raise StepFailed(f"no account {guest!r} on the laptop")
            uid, gid, home = linux.parse_passwd(passwd.text)
            if uid == 0 or home in ("", "/"):
                raise StepFailed(f"{guest!r} cannot be a guest account (uid {uid}, home {home!r})")
            manifest = self._skeleton_manifest(session, skeleton)
            records = self._guest_records(session, guest)
        details = {"login": login, "guest": guest, "uid": uid, "gid": gid, "home": home, "skeleton": skeleton,
                   "manifest": manifest, **records}
        device = self.inventory.enroll(name, "linux", LINUX_SKELETON, details, address=join_address(host, port))
        self.inventory.pin_host_key(name, pinned(offered))
        return device

    def _guest_records(self, session: Any, guest: str) -> dict[str, Any]:
        """What a wipe puts back and keeps: the guest's passwd and shadow lines, and the UUIDs of the network
        connections to keep (those named in tablets.linux_wifi_keep, or all present when it is empty)."""
        output = session.check(linux.account_script(guest), self.timeout, "reading the guest account").stdout
        account = linux.parse_account(linux.parse_sections(output).get("account", []))
        if not account["passwd"] or not account["shadow"]:
            raise StepFailed(f"could not read {guest!r}'s passwd and shadow entries (is the login root or sudo?)")
        listing = session.check(linux.connections_script(), self.timeout, "listing network connections").stdout
        keep = linux.connections_to_keep(linux.parse_connections_output(listing), self.settings.tablets.linux_wifi_keep)
        return {"account": account, "connections_keep": list(keep)}

    def _skeleton_manifest(self, session: Any, skeleton: str) -> dict[str, list[Any]]:
        # Root-owned and read-only to everyone else: the guest must not be able to change what it is reset to.
        session.check(f"[ ! -d {linux.q(skeleton)} ] || {{ chown -R -h 0:0 -- {linux.q(skeleton)} && "
                      f"chmod -R go-w -- {linux.q(skeleton)}; }}", self.timeout, "making the skeleton root-owned")
        output = session.check(f"printf '{linux.MARK}tree\\0'; {linux.tree_script(skeleton)}", self.timeout,
                               "reading the golden skeleton").stdout
        manifest, _ = linux.manifest_from(linux.parse_sections(output).get("tree", []))
        if not manifest or manifest.get(".", [""])[0] != "d":
            raise StepFailed(f"no golden skeleton at {skeleton} on the laptop: make one (a copy of a clean guest "
                             "home, owned by root) first")
        return manifest

    def refresh_skeleton(self, name: str) -> Device:
        """Re-read the golden skeleton after a tech lead changed it on purpose."""
        device = self.inventory.get(name)
        if device.kind != "linux":
            raise UsageError(f"{name} is not a Linux laptop")
        if device.status == LENT:
            raise ProvisionError(f"{name} is lent: return it first")
        plan = self.plan_factory(device, self.context)
        with plan.open() as session:
            manifest = self._skeleton_manifest(session, device.details["skeleton"])
            records = self._guest_records(session, device.details["guest"])
        self.inventory.update_details(name, manifest=manifest, **records)
        return self.inventory.transition(name, WIPING, "golden skeleton re-read: wipe pending",
                                         (READY, WIPING, ATTENTION))

    def enroll_android(self, name: str, *, serial: str | None = None, address: str | None = None,
                       keep_users: Iterable[str] = ()) -> Device:
        """Record the tablet, the users allowed to remain (the owner and `keep_users`), their third-party apps
        and accounts. Any other user is refused, except a participant's left over from a lend."""
        self._refuse_if_lent(name)
        if bool(serial) == bool(address):
            raise UsageError("give --serial (USB) or --address HOST:PORT (ADB over TCP)")
        shell = AndroidShell(self.context.adb_server(), serial=serial, address=address)
        shell.attach(timeout=self.timeout)
        tablet = android.AndroidTablet(shell, self.timeout)
        version = tablet.prop("ro.build.version.release")
        sdk_text = tablet.prop("ro.build.version.sdk")
        sdk = int(sdk_text) if sdk_text.isdigit() else 0
        max_users = tablet.max_users()
        users = tablet.users()
        strategy = android.choose_strategy(max_users, sdk)
        details = {"android_version": version, "sdk": sdk, "model": tablet.prop("ro.product.model"),
                   "max_users": max_users, "multi_user": strategy == "android-user"}
        if strategy == "android-user":
            kept = android.keepable(users, keep_users)
            strangers = [user.id for user in users if user.id not in kept and user.name != android.PARTICIPANT_NAME]
            if strangers:
                raise UsageError(f"user(s) {', '.join(map(str, strangers))} on the tablet: keep them with "
                                 "--keep-user ID (their apps and accounts are recorded and checked at every wipe) "
                                 "or remove them on the tablet first; the first wipe would delete their data")
            details.update(baseline_users=kept, kept_users=android.user_records(tablet, kept))
        elif keep_users:
            raise UsageError("--keep-user needs a tablet that allows several users")
        return self.inventory.enroll(name, "android", strategy, details, address=address, serial=serial)

    # --- lending -------------------------------------------------------------------------------------
    def lend(self, name: str, accept_partial: bool = False) -> Device:
        device = self.inventory.get(name)
        if device.status != READY:
            hint = f" ({device.reason})" if device.reason else ""
            raise ProvisionError(f"{name} is {device.status}{hint}: only a ready tablet is lent")
        if device.last_wipe == PARTIAL and not accept_partial:
            raise ProvisionError(f"{name} was only partially wiped (single-user tablet: accounts and other apps' "
                                 "data may remain); lend it anyway with --accept-partial")
        self.inventory.transition(name, LENT, "being prepared for a participant", (READY,))
        plan = self.plan_factory(device, self.context)

        def prepare() -> dict[str, Any]:
            with plan.open() as session:
                return plan.lend(session)

        try:
            remember = self.wiper.retrying(prepare)
        except DeviceProblem as problem:
            return self.inventory.transition(name, ATTENTION, f"could not be prepared for lending: {problem.reason}",
                                             (LENT,), last_wipe=None)
        if remember:
            self.inventory.update_details(name, **remember)
        return self.inventory.transition(name, LENT, "lent", (LENT,))

    def give_back(self, name: str, wipe_now: bool = True) -> Device:
        """The participant gave the tablet back: it is `wiping` from now on, and wiped now unless told later."""
        try:
            prepared = self.wiper.prepare(name, (LENT,), "returned: wipe pending")
            return self.wiper.execute(prepared) if wipe_now else prepared.device
        finally:
            self.bus.flush()

    def wipe(self, names: Iterable[str]) -> list[Device]:
        names = list(dict.fromkeys(names))
        # Refuse the whole request before any tablet is marked `wiping`: nothing is left half-queued.
        refused = [f"{d.name} is {d.status}" for d in map(self.inventory.get, names) if d.status not in WIPEABLE]
        if refused:
            raise ProvisionError("; ".join(refused) + " (a lent tablet is returned first, a retired one never wiped)")
        purge_events(self.store, self.clock())
        return self.wiper.run_many(names, self.settings.tablets.parallel)

    def returned(self) -> list[str]:
        """Tablets waiting for their wipe: returned later, interrupted by a power cut, or just enrolled."""
        return [device.name for device in self.inventory.with_status(WIPING)]

    def retire(self, name: str) -> Device:
        device = self.inventory.get(name)
        if device.status == LENT:
            raise ProvisionError(f"{name} is lent: return it first")
        return self.inventory.transition(name, RETIRED, "retired", (READY, WIPING, ATTENTION))

    def list(self) -> list[Device]:
        return self.inventory.all()
