"""Typed settings: every setting is declared once here, with its type, default and help line.

Settings come from the defaults below, then a TOML file (``--config FILE`` or ``KIOSK_CONFIG``), then
environment variables named ``KIOSK_<SECTION>_<NAME>`` (for instance ``KIOSK_PORTAL_LISTEN``).
Every problem is reported at once as ``section.name: reason``; nothing here raises a traceback at a user.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kiosk.adapters import natports

KNOWN_LANGUAGES = ("fr", "en", "ar", "uk", "es")
FIREWALL_BACKENDS = ("none", "nftables")
CONFIG_ENV = "KIOSK_CONFIG"
ENV_PREFIX = "KIOSK_"

_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


class SettingsError(Exception):
    """A configuration that cannot be used; ``errors`` lists every ``(key, reason)`` found."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{key}: {reason}" for key, reason in errors))


@dataclass(frozen=True)
class Kind:
    """How a setting's value is written (for the docs), checked, and read from an environment string."""

    description: str
    check: Callable[[Any], Any]
    from_env: Callable[[str], Any]


def _expect(value: Any, kinds: type | tuple[type, ...], name: str) -> None:
    # bool is an int in Python; a TOML `true` must never pass as a number.
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise ValueError(f"expected {name}, got a boolean")
    if not isinstance(value, kinds):
        raise ValueError(f"expected {name}, got {type(value).__name__} {value!r}")


def _text(value: Any) -> str:
    _expect(value, str, "a string")
    if any(ch in value for ch in "\n\r\0"):
        raise ValueError("must be on one line")  # values end up in rendered config files
    return value


