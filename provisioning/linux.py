"""Wiping a Linux laptop's guest account over SSH, and proving it clean.

The pure part renders POSIX sh scripts (every value quoted) and parses their NUL-separated output; the
effects go through an `SshSession`. Every step is idempotent: a wipe cut short is simply run again.

What a wipe clears, in order: every process whose real or effective uid is the guest's (so nothing rewrites
a file behind us), removable media mounted for the guest, the guest account itself (password, GECOS, shell
and password date put back as enrollment recorded them), the home directory made anew from the golden
skeleton (so no extended attribute or ACL of the old one survives), every file the guest owns on any mounted
local filesystem (/tmp, /run/lock, /dev/shm, /dev/mqueue, /srv…, from /proc/self/mounts, not a fixed list),
SysV IPC objects, `at` jobs, lingering, NetworkManager connections whose UUID enrollment did not record (any
type: Wi-Fi, VPN, 802.1X), print jobs and the spool's temporary files.

Why the account is put back rather than made anew (userdel/useradd): useradd picks the uid, gid and
defaults it likes, and a new uid would leave the old one's files anonymous yet readable; restoring the lines
recorded at enrollment keeps the uid the sweep looks for and is checked field by field.

Verification is independent of the steps: it compares the account with the record, the home and the skeleton
with the manifest pinned at enrollment (names, types, modes, sizes, SHA-256, link targets, owner, extended
attributes), sweeps every mounted local filesystem for any file the guest owns outside its home, and counts
processes, IPC objects, at jobs, lingering, connections and print files. Findings name categories and counts,
never a participant's file, and never a password hash.
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
SWEEP_PRUNE = ("/proc", "/sys", "/usr", "/dev")
# Filesystem types that hold no file a participant can write, or that are not the laptop's own disk.
NOT_SWEPT_TYPES = ("proc", "sysfs", "cgroup", "cgroup2", "devpts", "devtmpfs", "securityfs", "debugfs", "tracefs",
                   "pstore", "bpf", "configfs", "fusectl", "binfmt_misc", "autofs", "efivarfs", "hugetlbfs",
                   "rpc_pipefs", "nfsd", "nfs", "nfs4", "cifs", "smb3", "sshfs", "fuse.sshfs", "fuse.gvfsd-fuse",
                   "fuse.portal", "squashfs", "iso9660", "ramfs")
NM_DIRS = ("/etc/NetworkManager/system-connections", "/run/NetworkManager/system-connections")
REQUIRED_COMMANDS = ("find", "sha256sum", "pgrep", "pkill", "cp", "chown", "chmod", "rm", "stat", "df", "sed", "awk",
                     "getent", "usermod", "chage", "getfattr", "ipcrm")
ACCOUNT_FIELDS = ("name", "password", "uid", "gid", "full name (GECOS)", "home", "shell")
SHADOW_FIELDS = ("name", "password", "date of the last password change", "minimum age", "maximum age",
                 "warning period", "inactivity period", "expiry date", "reserved")
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
    account: dict[str, str] = field(default_factory=dict)  # {"passwd": line, "shadow": line} at enrollment
    connections_keep: tuple[str, ...] | None = None  # NetworkManager UUIDs recorded at enrollment

    @property
    def recorded(self) -> bool:
        """Whether enrollment recorded the account and the connections (laptops enrolled before did not)."""
        return bool(self.account.get("passwd") and self.account.get("shadow")) and self.connections_keep is not None

    @property
    def home_mode(self) -> str:
        return self.manifest.get(".", ["d", "0750"])[1]


q = shlex.quote


# --- reading NUL-separated output ----------------------------------------------------------------------
def _record_size(section: str, first: str) -> int:
    if section in ("skeleton", "home", "tree"):
        return 7 if first == "E" else 1
    if section == "wifi":
        return {"N": 2, "K": 5}.get(first, 1)
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


def account_script(name: str) -> str:
    """The guest's passwd and shadow lines (root only), each as one NUL-ended record."""
    return (f"printf '{MARK}account\\0'; "
            f"getent passwd {q(name)} | tr -d '\\n'; printf '\\0'; getent shadow {q(name)} | tr -d '\\n'; printf '\\0'")


