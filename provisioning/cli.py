"""The `provision` command: loaned tablets (`provision tablets …`) and the fleet of kits (`provision fleet …`).

Reads the same settings as `kiosk` (``--config FILE`` or ``KIOSK_CONFIG``). Exit codes: 0 done; 1 the kit
could not do it, or a tablet needs attention (a sentence says why); 2 bad arguments or bad settings.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime

from kiosk import settings as settings_module
from kiosk.store import StoreError
from provisioning.audit import PARTIAL
from provisioning.errors import DeviceProblem, ProvisionError, UsageError
from provisioning.events import events_since
from provisioning.inventory import READY, Device, PinnedKey
from provisioning.progress import Progress
from provisioning.tablets import LinuxCredentials, Tablets

EXIT_FAILED = 1
EXIT_USAGE = 2


def _tablets(args: argparse.Namespace) -> Tablets:
    return Tablets.open(settings_module.load(args.config))


def _when(moment: float | None) -> str:
    return datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _outcome(device: Device) -> str:
    partial = " (PARTIAL)" if device.status == READY and device.last_wipe == PARTIAL else ""
    return f"{device.name}: {device.status}{partial} — {device.reason}"


def _wipe_with_progress(tablets: Tablets, run: Callable[[], list[Device]]) -> int:
    unsubscribe = tablets.bus.subscribe(Progress(sys.stdout))
    try:
        devices = run()
    finally:
        unsubscribe()
    for device in devices:
        print(_outcome(device))
    attention = [device for device in devices if device.status != READY]
    if len(devices) > 1:
        print(f"{len(devices) - len(attention)} ready, {len(attention)} need attention")
    return EXIT_FAILED if attention else 0


# --- enrollment -----------------------------------------------------------------------------------------
def _confirm(args: argparse.Namespace) -> Callable[[str, PinnedKey | None], bool]:
    def confirm(fingerprint: str, previous: PinnedKey | None) -> bool:
        print(f"{args.name}: the laptop at {args.address} presents the host key {fingerprint}")
        if previous is not None and previous.fingerprint != fingerprint:
            print(f"WARNING: this is NOT the key pinned on {_when(previous.pinned_at)} ({previous.fingerprint}). "
                  "Go on only if the laptop was reinstalled.")
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("cannot ask for confirmation without a terminal: check the fingerprint, then add --yes")
        answer = input("Compare it with `sudo ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the laptop. "
                       "Same? [y/N] ")
        return answer.strip().lower() in ("y", "yes", "o", "oui")

    return confirm


def _credentials(args: argparse.Namespace) -> Callable[[], LinuxCredentials]:
    def ask() -> LinuxCredentials:
        if args.identity:
            return LinuxCredentials(identity=args.identity)
        if args.password_stdin:
            return LinuxCredentials(password=sys.stdin.readline().rstrip("\n"))
        if sys.stdin.isatty():
            password = getpass.getpass(f"Password of {args.login} on the laptop, used once to install the kit's key "
                                       "(empty: try the kit's key): ")
            return LinuxCredentials(password=password or None)
        return LinuxCredentials()

    return ask


def cmd_enroll_linux(args: argparse.Namespace) -> int:
    tablets = _tablets(args)
    if args.password_stdin and not args.yes:
        raise UsageError("--password-stdin needs --yes (stdin cannot also answer the host key question)")
    device = tablets.enroll_linux(args.name, args.address, args.user, _confirm(args), port=args.port,
                                  login=args.login, credentials=_credentials(args))
    details = device.details
    print(f"{device.name}: host key pinned, the kit's key installed for {details['login']}; guest {details['guest']} "
          f"(uid {details['uid']}, home {details['home']}); golden skeleton {details['skeleton']} "
          f"({len(details['manifest']) - 1} items)")
    return _first_wipe(args, tablets, device)


def cmd_enroll_android(args: argparse.Namespace) -> int:
    tablets = _tablets(args)
    device = tablets.enroll_android(args.name, serial=args.serial, address=args.address, keep_users=args.keep_user)
    details = device.details
    kind = (f"up to {details['max_users']} users: each participant gets a throwaway user (complete wipe)"
            if details["multi_user"] else
            "single user: wipes clear the listed apps and shared folders only (PARTIAL wipe)")
    print(f"{device.name}: Android {details['android_version']} (SDK {details['sdk']}), {details['model']}; {kind}")
    for record in details.get("kept_users", []):
        who = "the owner (user 0)" if record["id"] == 0 else f"user {record['id']}"
        print(f"{device.name}: {who} kept with {len(record['packages'])} app(s) and {len(record['accounts'])} "
              "account(s); anything added is reported at every wipe")
    return _first_wipe(args, tablets, device)


def _first_wipe(args: argparse.Namespace, tablets: Tablets, device: Device) -> int:
    if args.no_wipe:
        print(f"{device.name}: wiping — run `provision tablets wipe {device.name}` before lending it")
        return 0
    return _wipe_with_progress(tablets, lambda: tablets.wipe([device.name]))


# --- lend, return, wipe ----------------------------------------------------------------------------------
def cmd_lend(args: argparse.Namespace) -> int:
    device = _tablets(args).lend(args.name, accept_partial=args.accept_partial)
    if device.status != "lent":
        print(_outcome(device), file=sys.stderr)
        return EXIT_FAILED
    user = device.details.get("lent_user")
    print(f"{device.name}: lent" + (f" (participant's user {user})" if user is not None else ""))
    return 0


def cmd_return(args: argparse.Namespace) -> int:
    tablets = _tablets(args)
    if args.later:
        device = tablets.give_back(args.name, wipe_now=False)
        print(f"{device.name}: returned, waiting for `provision tablets wipe --all-returned`")
        return 0
    return _wipe_with_progress(tablets, lambda: [tablets.give_back(args.name)])


def cmd_wipe(args: argparse.Namespace) -> int:
    tablets = _tablets(args)
    if bool(args.names) == bool(args.all_returned):
        raise UsageError("give tablet names or --all-returned")
    names = tablets.returned() if args.all_returned else args.names
    if not names:
        print("no tablet is waiting for a wipe")
        return 0
    return _wipe_with_progress(tablets, lambda: tablets.wipe(names))


def cmd_retire(args: argparse.Namespace) -> int:
    print(_outcome(_tablets(args).retire(args.name)))
    return 0


def cmd_skeleton(args: argparse.Namespace) -> int:
    tablets = _tablets(args)
    device = tablets.refresh_skeleton(args.name)
    print(f"{device.name}: golden skeleton re-read ({len(device.details['manifest']) - 1} items)")
    return _wipe_with_progress(tablets, lambda: tablets.wipe([device.name]))


# --- reading -------------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    devices = _tablets(args).list()
    if args.json:
        print(json.dumps([{"name": d.name, "kind": d.kind, "where": d.where, "strategy": d.strategy,
                           "status": d.status, "reason": d.reason, "since": d.status_at, "last_wipe": d.last_wipe}
                          for d in devices], ensure_ascii=False, indent=2))
        return 0
    if not devices:
        print("no tablet enrolled (see: provision tablets enroll --help)")
        return 0
    print(f"{'NAME':<14} {'KIND':<8} {'WHERE':<22} {'STATUS':<16} {'WIPE':<8} {'SINCE':<19}  REASON")
    for d in devices:
        print(f"{d.name:<14} {d.kind:<8} {d.where:<22} {d.status:<16} {d.last_wipe or '-':<8} "
              f"{_when(d.status_at):<19}  {d.reason}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    tablets = _tablets(args)
    print(f"{'JOB':>5}  {'TABLET':<14} {'START':<19}  {'END':<19}  {'STRATEGY':<16} {'RESULT':<8} REASON")
    for job in tablets.jobs.history(args.name, args.limit):
        print(f"{job.id:>5}  {job.tablet:<14} {_when(job.started_at):<19}  {_when(job.ended_at):<19}  "
              f"{job.strategy:<16} {job.result or 'running':<8} {job.reason}")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    for event in events_since(_tablets(args).store, args.after, args.limit):
        print(json.dumps(event.as_dict(), ensure_ascii=False))
    return 0


# --- parser --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="provision", description="Loaned tablets and the fleet of kits.")
    parser.add_argument("--config", metavar="FILE", help="settings file (TOML); default: $KIOSK_CONFIG")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(parent, name: str, handler: Callable[[argparse.Namespace], int], help_text: str):
        sub = parent.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    tablets = commands.add_parser("tablets", help="loaned tablets: enroll, lend, return, wipe").add_subparsers(
        dest="tablets_command", required=True, metavar="ACTION")
    enroll = tablets.add_parser("enroll", help="add a tablet to the kit").add_subparsers(
        dest="kind", required=True, metavar="KIND")
    linux = add(enroll, "linux", cmd_enroll_linux, "a Linux laptop or tablet over SSH: pins its host key, installs "
                "the kit's key, learns the guest account and the golden skeleton")
    linux.add_argument("name")
    linux.add_argument("--address", required=True, help="host name or IP address (host:port accepted)")
    linux.add_argument("--port", type=int, help="SSH port (default 22)")
    linux.add_argument("--user", required=True, metavar="GUEST", help="the guest account participants use")
    linux.add_argument("--login", default="root", help="account the kit logs in as (root, or a sudoer with "
                       "NOPASSWD); default root")
    linux.add_argument("--identity", metavar="KEY", help="a private key the laptop already accepts, for the "
                       "first login")
    linux.add_argument("--password-stdin", action="store_true", help="read the first login's password from stdin")
    linux.add_argument("--yes", action="store_true", help="pin the host key without asking (scripts: check the "
                       "fingerprint another way)")
    linux.add_argument("--no-wipe", action="store_true", help="do not run the first wipe now")
    droid = add(enroll, "android", cmd_enroll_android, "an Android tablet over ADB (USB or TCP): records its "
                "version and whether it supports several users")
    droid.add_argument("name")
    where = droid.add_mutually_exclusive_group(required=True)
    where.add_argument("--serial", help="USB serial, as `adb devices` shows it")
    where.add_argument("--address", metavar="HOST:PORT", help="ADB over TCP (after `adb tcpip` or `adb pair`)")
    droid.add_argument("--keep-user", metavar="ID", action="append", default=[],
                       help="a user besides the owner allowed to remain (its id, or its exact name); repeat for "
                       "several. Its apps and accounts are recorded and checked at every wipe")
    droid.add_argument("--no-wipe", action="store_true", help="do not run the first wipe now")

    add(tablets, "list", cmd_list, "every tablet, its status and why").add_argument(
        "--json", action="store_true", help="machine-readable output")
    lend = add(tablets, "lend", cmd_lend, "prepare a ready tablet for one participant")
    lend.add_argument("name")
    lend.add_argument("--accept-partial", action="store_true",
                      help="lend a single-user tablet whose last wipe was partial")
    back = add(tablets, "return", cmd_return, "a participant gave the tablet back: wipe and verify it")
    back.add_argument("name")
    back.add_argument("--later", action="store_true", help="only record the return; wipe with --all-returned")
    wipe = add(tablets, "wipe", cmd_wipe, "wipe and verify tablets, in parallel")
    wipe.add_argument("names", nargs="*", metavar="NAME")
    wipe.add_argument("--all-returned", action="store_true",
                      help="every tablet waiting for a wipe (returned, interrupted, just enrolled)")
    add(tablets, "retire", cmd_retire, "take a tablet out of service").add_argument("name")
    add(tablets, "skeleton", cmd_skeleton, "re-read a laptop's golden skeleton after changing it on purpose, "
        "then wipe").add_argument("name")
    audit = add(tablets, "audit", cmd_audit, "the wipe log: tablet, start, end, strategy, result, reason")
    audit.add_argument("name", nargs="?")
    audit.add_argument("--limit", type=int, default=50)
    events = add(tablets, "events", cmd_events, "recorded wipe events as JSON lines (what the dashboard reads)")
    events.add_argument("--after", type=int, default=0, metavar="ID")
    events.add_argument("--limit", type=int, default=500)
    from provisioning import fleet_cli  # the fleet of kits: its own module and handlers

    fleet_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except settings_module.SettingsError as problem:
        for key, reason in problem.errors:
            print(f"{key}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as problem:
        print(f"provision: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except (ProvisionError, StoreError) as problem:
        print(f"provision: {problem}", file=sys.stderr)
        return EXIT_FAILED
    except DeviceProblem as problem:
        print(f"provision: {problem.reason}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("provision: interrupted; tablets being wiped stay 'wiping' and are finished by "
              "`provision tablets wipe --all-returned`", file=sys.stderr)
        return EXIT_FAILED
    except OSError as problem:
        print(f"provision: {problem.strerror or problem}: {problem.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