def _integer(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        _expect(value, int, "an integer")
        if value < minimum:
            raise ValueError(f"must be ≥ {minimum}, got {value}")
        return value

    return check


def _int_from_env(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def _boolean(value: Any) -> bool:
    _expect(value, bool, "true or false")
    return value


def _bool_from_env(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _listen_address(value: Any) -> str:
    _expect(value, str, 'a "host:port" address')
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host:
        raise ValueError(f'expected "host:port", got {value!r}')
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError(f"{host!r} is not an IP address") from None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"port must be between 1 and 65535, got {port!r}")
    return value


def _url(value: Any) -> str:
    _expect(value, str, "a URL")
    if value and not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
        raise ValueError(f"expected an http:// URL or an empty string, got {value!r}")
    return value


def _string_list(item_check: Callable[[str], str]) -> Callable[[Any], list[str]]:
    def check(value: Any) -> list[str]:
        _expect(value, list, "a list")
        return [item_check(item) for item in value]

    return check


def _list_from_env(item_check: Callable[[str], str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        return [item_check(part.strip()) for part in text.split(",") if part.strip()]

    return parse


def _mac(value: Any) -> str:
    _expect(value, str, "a MAC address")
    lowered = value.strip().lower().replace("-", ":")
    if not _MAC.fullmatch(lowered):
        raise ValueError(f"{value!r} is not a MAC address like 02:00:00:aa:bb:cc")
    return lowered


def _language(value: Any) -> str:
    _expect(value, str, "a language code")
    if value not in KNOWN_LANGUAGES:
        raise ValueError(f"unknown language {value!r} (known: {', '.join(KNOWN_LANGUAGES)})")
    return value


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        _expect(value, str, "a string")
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    return check


def _interface(value: Any) -> str:
    _expect(value, str, "an interface name")
    if value and not re.match(r"^[A-Za-z0-9_.-]{1,15}$", value):
        raise ValueError(f"{value!r} is not a network interface name")
    return value


def _ipv4(value: Any) -> str:
    _expect(value, str, "an IPv4 address")
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


def _ipv4_interface(value: Any) -> str:
    _expect(value, str, 'an address with its prefix, like "10.42.0.1/24"')
    try:
        interface = ipaddress.IPv4Interface(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an address with its prefix, like 10.42.0.1/24") from None
    if interface.network.prefixlen > 30 or interface.ip in (interface.network.network_address,
                                                            interface.network.broadcast_address):
        raise ValueError(f"{value!r} leaves no room for clients")
    return str(interface)


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")


def _domain(value: Any) -> str:
    _expect(value, str, "a domain name")
    lowered = value.strip().lower().rstrip(".")
    if not _DOMAIN.match(lowered):
        raise ValueError(f"{value!r} is not a domain name")
    return lowered


def _country(value: Any) -> str:
    _expect(value, str, "a two-letter country code")
    if not re.match(r"^[A-Z]{2}$", value):
        raise ValueError(f"{value!r} is not a two-letter country code like FR")
    return value


def _wifi_channel(value: Any) -> int:
    _expect(value, int, "a Wi-Fi channel number")
    if not 1 <= value <= 13:
        raise ValueError(f"2.4 GHz channels go from 1 to 13, got {value}")
    return value


def _ssid(value: Any) -> str:
    _expect(value, str, "a network name")
    if len(value.encode()) > 32:
        raise ValueError("a Wi-Fi name holds at most 32 bytes")
    if any(ch in value for ch in "\n\r\0"):
        raise ValueError("a Wi-Fi name cannot hold line breaks")
    return value


def _high_port(value: Any) -> int:
    _expect(value, int, "an integer")
    if not 1024 <= value <= 65535 or value == 5353:
        raise ValueError(f"must be a free port between 1024 and 65535 (not 5353, mDNS), got {value}")
    return value


def _session_minutes(value: Any) -> int:
    _expect(value, int, "an integer")
    if not 1 <= value <= 7 * 24 * 60:
        raise ValueError(f"must be between 1 minute and 7 days, got {value}")
    return value


def _percent(value: Any) -> int:
    _expect(value, int, "a percentage")
    if not 1 <= value <= 100:
        raise ValueError(f"must be between 1 and 100, got {value}")
    return value


TEXT = Kind("text", _text, str)
PATH = Kind("path", _text, str)
URL = Kind("URL", _url, _url)
LISTEN = Kind('"host:port"', _listen_address, _listen_address)
BOOL = Kind("true/false", _boolean, _bool_from_env)
COUNT = Kind("integer ≥ 0", _integer(0), _int_from_env)
POSITIVE = Kind("integer ≥ 1", _integer(1), _int_from_env)
MACS = Kind("list of MAC addresses", _string_list(_mac), _list_from_env(_mac))
LANGUAGES = Kind(f"list of {'/'.join(KNOWN_LANGUAGES)}", _string_list(_language), _list_from_env(_language))
LANGUAGE = Kind("/".join(KNOWN_LANGUAGES), _language, _language)
TEXTS = Kind("list of text", _string_list(_text), _list_from_env(_text))
INTERFACE = Kind("interface name", _interface, _interface)
IPV4 = Kind("IPv4 address", _ipv4, _ipv4)
IPV4_INTERFACE = Kind('"address/prefix"', _ipv4_interface, _ipv4_interface)
IPV4_LIST = Kind("list of IPv4 addresses", _string_list(_ipv4), _list_from_env(_ipv4))
DOMAINS = Kind("list of domain names", _string_list(_domain), _list_from_env(_domain))
DOMAIN = Kind("domain name", _domain, _domain)
COUNTRY = Kind("country code", _country, _country)
CHANNEL = Kind("channel 1–13", _wifi_channel, lambda text: _wifi_channel(_int_from_env(text)))
SSID = Kind("Wi-Fi name", _ssid, _ssid)
HIGH_PORT = Kind("port 1024–65535", _high_port, lambda text: _high_port(_int_from_env(text)))
SESSION_MINUTES = Kind("1–10080 minutes", _session_minutes, lambda text: _session_minutes(_int_from_env(text)))
PERCENT = Kind("1–100", _percent, lambda text: _percent(_int_from_env(text)))
BACKEND = Kind(" or ".join(FIREWALL_BACKENDS), _choice(*FIREWALL_BACKENDS), _choice(*FIREWALL_BACKENDS))


@dataclass(frozen=True)
class Setting:
    section: str
    name: str
    kind: Kind
    default: Any
    help: str

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def env_name(self) -> str:
        return f"{ENV_PREFIX}{self.section}_{self.name}".upper()


DECLARATIONS: tuple[Setting, ...] = (
    Setting("portal", "listen", LISTEN, "127.0.0.1:8080", "Address and port the participants' portal listens on."),
    Setting("portal", "public_url", URL, "",
            "URL of the portal's landing page used in redirects, with the kit's IP address; "
            "empty means http:// plus the listen address."),
    Setting("portal", "languages", LANGUAGES, list(KNOWN_LANGUAGES),
            "Languages offered on the portal, in the order shown."),
    Setting("portal", "default_language", LANGUAGE, "fr",
            "Language used when the phone asks for none of the offered ones."),
    Setting("portal", "threads", POSITIVE, 4, "Threads running the portal's pages in its worker process."),
    Setting("dashboard", "listen", LISTEN, "127.0.0.1:8081",
            "Address and port of the mediators' dashboard; keep it off the participants' network."),
    Setting("dashboard", "password_file", PATH, "var/dashboard.password",
            "Hash of the mediators' dashboard password (made at first boot or by `kiosk dashboard set-password`)."),
    Setting("dashboard", "session_minutes", POSITIVE, 480, "A mediator stays logged in this long."),
    Setting("dashboard", "allowed_hosts", TEXTS, [],
            "Host names the dashboard answers to besides its listen address (DNS-rebinding guard)."),
    Setting("store", "path", PATH, "var/kiosk.db",
            "SQLite file holding the kit's data; a relative path is taken from the working directory."),
    Setting("firewall", "backend", BACKEND, "none",
            "How access is enforced: nftables on a kit; none only records grants in the store and logs what it "
            "would do."),
    Setting("firewall", "helper_socket", PATH, "/run/triporteur/privileged.sock",
            "Socket of the privileged helper that changes the firewall when the kiosk does not run as root."),
    Setting("access", "session_minutes", SESSION_MINUTES, 120,
            "Length of an internet session after accepting the charter."),
    Setting("access", "idle_minutes", POSITIVE, 30, "A session with no traffic for this long ends."),
    Setting("access", "quota_mb", COUNT, 500, "Data allowed per session, in megabytes; 0 means no limit. "
            "Enforced by the firewall itself (a kernel quota per phone), uploads and downloads together."),
    Setting("access", "trusted_macs", MACS, [],
            "Devices always allowed without the portal (the kit's own tablets), by MAC address."),
    Setting("access", "check_seconds", POSITIVE, 15,
            "How often expiry, idle time and used-up quotas are checked and recorded (the firewall cuts a quota "
            "by itself)."),
    Setting("connections", "retention_days", POSITIVE, 365,
            "Days the connection log (device, IP, times, bytes) is kept for lawful requests, then purged."),
    Setting("network", "dhcp_leases", PATH, "/var/lib/misc/dnsmasq.leases",
            "dnsmasq's lease file, read to learn a client's MAC address."),
    Setting("network", "lan_interface", INTERFACE, "wlan0", "Interface of the participants' Wi-Fi."),
    Setting("network", "hostapd_control", PATH, "",
            "hostapd's control socket of the participants' Wi-Fi (/run/hostapd/wlan0). When set, only a device "
            "on the Wi-Fi now is granted, and `kiosk network follow-hostapd` ends a session when its phone "
            "leaves; empty: the kit does not follow the Wi-Fi (development, an external access point)."),
    Setting("network", "hostapd_client_dir", PATH, "",
            "Folder where the kiosk binds its own end of hostapd's control socket (hostapd must reach it, so "
            "not a private /tmp); empty means the store's folder."),
    Setting("network", "wan_interface", INTERFACE, "wwan0",
            "Interface of the uplink (4G modem, HiLink dongle, tethered phone)."),
    Setting("network", "lan_address", IPV4_INTERFACE, "10.42.0.1/24",
            "The kit's address on the participants' side; its network is a /24 or smaller."),
    Setting("network", "dhcp_first", IPV4, "10.42.0.20", "First address handed out to phones."),
    Setting("network", "dhcp_last", IPV4, "10.42.0.250", "Last address handed out to phones."),
    Setting("network", "dhcp_lease_minutes", POSITIVE, 180, "How long a phone keeps its address."),
    Setting("network", "upstream_dns", IPV4_LIST, [],
            "Resolvers used once a phone is connected; empty means the uplink's own resolvers."),
    Setting("network", "walled_garden", DOMAINS, [],
            "Domains reachable before accepting the charter (a public service's site, for instance)."),
    Setting("network", "kit_name", DOMAIN, "portail.home.arpa", "The kit's own name on its network."),
    Setting("network", "captive_dns_port", HIGH_PORT, 5300,
            "Port of the resolver that answers phones before they accept: the kit's address for every name."),
    Setting("network", "staff_interface", INTERFACE, "",
            "Interface of the mediators' network, where the dashboard lives: a second Wi-Fi adapter (the "
            "staff Wi-Fi), or Ethernet; empty when there is none."),
    Setting("network", "staff_address", IPV4_INTERFACE, "10.42.1.1/24", "The kit's address on the staff side."),
    Setting("wifi", "ssid", SSID, "Point numerique", "Name of the participants' Wi-Fi (open network)."),
    Setting("wifi", "country", COUNTRY, "FR", "Country whose radio rules apply."),
    Setting("wifi", "channel", CHANNEL, 6, "2.4 GHz channel."),
    Setting("wifi", "control_group", TEXT, "",
            "Group allowed on hostapd's control socket (ctrl_interface_group): the kiosk's service user's, so "
            "the kit can follow who is on the Wi-Fi; empty: root only."),
    Setting("wifi", "staff_ssid", SSID, "",
            "Name of the mediators' WPA2 network, on the radio of network.staff_interface; empty for none."),
    Setting("wifi", "staff_channel", CHANNEL, 11,
            "2.4 GHz channel of the mediators' network (away from wifi.channel: the two radios sit side by side)."),
    Setting("wifi", "staff_psk_file", PATH, "/etc/triporteur/staff-wifi.psk",
            "hostapd passphrase file for the staff network, made on the device (never in the settings)."),
    Setting("uplink", "check_enabled", BOOL, True,
            "Whether the kit checks that the internet answers (a few hundred bytes per check)."),
    Setting("uplink", "check_url", URL, "http://connectivitycheck.gstatic.com/generate_204",
            "Address fetched to check the internet answers; it must answer 204 or 200."),
    Setting("uplink", "check_minutes", POSITIVE, 5, "At most one internet check per this many minutes."),
    Setting("uplink", "monthly_cap_mb", COUNT, 0, "Data allowed on the uplink per month, in megabytes; 0 means "
            "none. The firewall holds what is left of it for all participants together: once spent, their "
            "internet stops at once (even with the kit stopped), open sessions end with reason `cap` and the "
            "portal refuses new ones until the 1st of next month; the portal, DNS and offline services stay on."),
    Setting("uplink", "warn_percent", PERCENT, 80, "Warn when this share of the monthly cap is used."),
    Setting("uplink", "mmcli", PATH, "mmcli", "ModemManager's command-line client."),
    Setting("fleet", "hub", TEXT, "",
            "The fleet's git repository over SSH that `kiosk fleet pull` fetches (ssh://user@host[:port]/path); "
            "empty: the kit does not pull."),
    Setting("fleet", "hub_addresses", IPV4_LIST, [],
            "The hub's IPv4 addresses, refused to participants by the kit's firewall (the hub's own address is "
            "added when fleet.hub names it by address)."),
    Setting("fleet", "branch", TEXT, "main", "Branch of the hub holding the fleet's signed configuration."),
    Setting("fleet", "playbook", TEXT, "local.yml", "Playbook of the hub's repository that ansible-pull applies."),
    Setting("fleet", "kit_name", TEXT, "",
            "The kit's name on the hub (its reports branch is reports/<name>); empty: the host name."),
    Setting("fleet", "state_dir", PATH, "/var/lib/triporteur/fleet",
            "Where the kit keeps its SSH key, the fetched configuration, the last applied commit and the reports "
            "waiting to be delivered."),
    Setting("fleet", "known_hosts", PATH, "/etc/triporteur/fleet/known_hosts",
            "The hub's SSH host key, pinned at provisioning: no other server is ever talked to."),
    Setting("fleet", "allowed_signers", PATH, "/etc/triporteur/fleet/allowed_signers",
            "The tech leads' SSH signing keys, pinned at provisioning: a commit signed by no other key is refused."),
    Setting("fleet", "monthly_budget_mb", COUNT, 30,
            "Uplink data the fleet (pulls and reports) may use per month, in megabytes; 0 means no budget of its "
            "own (the uplink's monthly cap still applies)."),
    Setting("fleet", "report_hours", POSITIVE, 6,
            "A report that did not change in substance is sent at most once per this many hours."),
    Setting("fleet", "min_free_mb", POSITIVE, 20,
            "Free space the kit needs before fetching a configuration; below it nothing is fetched or applied."),
    Setting("survey", "content_dir", PATH, "",
            "Folder of questionnaire files; empty means the questionnaires shipped with the kit."),
    Setting("survey", "audio_dir", PATH, "var/audio", "Where `kiosk content build-audio` puts the spoken clips."),
    Setting("survey", "espeak", PATH, "espeak-ng", "The speech synthesiser used to make the clips."),
    Setting("survey", "answers_retention_days", POSITIVE, 365,
            "Questionnaire answers and booklets are deleted this long after their last update."),
    Setting("survey", "appointment_retention_days", POSITIVE, 90,
            "Appointment requests are deleted after this; booked slots lose the person's data after this."),
    Setting("survey", "partner_structures", TEXTS, [],
            "Partner structures a participant can choose for a follow-up appointment."),
    Setting("tablets", "ssh_key", PATH, "var/tablets_ed25519",
            "The kit's own SSH key for Linux tablets, made on the device when first needed."),
    Setting("tablets", "adb", PATH, "adb", "Android's adb client (Debian's adb package)."),
    Setting("tablets", "adb_server_port", POSITIVE, 5037, "Port of the local adb server."),
    Setting("tablets", "android_apps", TEXTS, [],
            "Android packages made available to each participant's throwaway user."),
    Setting("tablets", "android_shared_folders", TEXTS, ["Download", "DCIM", "Pictures", "Documents", "Movies",
                                                           "Music", "Recordings"],
            "Shared-storage folders purged on single-user Android tablets."),
    Setting("tablets", "linux_skeleton", PATH, "/var/lib/triporteur/guest-skeleton",
            "On a Linux tablet, the golden copy of the guest's home that every wipe restores."),
    Setting("tablets", "linux_wifi_keep", TEXTS, [],
            "Names of the NetworkManager connections whose UUIDs enrollment records as kept (the kit's own "
            "Wi-Fi); empty: every connection present at enrollment. A wipe removes every other connection, of any "
            "type."),
    Setting("tablets", "parallel", POSITIVE, 4, "How many tablets are wiped at once."),
    Setting("tablets", "step_timeout_seconds", POSITIVE, 120, "A wipe step taking longer fails the wipe."),
    Setting("tablets", "retries", COUNT, 3, "Connection attempts before a tablet is marked as needing attention."),
)

_BY_KEY: dict[str, Setting] = {setting.key: setting for setting in DECLARATIONS}
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(setting.section for setting in DECLARATIONS))


class Settings:
    """Validated settings; read them as ``settings.portal.listen`` or ``settings["portal.listen"]``."""

    def __init__(self, values: Mapping[str, Any], source: Path | None = None):
        self._values = dict(values)
        self.source = source
        for section in SECTIONS:
            names = {key.split(".", 1)[1]: value for key, value in self._values.items()
                     if key.startswith(section + ".")}
            setattr(self, section, SimpleNamespace(**names))

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed, given as ``section__name=value``; values are checked."""
        values = dict(self._values)
        errors: list[tuple[str, str]] = []
        for dunder_key, value in changes.items():
            key = dunder_key.replace("__", ".", 1)
            _check_into(key, value, values, errors)
        if errors:
            raise SettingsError(errors)
        return Settings(values, self.source)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def _check_into(key: str, value: Any, values: dict[str, Any], errors: list[tuple[str, str]]) -> None:
    setting = _BY_KEY.get(key)
    if setting is None:
        errors.append((key, "unknown setting"))
        return
    try:
        values[key] = setting.kind.check(value)
    except ValueError as problem:
        errors.append((key, str(problem)))


def defaults() -> Settings:
    return Settings({setting.key: setting.default for setting in DECLARATIONS})


def parse_toml(text: str, values: dict[str, Any], errors: list[tuple[str, str]], origin: str) -> None:
    """Check a TOML document against the declarations, writing good values into ``values``."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as problem:
        errors.append((origin, f"not valid TOML: {problem}"))
        return
    for section, body in document.items():
        if not isinstance(body, dict):
            errors.append((section, "expected a [section] table"))
            continue
        if section not in SECTIONS:
            errors.append((section, "unknown section"))
            continue
        for name, value in body.items():
            _check_into(f"{section}.{name}", value, values, errors)


def _apply_environment(environ: Mapping[str, str], values: dict[str, Any],
                       errors: list[tuple[str, str]]) -> None:
    for setting in DECLARATIONS:
        raw = environ.get(setting.env_name)
        if raw is None:
            continue
        try:
            values[setting.key] = setting.kind.check(setting.kind.from_env(raw))
        except ValueError as problem:
            errors.append((setting.env_name, str(problem)))


def _cross_checks(values: Mapping[str, Any], errors: list[tuple[str, str]]) -> None:
    host = values["portal.listen"].rpartition(":")[0].strip("[]")
    if host in ("0.0.0.0", "::") and not values["portal.public_url"]:  # noqa: S104 - reading, not binding
        errors.append(("portal.public_url", "must be set to the kit's address when portal.listen is a wildcard"))
    if values["portal.default_language"] not in values["portal.languages"]:
        errors.append(("portal.default_language", "must be one of portal.languages"))
    lan = ipaddress.IPv4Interface(values["network.lan_address"])
    if problem := natports.too_large(lan):
        errors.append(("network.lan_address", problem))
    for key in ("network.dhcp_first", "network.dhcp_last"):
        address = ipaddress.IPv4Address(values[key])
        if address not in lan.network or address == lan.ip:
            errors.append((key, f"must be inside {lan.network} and not the kit's own address"))
    if ipaddress.IPv4Address(values["network.dhcp_first"]) > ipaddress.IPv4Address(values["network.dhcp_last"]):
        errors.append(("network.dhcp_last", "must not come before network.dhcp_first"))
    if values["network.lan_interface"] == values["network.wan_interface"]:
        errors.append(("network.wan_interface", "must differ from network.lan_interface"))
    staff = values["network.staff_interface"]
    if staff and staff in (values["network.lan_interface"], values["network.wan_interface"]):
        errors.append(("network.staff_interface", "must differ from the participants' and the uplink's interfaces"))
    if staff and ipaddress.IPv4Interface(values["network.staff_address"]).network.prefixlen > 28:
        errors.append(("network.staff_address", "the staff network needs at least a /28"))
    if staff and ipaddress.IPv4Interface(values["network.staff_address"]).network.overlaps(lan.network):
        errors.append(("network.staff_address", "must not overlap network.lan_address"))
    portal_host = values["portal.listen"].rpartition(":")[0].strip("[]")
    if values["firewall.backend"] == "nftables" and portal_host in ("127.0.0.1", "::1", "localhost"):
        errors.append(("portal.listen", "phones cannot reach a loopback address: listen on the kit's LAN address"))
    if values["wifi.staff_ssid"] and not values["network.staff_interface"]:
        errors.append(("network.staff_interface", "must be set when wifi.staff_ssid is"))
    if values["portal.listen"] == values["dashboard.listen"]:
        errors.append(("dashboard.listen", "must differ from portal.listen"))
    dashboard_host = values["dashboard.listen"].rpartition(":")[0].strip("[]")
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(dashboard_host) in lan.network:
            errors.append(("dashboard.listen", "must not be on the participants' network: use the kit's staff "
                                               "address (network.staff_address) or 127.0.0.1"))
    if values["firewall.backend"] == "nftables" and not any(key == "dashboard.listen" for key, _ in errors):
        # On a kit the listener may bind before its address exists (IP_FREEBIND), so a mistyped address
        # would start silently unreachable: only the staff address or the kit itself.
        allowed = {"127.0.0.1", "::1", "localhost"}
        if staff:
            allowed.add(str(ipaddress.IPv4Interface(values["network.staff_address"]).ip))
        if dashboard_host not in allowed:
            errors.append(("dashboard.listen", "must be the kit's staff address (network.staff_address) "
                                               "or 127.0.0.1"))


def load(config: str | os.PathLike[str] | None = None,
         environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the file (``config`` or ``$KIOSK_CONFIG``), then ``KIOSK_*`` variables."""
    environ = os.environ if environ is None else environ
    path_text = config if config is not None else environ.get(CONFIG_ENV)
    values = defaults().as_dict()
    errors: list[tuple[str, str]] = []
    path = Path(path_text) if path_text else None
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            errors.append((str(path), "file not found"))
            text = ""
        except (OSError, UnicodeDecodeError) as problem:
            errors.append((str(path), f"cannot be read: {problem}"))
            text = ""
        parse_toml(text, values, errors, str(path))
    _apply_environment(environ, values, errors)
    if not errors:
        _cross_checks(values, errors)
    if errors:
        raise SettingsError(errors)
    return Settings(values, path)


def check_file(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Every problem in one config file, ignoring the environment; empty when the file is valid."""
    try:
        load(path, environ={})
    except SettingsError as problem:
        return problem.errors
    return []


def _format_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(f'"{item}"' for item in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def markdown_table(declarations: Iterable[Setting] = DECLARATIONS) -> str:
    """The README's settings table, generated from the declarations."""
    lines = ["| setting | type | default | environment | what it does |", "|---|---|---|---|---|"]
    for setting in declarations:
        lines.append(f"| `{setting.key}` | {setting.kind.description} | `{_format_default(setting.default)}` "
                     f"| `{setting.env_name}` | {setting.help} |")
    return "\n".join(lines) + "\n"
