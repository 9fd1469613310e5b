"""Wiping a Linux laptop's guest account over SSH, and proving it clean.

The pure part renders POSIX sh scripts (every value quoted) and parses their NUL-separated output; the
effects go through an `SshSession`. Every step is idempotent: a wipe cut short is simply run again.

What a wipe clears, in order: the guest's processes (so nothing rewrites a file behind us), removable
media mounted for the guest, the home (browser profiles, keyrings, downloads…) restored from the golden
skeleton, the guest's files in /tmp, /var/tmp, /dev/shm and its crontab and mail, Wi-Fi connections not on
the allow-list, print jobs with their files.

Verification is independent of the steps: it compares the home and the skeleton with the manifest pinned at
enrollment (names, types, modes, sizes, SHA-256, link targets, owner), sweeps the disks for any file the
guest owns outside its home, and counts processes, mounts, Wi-Fi connections and print files. Findings
name categories and counts, never a participant's file.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from provisioning.errors import StepFailed

MARK = "@@triporteur:"
# Paths on the tablet, never on the kit.
TEMP_ROOTS = ("/tmp", "/var/tmp", "/dev/shm", "/var/spool/cron/crontabs", "/var/mail", "/var/crash")  # noqa: S108
SWEEP_ROOTS = ("/", "/home", "/var", "/tmp", "/var/tmp", "/dev/shm")  # noqa: S108
SWEEP_PRUNE = ("/proc", "/sys", "/usr", "/dev")
NM_DIRS = ("/etc/NetworkManager/system-connections", "/run/NetworkManager/system-connections")
WIFI_TYPES = ("wifi", "802-11-wireless")
REQUIRED_COMMANDS = ("find", "sha256sum", "pgrep", "pkill", "cp", "chown", "chmod", "rm", "stat", "df", "sed")
MIN_FREE_KB = 32 * 1024
_HASH_RECORD = re.compile(r"^([0-9a-f]{64}) [ *](.*)$", re.DOTALL)


@dataclass(frozen=True)
class Guest:
    """The guest account on one laptop, as learnt at enrollment."""

    name: str
    uid: int
    gid: int
    home: str
    skeleton: str
    manifest: dict[str, list[Any]] = field(default_factory=dict)
    wifi_keep: tuple[str, ...] = ()

    @property
    def home_mode(self) -> str:
        return self.manifest.get(".", ["d", "0750"])[1]


q = shlex.quote


# --- reading NUL-separated output ----------------------------------------------------------------------
def _record_size(section: str, first: str) -> int:
    if section in ("skeleton", "home", "tree"):
        return 7 if first == "E" else 1
    if section == "wifi":
        return {"N": 2, "K": 4}.get(first, 1)
    return 1


def parse_sections(data: bytes) -> dict[str, list[list[str]]]:
    """Split `MARK<name>\\0` sections into records; a record's size follows from its first token, so a file
    named like a marker is read as a name, never as a section."""
    tokens = data.decode("utf-8", "surrogateescape").split("\0")
    if tokens and tokens[-1] == "":
        tokens.pop()
    sections: dict[str, list[list[str]]] = {}
    current: str | None = None
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith(MARK):
            current = token[len(MARK):]
            sections.setdefault(current, [])
            index += 1
            continue
        if current is None:
            raise StepFailed("unexpected output from the tablet")
        size = _record_size(current, token)
        sections[current].append(tokens[index:index + size])
        index += size
    return sections


def tree_script(path: str, hash_only: Iterable[str] | None = None) -> str:
    """List a tree (type, mode, owner, size, relative path, link target) then SHA-256 of its regular files;
    with `hash_only`, hash just those relative paths, and only when they are regular files, not links."""
    listing = f"find {q(path)} -printf 'E\\0%y\\0%#m\\0%U\\0%s\\0%P\\0%l\\0' 2>/dev/null"
    if hash_only is None:
        hashing = f"(cd {q(path)} && find . -type f -exec sha256sum --zero -- {{}} +) 2>/dev/null"
    else:
        names = " ".join(q("./" + name) for name in hash_only)
        hashing = (f"(cd {q(path)} 2>/dev/null && for p in {names or '/nonexistent-path'}; do "
                   "[ -f \"$p\" ] && [ ! -L \"$p\" ] && printf '%s\\0' \"$p\"; done | "
                   "xargs -0 -r sha256sum --zero --) 2>/dev/null")
    return f"{listing}; {hashing}"


def manifest_from(records: list[list[str]]) -> tuple[dict[str, list[Any]], set[int]]:
    """(manifest, owners) from a tree section: relative path → [type, mode, size, sha256 | link target]."""
    hashes: dict[str, str] = {}
    entries: list[list[str]] = []
    for record in records:
        if record[0] == "E" and len(record) == 7:
            entries.append(record[1:])
            continue
        found = _HASH_RECORD.match(record[0])
        if found:
            hashes[found.group(2).removeprefix("./")] = found.group(1)
    manifest: dict[str, list[Any]] = {}
    owners: set[int] = set()
    for kind, mode, uid, size, relative, target in entries:
        key = relative or "."
        owners.add(int(uid))
        if kind == "f":
            manifest[key] = ["f", mode, int(size), hashes.get(relative)]
        elif kind == "l":
            manifest[key] = ["l", target]
        else:
            manifest[key] = [kind, mode]
    return manifest, owners


@dataclass(frozen=True)
class TreeDifference:
    unexpected: int
    missing: list[str]
    changed: list[str]

    def __bool__(self) -> bool:
        return bool(self.unexpected or self.missing or self.changed)

    def describe(self, what: str) -> str:
        parts = []
        if self.unexpected:
            parts.append(f"{self.unexpected} unexpected item(s)")  # a participant's names: never shown
        if self.missing:
            parts.append(f"{len(self.missing)} missing ({_few(self.missing)})")
        if self.changed:
            parts.append(f"{len(self.changed)} changed ({_few(self.changed)})")
        return f"{what} differs from the golden skeleton: " + ", ".join(parts)


def _few(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(sorted(names)[:limit])
    return shown + (", …" if len(names) > limit else "")


def compare_trees(expected: dict[str, list[Any]], actual: dict[str, list[Any]]) -> TreeDifference:
    unexpected = sum(1 for name in actual if name not in expected)
    missing = [name for name in expected if name not in actual]
    changed = [name for name in expected if name in actual and actual[name] != expected[name]]
    return TreeDifference(unexpected, missing, changed)


# --- the wipe steps ------------------------------------------------------------------------------------
def requirements_script() -> str:
    names = " ".join(REQUIRED_COMMANDS)
    return f"for c in {names}; do command -v \"$c\" >/dev/null 2>&1 || printf '%s\\n' \"$c\"; done; " \
           "find / -maxdepth 0 -printf '' 2>/dev/null || echo 'GNU find'"


def guest_script(name: str) -> str:
    return f"getent passwd {q(name)}"


def parse_passwd(line: str) -> tuple[int, int, str]:
    fields = line.strip().split(":")
    if len(fields) < 7:
        raise StepFailed("the guest account was not found on the laptop")
    return int(fields[2]), int(fields[3]), fields[5]


def end_processes_script(guest: Guest) -> str:
    return (
        f"U={guest.uid}; G={q(guest.name)}\n"
        "command -v pgrep >/dev/null && command -v pkill >/dev/null || { echo 'pgrep/pkill missing' >&2; exit 5; }\n"
        "if [ -d /run/systemd/system ] && command -v loginctl >/dev/null 2>&1; then\n"
        "  loginctl disable-linger \"$G\" >/dev/null 2>&1\n"
        "  loginctl terminate-user \"$G\" >/dev/null 2>&1\n"
        "fi\n"
        "i=0\n"
        "while pgrep -u \"$U\" >/dev/null 2>&1; do\n"
        "  if [ \"$i\" -ge 50 ]; then echo 'processes of the guest survive' >&2; exit 3; fi\n"
        "  pkill -KILL -u \"$U\" >/dev/null 2>&1\n"
        "  sleep 0.1\n"
        "  i=$((i + 1))\n"
        "done\n")


def media_targets(mounts: str, guest: str) -> list[str]:
    """Mount points under /media/<guest> or /run/media/<guest>, deepest first, from /proc/self/mounts."""
    prefixes = (f"/media/{guest}/", f"/run/media/{guest}/")
    targets = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            target = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
            if target.startswith(prefixes):
                targets.append(target)
    return sorted(targets, key=lambda path: path.count("/"), reverse=True)


def restore_home_script(guest: Guest) -> str:
    # --one-file-system: a participant's own USB stick mounted inside the home is never emptied.
    return (
        "set -e\n"
        f"S={q(guest.skeleton)}; H={q(guest.home)}\n"
        "[ -d \"$S\" ] || { echo 'no golden skeleton' >&2; exit 4; }\n"
        "if [ -L \"$H\" ] || { [ -e \"$H\" ] && [ ! -d \"$H\" ]; }; then rm -f -- \"$H\"; fi\n"
        "mkdir -p -- \"$H\"\n"
        "find \"$H\" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system -- {} +\n"
        "cp -a -- \"$S/.\" \"$H/\"\n"
        f"chown -R -h {guest.uid}:{guest.gid} -- \"$H\"\n"
        f"chmod {q(guest.home_mode)} -- \"$H\"\n")


def temporary_files_script(guest: Guest) -> str:
    roots = " ".join(q(root) for root in TEMP_ROOTS)
    return (
        f"U={guest.uid}; status=0\n"
        f"for d in {roots}; do\n"
        "  [ -d \"$d\" ] || continue\n"
        "  find \"$d\" -xdev -mindepth 1 -user \"$U\" -prune -exec rm -rf --one-file-system -- {} + || status=1\n"
        "done\n"
        "exit $status\n")


def print_jobs_script() -> str:
    return (
        "if command -v cancel >/dev/null 2>&1; then cancel -a -x >/dev/null 2>&1 || true; fi\n"
        "if [ -d /var/spool/cups ]; then\n"
        "  find /var/spool/cups -maxdepth 1 -type f \\( -name 'd[0-9]*' -o -name 'c[0-9]*' \\) -delete\n"
        "fi\n")


def wifi_script() -> str:
    """List connections: `N uuid:type:name` from nmcli when NetworkManager runs, else `K file id type` from
    the keyfiles (the id and type of their [connection] section)."""
    dirs = " ".join(f"{directory}/*" for directory in NM_DIRS)  # constants: a glob, not quoted
    section = "/^\\[connection\\]/,/^\\[/"
    return (
        "if command -v nmcli >/dev/null 2>&1 && [ \"$(nmcli -t -f RUNNING general 2>/dev/null)\" = running ]; then\n"
        "  nmcli -t -f UUID,TYPE,NAME connection show |\n"
        "    while IFS= read -r line; do printf 'N\\0%s\\0' \"$line\"; done\n"
        "else\n"
        f"  for f in {dirs}; do\n"
        "    [ -f \"$f\" ] || continue\n"
        f"    id=$(sed -n '{section}{{s/^id=//p}}' \"$f\" | head -n 1)\n"
        f"    type=$(sed -n '{section}{{s/^type=//p}}' \"$f\" | head -n 1)\n"
        "    printf 'K\\0%s\\0%s\\0%s\\0' \"$f\" \"$id\" \"$type\"\n"
        "  done\n"
        "fi\n")


@dataclass(frozen=True)
class WifiConnection:
    via: str      # "nmcli" or "keyfile"
    handle: str   # uuid or file path
    name: str
    type: str


def parse_wifi(records: list[list[str]]) -> list[WifiConnection]:
    connections = []
    for record in records:
        if record[0] == "N" and len(record) == 2:
            uuid, _, rest = record[1].partition(":")
            kind, _, name = rest.partition(":")
            name = re.sub(r"\\(.)", r"\1", name)
            connections.append(WifiConnection("nmcli", uuid, name, kind))
        elif record[0] == "K" and len(record) == 4:
            connections.append(WifiConnection("keyfile", record[1], record[2], record[3]))
    return connections


def parse_wifi_output(data: bytes) -> list[WifiConnection]:
    return parse_wifi(parse_sections(f"{MARK}wifi\0".encode() + data).get("wifi", []))


def unwanted_wifi(connections: list[WifiConnection], keep: Iterable[str]) -> list[WifiConnection]:
    kept = set(keep)
    return [c for c in connections if c.type in WIFI_TYPES and c.name not in kept]


def remove_wifi_script(victims: list[WifiConnection]) -> str:
    lines = []
    uuids = [c.handle for c in victims if c.via == "nmcli"]
    files = [c.handle for c in victims if c.via == "keyfile"]
    if uuids:
        lines.append("nmcli connection delete " + " ".join(f"uuid {q(u)}" for u in uuids) + " >/dev/null")
    if files:
        lines.append("rm -f -- " + " ".join(q(f) for f in files))
        lines.append("if command -v nmcli >/dev/null 2>&1; then nmcli connection reload >/dev/null 2>&1 || true; fi")
    return "\n".join(lines) or "true"


# --- verification -------------------------------------------------------------------------------------
def verify_script(guest: Guest) -> str:
    """One round trip: processes, skeleton tree, home tree, sweep, Wi-Fi, print spool, media, free space."""
    hashed = [name for name, entry in guest.manifest.items() if entry[0] == "f"]
    prune = " -o ".join(f"-path {q(p)}" for p in (*SWEEP_PRUNE, guest.home))
    roots = " ".join(q(root) for root in SWEEP_ROOTS)
    return "\n".join([
        f"U={guest.uid}; H={q(guest.home)}",
        f"printf '{MARK}processes\\0'; pgrep -u \"$U\" 2>/dev/null | tr '\\n' '\\0'",
        f"printf '{MARK}skeleton\\0'; {tree_script(guest.skeleton)}",
        f"printf '{MARK}home\\0'; {tree_script(guest.home, hashed)}",
        f"printf '{MARK}sweep\\0'; seen=''",
        f"for r in {roots}; do",
        "  [ -d \"$r\" ] || continue",
        "  d=$(stat -c %d \"$r\"); case \" $seen \" in *\" $d \"*) continue ;; esac; seen=\"$seen $d\"",
        f"  find \"$r\" -xdev \\( {prune} \\) -prune -o -user \"$U\" -printf '%p\\0' -prune 2>/dev/null",
        "done",
        f"printf '{MARK}wifi\\0'",
        wifi_script(),
        f"printf '{MARK}spool\\0'",
        "[ -d /var/spool/cups ] && find /var/spool/cups -maxdepth 1 -type f "
        "\\( -name 'd[0-9]*' -o -name 'c[0-9]*' \\) -printf '%f\\0'",
        f"printf '{MARK}mounts\\0'",
        f"awk -v a=\"/media/{guest.name}/\" -v b=\"/run/media/{guest.name}/\" "
        "'index($2, a) == 1 || index($2, b) == 1 {printf \"%s%c\", $2, 0}' /proc/self/mounts",
        f"printf '{MARK}free\\0'",
        "df -Pk \"$H\" 2>/dev/null | awk 'NR == 2 {printf \"%s%c\", $4, 0}'",
        f"printf '{MARK}end\\0'",
        "true",
    ])


def _category(path: str) -> str:
    parts = [part for part in path.split("/") if part]
    if not parts:
        return "/"
    if parts[0] in ("var", "run", "dev") and len(parts) > 1:
        return f"/{parts[0]}/{parts[1]}"
    return f"/{parts[0]}"


def findings(guest: Guest, output: bytes, wifi_keep: Iterable[str]) -> list[str]:
    """Everything that keeps the laptop from being handed out; empty means proven clean."""
    sections = parse_sections(output)
    if "end" not in sections:
        return ["the verification did not complete"]
    found: list[str] = []
    processes = [r for r in sections.get("processes", []) if r[0].strip()]
    if processes:
        found.append(f"{len(processes)} process(es) of the guest still running")
    skeleton, _ = manifest_from(sections.get("skeleton", []))
    if not skeleton:
        found.append("the golden skeleton is missing on the laptop")
    else:
        difference = compare_trees(guest.manifest, skeleton)
        if difference:
            found.append(difference.describe("the golden skeleton itself") + " (if on purpose: "
                         "provision tablets skeleton NAME)")
    home, owners = manifest_from(sections.get("home", []))
    if not home:
        found.append("the guest's home is missing")
    else:
        expected = dict(guest.manifest)
        difference = compare_trees(expected, home)
        if difference:
            found.append(difference.describe("the guest's home"))
        if owners - {guest.uid}:
            found.append("items in the guest's home are not owned by the guest")
    sweep = [record[0] for record in sections.get("sweep", [])]
    if sweep:
        counts: dict[str, int] = {}
        for path in sweep:
            counts[_category(path)] = counts.get(_category(path), 0) + 1
        where = ", ".join(f"{place}: {count}" for place, count in sorted(counts.items()))
        found.append(f"{len(sweep)} file(s) of the guest left outside its home ({where})")
    wifi = unwanted_wifi(parse_wifi(sections.get("wifi", [])), wifi_keep)
    if wifi:
        found.append(f"{len(wifi)} Wi-Fi connection(s) not on the allow-list")
    spool = sections.get("spool", [])
    if spool:
        found.append(f"{len(spool)} print job file(s) left in the spool")
    if sections.get("mounts"):
        found.append("removable media still mounted for the guest")
    free = sections.get("free", [])
    if free and free[0][0].isdigit() and int(free[0][0]) < MIN_FREE_KB:
        found.append(f"the tablet's disk is full ({int(free[0][0]) // 1024} MB free)")
    return found
