"""A simulated Android tablet: the device side of ADB over TCP, driven by Debian's real `adb` server.

Transport (AOSP adb/protocol.txt): 24-byte little-endian headers (command, arg0, arg1, data_length,
data_check, magic = command ^ 0xffffffff) and a payload. The host sends CNXN(version, maxdata,
"host::…"); the tablet answers CNXN with its banner ("device::ro.product.model=…;") — no AUTH, as a tablet
that already trusts the kit. OPEN(local-id, 0, "shell:<command>") is answered OKAY(our-id, their-id);
output goes in WRTE messages, each acknowledged by an OKAY before the next; CLSE ends the stream. Only the
legacy `shell:` service is offered (no shell_v2 feature), so exit statuses come from `; echo $?`.

State: users (id, name, flags, running, ephemeral, screen lock), packages installed per user (third-party
or system), per-user app data and shared storage, accounts. The shell understands `cmd; cmd`, `$?`, and
answers `pm`, `am`, `settings`, `getprop`, `dumpsys account`, `dumpsys lock_settings`, `ls`, `rm`, `mkdir`,
`echo` with Android's own output formats (AccountManagerService.dump, LockSettingsService.dump). Faults: a
device that drops off the network when a command arrives, `pm remove-user` that fails, latencies per command.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

A_SYNC, A_CNXN, A_AUTH, A_OPEN = 0x434E5953, 0x4E584E43, 0x48545541, 0x4E45504F
A_OKAY, A_CLSE, A_WRTE = 0x59414B4F, 0x45534C43, 0x45545257
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
HEADER = struct.Struct("<6I")

FLAG_PRIMARY, FLAG_ADMIN, FLAG_INITIALIZED, FLAG_EPHEMERAL, FLAG_FULL, FLAG_SYSTEM = 0x1, 0x2, 0x10, 0x100, 0x400, 0x800
DEFAULT_FOLDERS = ("Alarms", "Android", "DCIM", "Documents", "Download", "Movies", "Music", "Notifications",
                   "Pictures", "Podcasts", "Recordings", "Ringtones")
SYSTEM_PACKAGES = ("com.android.chrome", "com.android.settings", "com.google.android.apps.docs")
USER_PACKAGES = ("fr.caf.mobile", "com.whatsapp")


@dataclass
class User:
    id: int
    name: str
    flags: int
    running: bool = False
    storage: dict[str, bytes | None] = field(default_factory=dict)  # relative path → bytes (None: a folder)
    app_data: dict[str, dict[str, bytes]] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)  # names; every account is a Google one here
    lock: str = "NONE"  # CredentialType as Android 12+ prints it: NONE, PIN, PASSWORD, PATTERN
    settings: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    def __post_init__(self) -> None:
        for folder in DEFAULT_FOLDERS:
            self.storage.setdefault(folder, None)


class AndroidState:
    """What the tablet holds and how its commands answer; thread-safe."""

    def __init__(self, max_users: int = 4, release: str = "13", sdk: int = 33, model: str = "SM-T220",
                 ephemeral_removal_delay: float = 0.2, delays: dict[str, float] | None = None,
                 owner_lock: str = "PIN", lock_dump: str = "names"):
        self.max_users = max_users
        self.props = {"ro.build.version.release": release, "ro.build.version.sdk": str(sdk),
                      "ro.product.model": model, "ro.product.manufacturer": "samsung"}
        self.users: dict[int, User] = {0: User(0, "Owner", FLAG_PRIMARY | FLAG_ADMIN | FLAG_INITIALIZED | FLAG_FULL
                                               | FLAG_SYSTEM, running=True, lock=owner_lock)}
        self.packages: dict[str, set[int]] = {name: {0} for name in (*SYSTEM_PACKAGES, *USER_PACKAGES)}
        self.third_party = set(USER_PACKAGES)
        # "names" (Android 12+), "numbers" (Android 11), "hidden" (older: no CredentialType line at all)
        self.lock_dump = lock_dump
        self.current = 0
        self.ephemeral_removal_delay = ephemeral_removal_delay
        self.delays = delays or {}
        self.fail_remove_user = False
        self.commands: list[str] = []
        self.lock = threading.RLock()

    # --- planting and reading, for tests ---------------------------------------------------------------
    def plant_file(self, user: int, relative: str, content: bytes = b"personal") -> None:
        with self.lock:
            storage = self.users[user].storage
            parts = relative.strip("/").split("/")
            for depth in range(1, len(parts)):
                storage.setdefault("/".join(parts[:depth]), None)
            storage["/".join(parts)] = content

    def plant_app_data(self, user: int, package: str, name: str, content: bytes = b"session") -> None:
        with self.lock:
            self.users[user].app_data.setdefault(package, {})[name] = content

    def add_account(self, user: int, account: str) -> None:
        with self.lock:
            self.users[user].accounts.append(account)

    def remove_account(self, user: int, account: str) -> None:
        """Settings → Accounts → Remove account, on the tablet."""
        with self.lock:
            self.users[user].accounts.remove(account)

    def install_package(self, user: int, package: str) -> None:
        """An app installed from the store (or an APK) in one user."""
        with self.lock:
            self.packages.setdefault(package, set()).add(user)
            self.third_party.add(package)

    def set_lock(self, user: int, kind: str) -> None:
        """Settings → Security → Screen lock, on the tablet."""
        with self.lock:
            self.users[user].lock = kind

    def packages_of(self, user: int) -> list[str]:
        with self.lock:
            return sorted(name for name, users in self.packages.items() if user in users and name in self.third_party)

    def user_ids(self) -> list[int]:
        with self.lock:
            return sorted(self.users)

    def personal_files(self, user: int = 0) -> list[str]:
        with self.lock:
            if user not in self.users:
                return []
            return sorted(path for path, content in self.users[user].storage.items() if content is not None)

    # --- the shell ---------------------------------------------------------------------------------------
    def execute(self, command: str) -> tuple[str, int]:
        """Run `a; b; echo $?` the way mksh would, for the commands a wipe uses."""
        lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:
            return "/system/bin/sh: syntax error: unterminated quoted string\n", 1
        output, status, argv = [], 0, []
        for word in [*tokens, ";"]:
            if word in ("&&", "||", "|", "&"):
                return f"/system/bin/sh: '{word}' is not supported by this simulated tablet\n", 2
            if word != ";":
                argv.append(word)
                continue
            if argv:
                argv = [word.replace("$?", str(status)) for word in argv]
                text, status = self._one(argv)
                output.append(text)
                argv = []
        return "".join(output), status

    def _one(self, argv: list[str]) -> tuple[str, int]:
        line = " ".join(argv)
        self.commands.append(line)
        for prefix, seconds in self.delays.items():
            if line.startswith(prefix):
                time.sleep(seconds)
        handler: Callable[[list[str]], tuple[str, int]] | None = {
            "echo": lambda a: (" ".join(a) + "\n", 0), "getprop": self._getprop, "pm": self._pm, "am": self._am,
            "cmd": self._cmd, "settings": self._settings, "dumpsys": self._dumpsys,
            "ls": self._ls, "rm": self._rm, "mkdir": self._mkdir,
        }.get(argv[0])
        if handler is None:
            return f"/system/bin/sh: {argv[0]}: inaccessible or not found\n", 127
        with self.lock:
            return handler(argv[1:])

    def _getprop(self, args: list[str]) -> tuple[str, int]:
        if not args:
            return "".join(f"[{k}]: [{v}]\n" for k, v in sorted(self.props.items())), 0
        return self.props.get(args[0], "") + "\n", 0

    @staticmethod
    def _user_option(args: list[str], default: int) -> tuple[int, list[str]]:
        if "--user" in args:
            index = args.index("--user")
            value = args[index + 1]
            return (default if value == "current" else int(value)), args[:index] + args[index + 2:]
        return default, args

    def _pm(self, args: list[str]) -> tuple[str, int]:
        verb, rest = (args[0], args[1:]) if args else ("", [])
        if verb == "get-max-users":
            return f"Maximum supported users: {self.max_users}\n", 0
        if verb == "list" and rest[:1] == ["users"]:
            lines = ["Users:"] + [f"\tUserInfo{{{u.id}:{u.name}:{u.flags:x}}}" + (" running" if u.running else "")
                                  for u in sorted(self.users.values(), key=lambda u: u.id)]
            return "\n".join(lines) + "\n", 0
        if verb == "list" and rest[:1] == ["packages"]:
            user, options = self._user_option(rest[1:], 0)
            if user not in self.users:
                return f"Error: user {user} not found\n", 255
            names = [name for name, users in sorted(self.packages.items()) if user in users]
            if "-3" in options:
                names = [name for name in names if name in self.third_party]
            if "-s" in options:
                names = [name for name in names if name not in self.third_party]
            return "".join(f"package:{name}\n" for name in names), 0
        if verb == "uninstall":
            user, options = self._user_option(rest, 0)
            package = next((arg for arg in options if not arg.startswith("-")), "")
            if user not in self.packages.get(package, set()):
                return f"Failure [not installed for {user}]\n", 1
            self.packages[package].discard(user)
            self.users[user].app_data.pop(package, None)
            return "Success\n", 0
        if verb == "create-user":
            return self._create_user(rest)
        if verb == "remove-user":
            return self._remove_user(int(rest[0]))
        if verb == "clear":
            user, rest = self._user_option(rest, 0)
            package = rest[0]
            if user not in self.users or user not in self.packages.get(package, set()):
                return "Failed\n", 1
            self.users[user].app_data.pop(package, None)
            return "Success\n", 0
        return f"Unknown command: {verb}\n", 1

    def _create_user(self, args: list[str]) -> tuple[str, int]:
        flags = FLAG_FULL | FLAG_INITIALIZED
        names = []
        for arg in args:
            if arg == "--ephemeral":
                flags |= FLAG_EPHEMERAL
            elif arg.startswith("--"):
                continue
            else:
                names.append(arg)
        if len(self.users) >= self.max_users or not names:
            return "Error: couldn't create User.\n", 1
        new_id = max(10, max(self.users) + 1)
        self.users[new_id] = User(new_id, names[0], flags)
        for package in SYSTEM_PACKAGES:
            self.packages[package].add(new_id)
        return f"Success: created user id {new_id}\n", 0

    def _remove_user(self, user: int) -> tuple[str, int]:
        if user == 0 or user not in self.users or self.fail_remove_user:
            return f"Error: couldn't remove user id {user}\n", 1
        if self.current == user:
            self._switch(0)
        self._drop_user(user)
        return "Success: removed user\n", 0

    def _drop_user(self, user: int) -> None:
        self.users.pop(user, None)
        for users in self.packages.values():
            users.discard(user)

    def _switch(self, user: int) -> None:
        previous = self.users[self.current]
        self.current = user
        self.users[user].running = True
        if previous.id != user and previous.ephemeral:
            previous.running = False
            # Android stops an ephemeral user once switched away from, then removes it in the background.
            timer = threading.Timer(self.ephemeral_removal_delay, self._remove_if_stopped, (previous.id,))
            timer.daemon = True
            timer.start()

    def _remove_if_stopped(self, user: int) -> None:
        with self.lock:
            if user in self.users and not self.users[user].running and not self.fail_remove_user:
                self._drop_user(user)

    def _am(self, args: list[str]) -> tuple[str, int]:
        if args[:1] == ["switch-user"]:
            user = int(args[1])
            if user not in self.users:
                return f"Error: Failed to switch to user {user}\n", 1
            self._switch(user)
            return "", 0
        if args[:1] == ["get-current-user"]:
            return f"{self.current}\n", 0
        return f"Unknown command: {' '.join(args[:1])}\n", 1

    def _cmd(self, args: list[str]) -> tuple[str, int]:
        if args[:2] != ["package", "install-existing"]:
            return f"Can't find service: {args[0] if args else ''}\n", 20
        user, rest = self._user_option(args[2:], 0)
        package = next(arg for arg in rest if not arg.startswith("--"))
        if package not in self.packages or user not in self.users:
            return (f"android.content.pm.PackageManager$NameNotFoundException: Package {package} doesn't exist\n",
                    1)
        self.packages[package].add(user)
        return f"Package {package} installed for user: {user}\n", 0

    def _settings(self, args: list[str]) -> tuple[str, int]:
        user, args = self._user_option(args, self.current)
        if user not in self.users:
            return f"Invalid user: {user}\n", 1
        if args[:1] == ["put"] and len(args) >= 4:
            self.users[user].settings[(args[1], args[2])] = args[3]
            return "", 0
        if args[:1] == ["get"] and len(args) >= 3:
            return self.users[user].settings.get((args[1], args[2]), "null") + "\n", 0
        return "usage: settings [--user <USER_ID> | current] get namespace key\n", 1

    def _dumpsys(self, args: list[str]) -> tuple[str, int]:
        users = sorted(self.users.values(), key=lambda u: u.id)
        if args[:1] == ["account"]:
            out = []
            for user in users:
                out.append(f"User UserInfo{{{user.id}:{user.name}:{user.flags:x}}}:\n")
                out.append(f"  Accounts: {len(user.accounts)}\n")
                out.extend(f"    Account {{name={name}, type=com.google}}\n" for name in user.accounts)
                out.append("\n  Active Sessions: 0\n\n  RegisteredServicesCache: 1 services\n"
                           "    ServiceInfo: AuthenticatorDescription {type=com.google}, "
                           "ComponentInfo{com.google.android.gms/com.google.android.gms.auth.GoogleAuthService}, "
                           "uid 10123\n\n")
            return "".join(out), 0
        if args[:1] == ["lock_settings"]:
            numbers = {"NONE": "-1", "PATTERN": "1", "PIN": "3", "PASSWORD": "4"}
            out = ["Current lock settings service state:\n\nUser State:\n"]
            for user in users:
                out.append(f"  User {user.id}\n    SID: 0\n    Quality: {0 if user.lock == 'NONE' else 131072}\n")
                if self.lock_dump != "hidden":
                    shown = numbers[user.lock] if self.lock_dump == "numbers" else user.lock
                    out.append(f"    CredentialType: {shown}\n")
                out.append("    SeparateChallenge: false\n    Metrics: known\n\n")
            return "".join(out), 0
        return f"Can't find service: {args[0] if args else ''}\n", 0

    # --- files of user 0's shared storage, as the shell user sees them --------------------------------
    def _relative(self, path: str) -> str | None:
        for prefix in ("/sdcard", "/storage/emulated/0", "/storage/self/primary"):
            if path == prefix or path.startswith(prefix + "/"):
                return path[len(prefix):].strip("/")
        return None

    def _ls(self, args: list[str]) -> tuple[str, int]:
        flags = "".join(arg[1:] for arg in args if arg.startswith("-"))
        paths = [arg for arg in args if not arg.startswith("-")] or ["/"]
        out, status = [], 0
        storage = self.users[0].storage
        for path in paths:
            relative = self._relative(path)
            if relative is None or (relative and relative not in storage):
                out.append(f"ls: {path}: No such file or directory\n")
                status = 1
                continue
            if relative and storage[relative] is not None:
                out.append(path + "\n")
                continue
            prefix = relative + "/" if relative else ""
            names = sorted({key[len(prefix):].split("/")[0] for key in storage
                            if key.startswith(prefix) and key != relative})
            if "a" not in flags and "A" not in flags:
                names = [name for name in names if not name.startswith(".")]
            if "a" in flags:
                names = [".", "..", *names]
            out.extend(name + "\n" for name in names)
        return "".join(out), status

    def _rm(self, args: list[str]) -> tuple[str, int]:
        flags = "".join(arg[1:] for arg in args if arg.startswith("-"))
        out, status = [], 0
        storage = self.users[0].storage
        for path in (arg for arg in args if not arg.startswith("-")):
            relative = self._relative(path)
            if relative is None or relative not in storage:
                if "f" not in flags:
                    out.append(f"rm: {path}: No such file or directory\n")
                    status = 1
                continue
            if storage[relative] is None and "r" not in flags:
                out.append(f"rm: {path}: Is a directory\n")
                status = 1
                continue
            for key in [k for k in storage if k == relative or k.startswith(relative + "/")]:
                del storage[key]
        return "".join(out), status

    def _mkdir(self, args: list[str]) -> tuple[str, int]:
        for path in (arg for arg in args if not arg.startswith("-")):
            relative = self._relative(path)
            if relative:
                self.users[0].storage.setdefault(relative, None)
        return "", 0


class _Stream:
    def __init__(self, local: int, remote: int):
        self.local = local
        self.remote = remote
        self.acked = threading.Event()
        self.closed = threading.Event()


class SimulatedTablet:
    """Listens on 127.0.0.1:<port> as `adbd` does after `adb tcpip`; `serial` is what `adb connect` shows."""

    def __init__(self, state: AndroidState | None = None, port: int = 0):
        self.state = state or AndroidState()
        self.port = port
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._next_id = 1
        self.drop_on: str | None = None
        self.connects = 0

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> SimulatedTablet:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(8)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name=f"adbd-{self.port}").start()
        return self

    def go_offline(self) -> None:
        """The tablet leaves the Wi-Fi: connections drop and nothing answers on its port."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        if listener is not None:
            listener.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def come_back(self) -> SimulatedTablet:
        return self.start()

    stop = go_offline

    # --- transport ---------------------------------------------------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as adbd does
            with self._lock:
                if self._listener is not listener:
                    connection.close()
                    return
                self._connections.append(connection)
                self.connects += 1
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    @staticmethod
    def _read_exact(connection: socket.socket, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = connection.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return bytes(data)

    def _serve(self, connection: socket.socket) -> None:
        send_lock = threading.Lock()
        streams: dict[int, _Stream] = {}
        max_data = MAX_PAYLOAD

        def send(command: int, arg0: int, arg1: int, payload: bytes = b"") -> None:
            header = HEADER.pack(command, arg0, arg1, len(payload), sum(payload) & 0xFFFFFFFF,
                                 command ^ 0xFFFFFFFF)
            with send_lock:
                connection.sendall(header + payload)

        try:
            while True:
                command, arg0, arg1, length, _check, magic = HEADER.unpack(self._read_exact(connection, HEADER.size))
                if magic != command ^ 0xFFFFFFFF:
                    raise ConnectionError("bad magic")
                payload = self._read_exact(connection, length) if length else b""
                if command == A_CNXN:
                    max_data = min(arg1, MAX_PAYLOAD)
                    model = self.state.props["ro.product.model"]
                    banner = f"device::ro.product.name=triporteur_sim;ro.product.model={model};ro.product.device=sim;"
                    send(A_CNXN, min(arg0, A_VERSION), MAX_PAYLOAD, banner.encode())
                elif command == A_OPEN:
                    service = payload.rstrip(b"\0").decode("utf-8", "replace")
                    if not service.startswith("shell:"):
                        send(A_CLSE, 0, arg0)
                        continue
                    with self._lock:
                        local = self._next_id
                        self._next_id += 1
                    stream = _Stream(local, arg0)
                    streams[local] = stream
                    send(A_OKAY, local, arg0)
                    threading.Thread(target=self._shell, args=(connection, service[6:], stream, send, max_data),
                                     daemon=True).start()
                elif command == A_OKAY and arg1 in streams:
                    streams[arg1].acked.set()
                elif command == A_WRTE and arg1 in streams:
                    send(A_OKAY, arg1, arg0)  # stdin is read and ignored, as for a non-interactive command
                elif command == A_CLSE and arg1 in streams:
                    streams.pop(arg1).closed.set()
        except (ConnectionError, OSError, struct.error):
            pass
        finally:
            for stream in streams.values():
                stream.closed.set()
                stream.acked.set()
            connection.close()

    def _shell(self, connection: socket.socket, command: str, stream: _Stream, send, max_data: int) -> None:
        if self.drop_on and self.drop_on in command:
            self.go_offline()
            return
        output, _ = self.state.execute(command) if command.strip() else ("", 0)
        data = output.encode()
        try:
            for start in range(0, len(data), max_data):
                stream.acked.clear()
                send(A_WRTE, stream.local, stream.remote, data[start:start + max_data])
                if not stream.acked.wait(30) or stream.closed.is_set():
                    return
            send(A_CLSE, stream.local, stream.remote)
        except OSError:
            return