def parse_account(records: list[list[str]]) -> dict[str, str]:
    lines = [record[0] for record in records]
    return {"passwd": lines[0] if lines else "", "shadow": lines[1] if len(lines) > 1 else ""}


def parse_passwd(line: str) -> tuple[int, int, str]:
    fields = line.strip().split(":")
    if len(fields) < 7:
        raise StepFailed("the guest account was not found on the laptop")
    return int(fields[2]), int(fields[3]), fields[5]


def account_differences(recorded: dict[str, str], actual: dict[str, str]) -> list[str]:
    """Names of the account fields that differ from the record (never their values: one is a password hash)."""
    changed = []
    for key, names in (("passwd", ACCOUNT_FIELDS), ("shadow", SHADOW_FIELDS)):
        expected, found = recorded.get(key, "").split(":"), actual.get(key, "").split(":")
        if len(found) != len(expected):
            changed.append(f"the {key} entry")
            continue
        changed += [names[i] if i < len(names) else f"field {i + 1}"
                    for i, (a, b) in enumerate(zip(expected, found, strict=True)) if a != b]
    return changed


def end_processes_script(guest: Guest) -> str:
    # -U is the real uid, -u the effective one: a `passwd` left running is real guest, effective root.
    return (
        f"U={guest.uid}; G={q(guest.name)}\n"
        "command -v pgrep >/dev/null && command -v pkill >/dev/null || { echo 'pgrep/pkill missing' >&2; exit 5; }\n"
        "if [ -d /run/systemd/system ] && command -v loginctl >/dev/null 2>&1; then\n"
        "  loginctl disable-linger \"$G\" >/dev/null 2>&1\n"
        "  loginctl terminate-user \"$G\" >/dev/null 2>&1\n"
        "fi\n"
        "i=0\n"
        "while pgrep -u \"$U\" >/dev/null 2>&1 || pgrep -U \"$U\" >/dev/null 2>&1; do\n"
        "  if [ \"$i\" -ge 50 ]; then echo 'processes of the guest survive' >&2; exit 3; fi\n"
        "  pkill -KILL -u \"$U\" >/dev/null 2>&1; pkill -KILL -U \"$U\" >/dev/null 2>&1\n"
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


def restore_account_script(guest: Guest) -> str:
    """Put the guest's password, GECOS, shell and password date back as enrollment recorded them."""
    shadow = guest.account["shadow"].split(":")
    fields = guest.account["passwd"].split(":")
    if len(shadow) < 3 or len(fields) < 7:
        raise StepFailed("the guest account's record is incomplete: enroll the laptop again")
    last_change = shadow[2] or "-1"
    return (
        "set -e\n"
        f"usermod -p {q(shadow[1])} -c {q(fields[4])} -s {q(fields[6])} -- {q(guest.name)}\n"
        f"chage -d {q(last_change)} -- {q(guest.name)}\n")


def restore_home_script(guest: Guest) -> str:
    # The home directory itself is made anew: an extended attribute or ACL set on it does not survive.
    # --one-file-system: a participant's own USB stick mounted inside the home is never emptied.
    return (
        "set -e\n"
        f"S={q(guest.skeleton)}; H={q(guest.home)}\n"
        "[ -d \"$S\" ] || { echo 'no golden skeleton' >&2; exit 4; }\n"
        "if [ -L \"$H\" ] || [ -e \"$H\" ]; then rm -rf --one-file-system -- \"$H\"; fi\n"
        "[ ! -e \"$H\" ] || { echo 'something is still mounted inside the home' >&2; exit 6; }\n"
        "mkdir -- \"$H\"\n"
        "cp -a -- \"$S/.\" \"$H/\"\n"
        f"chown -R -h {guest.uid}:{guest.gid} -- \"$H\"\n"
        f"chmod {q(guest.home_mode)} -- \"$H\"\n")


def _sweep_roots_script() -> str:
    """Shell lines setting $roots: "/" and every mounted local filesystem, from /proc/self/mounts."""
    skipped = "|".join(re.escape(kind) for kind in NOT_SWEPT_TYPES)
    return (
        f"roots=$(awk '$3 !~ /^({skipped})$/ {{print $2}}' /proc/self/mounts | while IFS= read -r m; do "
        "printf '%b\\n' \"$m\"; done)\n")


def _sweep_lines(guest: Guest, action: str) -> list[str]:
    """For each sweep root once (by device), `find` the guest's files outside its home and do `action`."""
    prune = " -o ".join(f"-path {q(p)}" for p in (*SWEEP_PRUNE, guest.home,
                                                   f"/media/{guest.name}", f"/run/media/{guest.name}"))
    return [
        _sweep_roots_script(),
        "seen=''",
        "printf '/\\n%s\\n' \"$roots\" | while IFS= read -r r; do",
        "  [ -d \"$r\" ] || continue",
        "  d=$(stat -c %d \"$r\"); case \" $seen \" in *\" $d \"*) continue ;; esac; seen=\"$seen $d\"",
        f"  find \"$r\" -xdev \\( {prune} \\) -prune -o -user \"$U\" {action} 2>/dev/null",
        "done",
    ]


def _ipc_list() -> str:
    """SysV IPC objects created by or owned by $U: `kind id` lines, from /proc/sysvipc (this IPC namespace)."""
    return ("{ awk -v u=\"$U\" 'NR > 1 && ($8 == u || $10 == u) {print \"-m\", $2}' /proc/sysvipc/shm; "
            "awk -v u=\"$U\" 'NR > 1 && ($8 == u || $10 == u) {print \"-q\", $2}' /proc/sysvipc/msg; "
            "awk -v u=\"$U\" 'NR > 1 && ($5 == u || $7 == u) {print \"-s\", $2}' /proc/sysvipc/sem; } 2>/dev/null")


def leftovers_script(guest: Guest) -> str:
    """Remove what the guest left outside its home: files on every local filesystem, IPC, at jobs, linger."""
    return "\n".join([
        f"U={guest.uid}; G={q(guest.name)}; status=0",
        "if ! awk '$3 == \"mqueue\" {f = 1} END {exit !f}' /proc/self/mounts; then",
        "  mkdir -p /dev/mqueue && mount -t mqueue mqueue /dev/mqueue || status=1",
        "fi",
        "if command -v atq >/dev/null 2>&1; then",
        "  atq 2>/dev/null | awk -v g=\"$G\" '$NF == g {print $1}' | while read -r job; do atrm \"$job\"; done",
        "fi",
        "rm -f -- \"/var/lib/systemd/linger/$G\"",
        *_sweep_lines(guest, "-prune -exec rm -rf --one-file-system -- {} +"),
        f"{_ipc_list()} | while read -r kind id; do ipcrm \"$kind\" \"$id\" || status=1; done",
        "exit $status",
    ])


def print_jobs_script() -> str:
    return (
        "if command -v cancel >/dev/null 2>&1; then cancel -a -x >/dev/null 2>&1 || true; fi\n"
        "if [ -d /var/spool/cups ]; then find /var/spool/cups -mindepth 1 ! -type d -delete; fi\n")


def connections_script() -> str:
    """List connections: `N uuid:type:name` from nmcli when NetworkManager runs, else `K file uuid id type`
    from the keyfiles (their [connection] section)."""
    dirs = " ".join(f"{directory}/*" for directory in NM_DIRS)  # constants: a glob, not quoted
    section = "/^\\[connection\\]/,/^\\[/"
    return (
        "if command -v nmcli >/dev/null 2>&1 && [ \"$(nmcli -t -f RUNNING general 2>/dev/null)\" = running ]; then\n"
        "  nmcli -t -f UUID,TYPE,NAME connection show |\n"
        "    while IFS= read -r line; do printf 'N\\0%s\\0' \"$line\"; done\n"
        "else\n"
        f"  for f in {dirs}; do\n"
        "    [ -f \"$f\" ] || continue\n"
        f"    uuid=$(sed -n '{section}{{s/^uuid=//p}}' \"$f\" | head -n 1)\n"
        f"    id=$(sed -n '{section}{{s/^id=//p}}' \"$f\" | head -n 1)\n"
        f"    type=$(sed -n '{section}{{s/^type=//p}}' \"$f\" | head -n 1)\n"
        "    printf 'K\\0%s\\0%s\\0%s\\0%s\\0' \"$f\" \"$uuid\" \"$id\" \"$type\"\n"
        "  done\n"
        "fi\n")


@dataclass(frozen=True)
class Connection:
    via: str      # "nmcli" or "keyfile"
    handle: str   # uuid or file path
    uuid: str
    name: str
    type: str


def parse_connections(records: list[list[str]]) -> list[Connection]:
    connections = []
    for record in records:
        if record[0] == "N" and len(record) == 2:
            uuid, _, rest = record[1].partition(":")
            kind, _, name = rest.partition(":")
            name = re.sub(r"\\(.)", r"\1", name)
            connections.append(Connection("nmcli", uuid, uuid, name, kind))
        elif record[0] == "K" and len(record) == 5:
            connections.append(Connection("keyfile", record[1], record[2], record[3], record[4]))
    return connections


def parse_connections_output(data: bytes) -> list[Connection]:
    return parse_connections(parse_sections(f"{MARK}wifi\0".encode() + data).get("wifi", []))


def connections_to_keep(connections: list[Connection], names: Iterable[str]) -> tuple[str, ...]:
    """At enrollment: the UUIDs of the connections named in `tablets.linux_wifi_keep`, or of every connection
    present when that list is empty (a laptop is enrolled clean)."""
    wanted = set(names)
    return tuple(sorted({c.uuid for c in connections if c.uuid and (not wanted or c.name in wanted)}))


def unwanted_connections(connections: list[Connection], keep: Iterable[str]) -> list[Connection]:
    """Every connection, of any type, whose UUID enrollment did not record: a name proves nothing."""
    kept = set(keep)
    return [c for c in connections if not c.uuid or c.uuid not in kept]


def remove_connections_script(victims: list[Connection]) -> str:
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
def _xattr_count(path: str) -> str:
    """Count extended attributes (ACLs included) in a tree, names only: never their values."""
    return (f"getfattr -R -h -m - --absolute-names -- {q(path)} 2>/dev/null | "
            "grep -v -e '^# file: ' -e '^$' | wc -l | tr -d ' \\n'; printf '\\0'")


def verify_script(guest: Guest) -> str:
    """One round trip: account, processes, skeleton tree, home tree, sweep of every local filesystem, IPC,
    at jobs, lingering, connections, print spool, media, free space."""
    hashed = [name for name, entry in guest.manifest.items() if entry[0] == "f"]
    return "\n".join([
        f"U={guest.uid}; G={q(guest.name)}; H={q(guest.home)}",
        account_script(guest.name),
        f"printf '{MARK}processes\\0'; {{ pgrep -u \"$U\"; pgrep -U \"$U\"; }} 2>/dev/null | sort -u | tr '\\n' '\\0'",
        f"printf '{MARK}skeleton\\0'; {tree_script(guest.skeleton)}",
        f"printf '{MARK}home\\0'; {tree_script(guest.home, hashed)}",
        f"printf '{MARK}xattr\\0'",
        f"if command -v getfattr >/dev/null 2>&1; then {_xattr_count(guest.home)}; {_xattr_count(guest.skeleton)}; fi",
        f"printf '{MARK}sweep\\0'",
        *_sweep_lines(guest, "-printf '%p\\0' -prune"),
        f"printf '{MARK}mqueue\\0'",
        "awk '$3 == \"mqueue\" {printf \"%s%c\", $2, 0}' /proc/self/mounts",
        f"printf '{MARK}ipc\\0'",
        f"{_ipc_list()} | tr '\\n' '\\0'",
        f"printf '{MARK}at\\0'",
        "command -v atq >/dev/null 2>&1 && atq 2>/dev/null | awk -v g=\"$G\" '$NF == g {printf \"%s%c\", $1, 0}'",
        f"printf '{MARK}linger\\0'",
        "[ -e \"/var/lib/systemd/linger/$G\" ] && printf 'linger\\0'",
        f"printf '{MARK}wifi\\0'",
        connections_script(),
        f"printf '{MARK}spool\\0'",
        "[ -d /var/spool/cups ] && find /var/spool/cups -mindepth 1 ! -type d -printf '%f\\0'",
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


def _records(sections: dict[str, list[list[str]]], name: str) -> list[str]:
    return [record[0] for record in sections.get(name, []) if record and record[0].strip()]


def findings(guest: Guest, output: bytes) -> list[str]:
    """Everything that keeps the laptop from being handed out; empty means proven clean."""
    sections = parse_sections(output)
    if "end" not in sections:
        return ["the verification did not complete"]
    found: list[str] = []
    if not guest.recorded:
        found.append("enrolled before the kit recorded the guest account and the connections to keep: run "
                     "`provision tablets skeleton NAME`, then wipe it")
    else:
        changed = account_differences(guest.account, parse_account(sections.get("account", [])))
        if changed:
            found.append("the guest account differs from enrollment: " + ", ".join(changed))
    processes = _records(sections, "processes")
    if processes:
        found.append(f"{len(processes)} process(es) of the guest still running")
    skeleton, skeleton_owners = manifest_from(sections.get("skeleton", []))
    if not skeleton:
        found.append("the golden skeleton is missing on the laptop")
    else:
        difference = compare_trees(guest.manifest, skeleton)
        if difference:
            found.append(difference.describe("the golden skeleton itself") + " (if on purpose: "
                         "provision tablets skeleton NAME)")
        if skeleton_owners - {0}:
            found.append("the golden skeleton is not owned by root (the guest could change it): "
                         "provision tablets skeleton NAME")
    home, owners = manifest_from(sections.get("home", []))
    if not home:
        found.append("the guest's home is missing")
    else:
        difference = compare_trees(dict(guest.manifest), home)
        if difference:
            found.append(difference.describe("the guest's home"))
        if owners - {guest.uid}:
            found.append("items in the guest's home are not owned by the guest")
    xattr = _records(sections, "xattr")
    if len(xattr) != 2 or not all(count.isdigit() for count in xattr):
        found.append("extended attributes could not be checked (install the attr package on the laptop)")
    elif int(xattr[0]) != int(xattr[1]):
        found.append(f"{abs(int(xattr[0]) - int(xattr[1]))} extended attribute(s) or ACL(s) in the guest's home "
                     "that the skeleton does not have")
    sweep = _records(sections, "sweep")
    if sweep:
        counts: dict[str, int] = {}
        for path in sweep:
            counts[_category(path)] = counts.get(_category(path), 0) + 1
        where = ", ".join(f"{place}: {count}" for place, count in sorted(counts.items()))
        found.append(f"{len(sweep)} file(s) of the guest left outside its home ({where})")
    if not _records(sections, "mqueue"):
        found.append("POSIX message queues could not be checked (/dev/mqueue is not mounted)")
    ipc = _records(sections, "ipc")
    if ipc:
        found.append(f"{len(ipc)} shared memory or IPC object(s) of the guest")
    jobs = _records(sections, "at")
    if jobs:
        found.append(f"{len(jobs)} at job(s) of the guest queued")
    if _records(sections, "linger"):
        found.append("the guest's user services linger")
    if guest.connections_keep is not None:
        extra = unwanted_connections(parse_connections(sections.get("wifi", [])), guest.connections_keep)
        if extra:
            kinds = sorted({c.type or "unknown" for c in extra})
            found.append(f"{len(extra)} network connection(s) not recorded at enrollment ({', '.join(kinds)})")
    spool = sections.get("spool", [])
    if spool:
        found.append(f"{len(spool)} print job file(s) left in the spool")
    if sections.get("mounts"):
        found.append("removable media still mounted for the guest")
    free = sections.get("free", [])
    if free and free[0][0].isdigit() and int(free[0][0]) < MIN_FREE_KB:
        found.append(f"the tablet's disk is full ({int(free[0][0]) // 1024} MB free)")
    return found
