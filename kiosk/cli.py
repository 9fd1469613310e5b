"""The ``kiosk`` command. Every subcommand reads the settings from ``--config FILE`` or ``KIOSK_CONFIG``.

Exit codes: 0 done, 1 the kit could not do it (message says why), 2 bad usage or bad configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

from kiosk import settings as settings_module
from kiosk.adapters.firewall import FirewallError
from kiosk.services.access import GrantRefused
from kiosk.store import StoreError

EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments, explained in one line."""


def _load(args: argparse.Namespace) -> settings_module.Settings:
    return settings_module.load(args.config)


def _open_kit(args: argparse.Namespace):
    from kiosk.runtime import Kit

    return Kit.open(_load(args))


def _ip(text: str) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"{text!r} is not an IP address") from None
    if address.version != 4:
        raise UsageError("participants are identified by their IPv4 address (the kit forwards no IPv6)")
    return str(address)


def _mac(text: str) -> str:
    try:
        return settings_module.MACS.check([text])[0]
    except ValueError as problem:
        raise UsageError(str(problem)) from None


def _day(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a date like 2026-01-31 or 2026-01-31T14:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _local_day(option: str, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        day = date.fromisoformat(text) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) else None
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2100:
        raise UsageError(f"{option} {text[:40]!r} is not a day like 2026-01-31")
    return day.isoformat()


def cmd_serve(args: argparse.Namespace) -> int:
    from kiosk import create_app
    from kiosk.server import serve

    serve(create_app(_load(args)))
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    errors = settings_module.check_file(args.file)
    for key, reason in errors:
        print(f"{key}: {reason}", file=sys.stderr)
    if errors:
        return EXIT_USAGE
    print(f"{args.file}: valid")
    return 0


def cmd_config_table(_args: argparse.Namespace) -> int:
    sys.stdout.write(settings_module.markdown_table())
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from kiosk.store import Store

    store = Store(_load(args).store.path)
    before, after = store.upgrade()
    print(f"store {store.path}: schema {before} → {after}" if before != after
          else f"store {store.path}: schema {after}, up to date")
    return 0


def _client_args(args: argparse.Namespace) -> tuple[str | None, str | None]:
    ip = _ip(args.ip) if args.ip else None
    mac = _mac(args.mac) if args.mac else None
    if not ip and not mac:
        raise UsageError("give --ip or --mac")
    return ip, mac


def cmd_clients_list(args: argparse.Namespace) -> int:
    kit = _open_kit(args)
    now = kit.adapters.clock()
    sessions = kit.access.open_sessions()
    if not sessions:
        print("no participant is connected")
    for session in sessions:
        remaining = session.bytes_remaining()
        data = "no limit" if remaining is None else f"{remaining // 1_000_000} MB left"
        print(f"{session.mac or '-':17}  {session.ip or '-':15}  {session.minutes_remaining(now):4d} min left"
              f"  {data:>14}  by {session.granted_by}")
    for mac in kit.settings.access.trusted_macs:
        print(f"{mac:17}  {'-':15}  trusted device (always allowed)")
    return 0


def cmd_clients_allow(args: argparse.Namespace) -> int:
    ip, mac = _client_args(args)
    kit = _open_kit(args)
    if ip and not mac:
        mac = kit.adapters.neighbours.mac_for(ip)
    elif mac and not ip:
        ip = kit.adapters.neighbours.ip_for(mac)
    try:
        session = kit.access.grant(ip, mac, kit.settings.portal.default_language, granted_by="mediator")
    except GrantRefused as refused:
        print(f"kiosk: not allowed: {refused}", file=sys.stderr)
        return EXIT_FAILED
    print(f"allowed {session.client} for {session.minutes_remaining(kit.adapters.clock())} minutes")
    return 0


def cmd_clients_deny(args: argparse.Namespace) -> int:
    ip, mac = _client_args(args)
    kit = _open_kit(args)
    ended = kit.access.revoke(ip, mac, reason="denied by a mediator")
    print(f"{ended} session(s) ended" if ended else "no open session for that device")
    if kit.access.is_trusted(mac):
        print("note: this device is in access.trusted_macs and stays allowed", file=sys.stderr)
    return 0


def cmd_connections_export(args: argparse.Namespace) -> int:
    from kiosk.services import connections

    since, until = _day(args.since), _day(args.until)
    if until <= since:
        raise UsageError("--until must come after --since")
    kit = _open_kit(args)
    text = connections.export_csv(kit.store, since, until)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        print(f"{text.count(chr(10)) - 1} connection(s) written to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_connections_purge(args: argparse.Namespace) -> int:
    from kiosk.services import connections

    kit = _open_kit(args)
    purged = connections.purge(kit.store, kit.adapters.clock(), kit.settings.connections.retention_days)
    print(f"{purged} connection record(s) older than {kit.settings.connections.retention_days} days purged")
    return 0


def cmd_report_export(args: argparse.Namespace) -> int:
    from kiosk.services.mediation import anonymous_export

    if not args.anonymous:
        raise UsageError("only the anonymous export exists: `kiosk report export --anonymous` (per-day counts, "
                         "what the fleet report merges); the detailed CSVs are on the dashboard's Reports page")
    since, until = _local_day("--since", args.since), _local_day("--until", args.until)
    if since and until and until < since:
        raise UsageError("--until must not come before --since")
    store = anonymous_export.open_read_only(_load(args).store.path)  # never written: kiosk serve may be running
    days = anonymous_export.daily_counts(store, time.time(), since, until)
    sys.stdout.write(anonymous_export.to_csv(days))
    return 0


def cmd_uplink_status(args: argparse.Namespace) -> int:
    import json

    from kiosk.services.uplink import as_dict, format_status

    kit = _open_kit(args)
    kit.uplink.record_usage()
    status = kit.uplink.status(check_internet=not args.no_check)
    if args.json:
        print(json.dumps(as_dict(status), ensure_ascii=False, indent=2))
    else:
        print(format_status(status))
    return 0


RENDERED_FILES = {
    "nftables.nft": "kiosk.adapters.nftables:render_ruleset",
    "dnsmasq.conf": "kiosk.adapters.dnsmasq:render_main",
    "dnsmasq-captive.conf": "kiosk.adapters.dnsmasq:render_captive",
    "hostapd.conf": "kiosk.adapters.hostapd:render",
    "hostapd-staff.conf": "kiosk.adapters.hostapd:render_staff",  # only with a staff Wi-Fi
}


def cmd_network_render(args: argparse.Namespace) -> int:
    import importlib
    from pathlib import Path

    from kiosk.adapters.netplan import NetworkPlan

    plan = NetworkPlan.from_settings(_load(args))
    destination = Path(args.dest)
    destination.mkdir(parents=True, exist_ok=True)
    for name, target in RENDERED_FILES.items():
        module, function = target.split(":")
        text = getattr(importlib.import_module(module), function)(plan)
        path = destination / name
        if text is None:
            if path.exists():
                path.unlink()
                print(f"{path}: removed")
            continue
        if path.exists() and path.read_text(encoding="utf-8") == text:
            print(f"{path}: unchanged")
            continue
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)  # never a half-written file for nft or dnsmasq to load
        print(f"{path}: written")
    return 0


def cmd_network_follow_hostapd(args: argparse.Namespace) -> int:
    import signal
    import threading

    from kiosk.adapters.hostapd_control import HostapdControl
    from kiosk.runtime import hostapd_client_dir
    from kiosk.services.association import AssociationFollower

    kit = _open_kit(args)
    path = kit.settings.network.hostapd_control
    if not path:
        # Not an error: a kit whose Wi-Fi comes from an external access point has nothing to follow.
        print("kiosk: network.hostapd_control is empty: the Wi-Fi is not followed (set it to hostapd's socket, "
              "/run/hostapd/wlan0)", file=sys.stderr)
        return 0
    local_dir = hostapd_client_dir(kit.settings)
    follower = AssociationFollower(lambda: HostapdControl(path, local_dir), kit.access)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        follower.run(stop)
    return 0


def cmd_privileged_serve(args: argparse.Namespace) -> int:
    import grp
    import pwd

    from kiosk.adapters.netplan import NetworkPlan
    from kiosk.adapters.nftables import NftablesFirewall, NftRunner
    from kiosk.adapters.privileged import PrivilegedServer

    if os.geteuid() != 0:
        raise UsageError("the privileged helper must run as root (systemd starts it)")
    settings = _load(args)
    uids = set()
    for user in args.allow_user:
        try:
            uids.add(pwd.getpwnam(user).pw_uid)
        except KeyError:
            raise UsageError(f"no such user: {user}") from None
    plan = NetworkPlan.from_settings(settings)
    firewall = NftablesFirewall(NftRunner(), plan.lan.network, time.time, plan.lan_interface)
    server = PrivilegedServer(settings.firewall.helper_socket, firewall, uids)
    server.bind()
    if args.group:
        try:
            os.chown(settings.firewall.helper_socket, 0, grp.getgrnam(args.group).gr_gid)
        except KeyError:
            raise UsageError(f"no such group: {args.group}") from None
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def cmd_content_check(args: argparse.Namespace) -> int:
    from kiosk.services.survey.content import load_library

    directory = args.dir if args.dir is not None else (_load(args).survey.content_dir or None)
    library = load_library(directory)  # ContentError: "file: path: reason" lines, exit 2
    for questionnaire in library.questionnaires.values():
        print(f"{questionnaire.source}: valid ({questionnaire.id} version {questionnaire.version}, "
              f"{len(questionnaire.items)} items, {', '.join(questionnaire.languages)})")
    return 0


def cmd_content_build_audio(args: argparse.Namespace) -> int:
    from kiosk.adapters.speech import Speech
    from kiosk.services.survey.audio import MAX_CLIP_BYTES, build
    from kiosk.services.survey.content import load_library

    settings = _load(args)
    speech = Speech(espeak=settings.survey.espeak)
    missing = speech.missing()
    if missing:
        print(f"audio skipped: {' and '.join(missing)} not installed (Debian: apt-get install espeak-ng opus-tools); "
              "the pages work without it, with no listen buttons")
        return 0
    library = load_library(settings.survey.content_dir or None)
    report = build(library, settings.survey.audio_dir, speech, languages=args.language or None)
    formats = "Ogg Opus and MP3" if report.mp3 else "Ogg Opus only (install lame for MP3, older iPhones need it)"
    print(f"{settings.survey.audio_dir}: {report.made} clip(s) made, {report.kept} kept, {report.removed} removed; "
          f"{formats}; largest new clip {report.largest} bytes (limit {MAX_CLIP_BYTES})")
    for failure in report.failures:
        print(f"failed: {failure}", file=sys.stderr)
    return EXIT_FAILED if report.failures else 0


def add_dashboard_commands(commands, add) -> None:
    """``kiosk dashboard set-password`` and ``kiosk dashboard purge``."""

    def set_password(args: argparse.Namespace) -> int:
        import getpass

        from kiosk.services.auth import PasswordError, write_password_file

        if args.stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass("New dashboard password: ")
            if getpass.getpass("The same password again: ") != password:
                raise UsageError("the two passwords differ: nothing was changed")
        else:
            raise UsageError("no terminal to ask the password: pass it on standard input with --stdin")
        try:
            path = write_password_file(_load(args).dashboard.password_file, password)
        except PasswordError as problem:
            raise UsageError(str(problem)) from None
        print(f"{path}: dashboard password set (only its scrypt hash is stored, mode 0600); "
              "mediators logged in with the old one are logged out")
        return 0

    def purge(args: argparse.Namespace) -> int:
        from kiosk.runtime import Kit
        from kiosk.services.mediation.activity import ActivityService
        from kiosk.services.privacy import PrivacyService

        kit = Kit.open(_load(args))
        done = PrivacyService(kit.settings, kit.store, ActivityService(kit.store, time.time), time.time).purge_now()
        print(", ".join(f"{name}: {count}" for name, count in done.items()))
        return 0

    group = commands.add_parser("dashboard", help="the mediators' dashboard").add_subparsers(
        dest="dashboard_command", required=True, metavar="ACTION")
    add(group, "set-password", set_password,
        "set the dashboard password (asked twice, or one line on stdin with --stdin); stores its scrypt hash "
        "in dashboard.password_file").add_argument("--stdin", action="store_true",
                                                   help="read the password from standard input")
    add(group, "purge", purge, "delete or anonymise what has outlived its retention (also done daily by the "
        "dashboard)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk", description="Triporteur Kit: portal, offline services, "
                                     "onboard network.")
    parser.add_argument("--config", metavar="FILE", help="settings file (TOML); default: $KIOSK_CONFIG")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(parent, name: str, handler: Callable[[argparse.Namespace], int], help_text: str):
        sub = parent.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    add(commands, "serve", cmd_serve, "serve the portal and the dashboard")

    config = commands.add_parser("config", help="check or document settings").add_subparsers(
        dest="config_command", required=True, metavar="ACTION")
    add(config, "check", cmd_config_check, "check a settings file; exit 2 listing every problem").add_argument(
        "file")
    add(config, "table", cmd_config_table, "print the settings table (Markdown)")

    db = commands.add_parser("db", help="the store").add_subparsers(dest="db_command", required=True,
                                                                     metavar="ACTION")
    add(db, "upgrade", cmd_db_upgrade, "create the store or apply pending schema migrations")

    clients = commands.add_parser("clients", help="participants' devices").add_subparsers(
        dest="clients_command", required=True, metavar="ACTION")
    add(clients, "list", cmd_clients_list, "devices allowed on the internet now")
    for name, handler, text in (("allow", cmd_clients_allow, "let a device on the internet"),
                                ("deny", cmd_clients_deny, "end a device's internet access")):
        sub = add(clients, name, handler, text)
        sub.add_argument("--ip", help="the device's IPv4 address")
        sub.add_argument("--mac", help="the device's MAC address")

    conns = commands.add_parser("connections", help="the legal connection log").add_subparsers(
        dest="connections_command", required=True, metavar="ACTION")
    export = add(conns, "export", cmd_connections_export, "CSV of connections in a period, for a lawful request")
    export.add_argument("--since", required=True, help="start date (UTC), e.g. 2026-01-01")
    export.add_argument("--until", required=True, help="end date (UTC), excluded")
    export.add_argument("--output", "-o", help="write to this file instead of the terminal")
    add(conns, "purge", cmd_connections_purge, "delete connection records past the retention period")

    report = commands.add_parser("report", help="activity reports").add_subparsers(
        dest="report_command", required=True, metavar="ACTION")
    anonymous = add(report, "export", cmd_report_export,
                    "per-day activity counts as CSV on standard output (what the fleet report merges); reads the "
                    "store without writing to it")
    anonymous.add_argument("--anonymous", action="store_true",
                           help="per-day counts only, nothing per person or device (required: the only export)")
    anonymous.add_argument("--since", metavar="YYYY-MM-DD", help="first day, the kit's local time (default: the "
                           "first recorded)")
    anonymous.add_argument("--until", metavar="YYYY-MM-DD", help="last day, included (default: the last recorded)")

    network = commands.add_parser("network", help="the onboard network").add_subparsers(
        dest="network_command", required=True, metavar="ACTION")
    render = add(network, "render", cmd_network_render,
                 "write nftables.nft, dnsmasq.conf, dnsmasq-captive.conf, hostapd.conf (and hostapd-staff.conf "
                 "with a staff Wi-Fi) from the settings")
    render.add_argument("--dest", required=True, help="folder to write the files into")
    add(network, "follow-hostapd", cmd_network_follow_hostapd,
        "end a session the moment its phone leaves the Wi-Fi (follows network.hostapd_control; runs as the "
        "kiosk's user, in wifi.control_group)")

    uplink = commands.add_parser("uplink", help="the 4G uplink").add_subparsers(
        dest="uplink_command", required=True, metavar="ACTION")
    status = add(uplink, "status", cmd_uplink_status,
                 "default route, whether the internet answers, the modem, data used against the cap")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--no-check", action="store_true", help="do not fetch check_url (saves data)")

    content = commands.add_parser("content", help="questionnaires and their audio").add_subparsers(
        dest="content_command", required=True, metavar="ACTION")
    check = add(content, "check", cmd_content_check,
                "check questionnaire files; exit 2 listing every problem as file: path: reason")
    check.add_argument("dir", nargs="?", help="content folder (default: survey.content_dir, else the shipped one)")
    audio = add(content, "build-audio", cmd_content_build_audio,
                "make the spoken clips (espeak-ng, opusenc, lame) into survey.audio_dir; skipped without espeak-ng")
    audio.add_argument("--language", action="append", choices=settings_module.KNOWN_LANGUAGES,
                       help="only this language (repeatable); default: all")

    add_dashboard_commands(commands, add)
    from kiosk import fleet_cli

    fleet_cli.register(commands, add)
    privileged = commands.add_parser("privileged", help="the root helper for firewall changes").add_subparsers(
        dest="privileged_command", required=True, metavar="ACTION")
    helper = add(privileged, "serve", cmd_privileged_serve,
                 "serve firewall changes on firewall.helper_socket for the unprivileged kiosk (run as root)")
    helper.add_argument("--allow-user", action="append", default=[], metavar="USER",
                        help="a user allowed to ask (repeatable); root always is")
    helper.add_argument("--group", help="group owning the socket (the service user's group)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except settings_module.SettingsError as problem:
        for key, reason in problem.errors:
            print(f"{key}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as problem:
        print(f"kiosk: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except (StoreError, FirewallError) as problem:
        print(f"kiosk: {problem}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as problem:
        print(f"kiosk: {problem.strerror or problem}: {problem.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
