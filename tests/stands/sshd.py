"""A Linux loaner laptop for tests: a real OpenSSH server in its own mount and PID namespaces, chrooted.

Each simulated laptop is a directory tree on the host's disk (so it survives an sshd restart, like a
laptop's disk survives a reboot):

    <dir>/root/            the laptop's "/"
        usr                the host's /usr, bind-mounted read-only (bin, sbin, lib… are its symlinks)
        etc                the laptop's own passwd, group, shadow, sshd_config and host key
        home/<guest>       the guest's home; root/.ssh the admin's authorized keys
        tmp var/tmp dev/shm var/spool/cups etc/NetworkManager/system-connections …
        dev/null …         bind mounts of the host's harmless device nodes
        proc               the namespace's own /proc: only the laptop's processes are visible

`sshd -D -e` runs as PID 1 of the namespace, chrooted into `root`, listening on 127.0.0.1:<free port>.
No user is created on the host: the guest exists only in the laptop's own /etc/passwd, with a uid no
host account uses. A wipe run through this sshd can only ever see the laptop's tree, never the host's
/tmp or /home. Stopping the stand kills `unshare` by its PID; `--kill-child` then takes PID 1 of the
namespace down, and the kernel every process in it.

This file is also run *inside* the namespace (`python -I sshd.py _inside '{json}'`) to mount and exec
sshd; keep its imports to the standard library (paramiko and cryptography are imported lazily).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
USR_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
ETC_COPIED = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "hosts", "host.conf",
              "localtime", "shells", "login.defs", "ssl", "ssh/moduli", "pam.d", "pam.conf", "security", "environment")
SKELETON = "/var/lib/triporteur/guest-skeleton"
GUEST = "tkguest"
KIT_WIFI = "Point numerique staff"
GUEST_PASSWORD = "bienvenue au point numerique"  # noqa: S105 - the documented guest password of the stand
# The laptop's own tmpfs mounts (inside its mount namespace): a participant can write to each of them.
TMPFS_MOUNTS = (("/run", "mode=0755,size=16m"), ("/run/lock", "mode=1777,size=5m"), ("/dev/shm", "mode=1777,size=16m"),
                ("/srv", "mode=0755,size=16m"))
ROOT_PASSWORD = "correct horse battery staple"  # noqa: S105 - the simulated laptop's own root password


class StandError(RuntimeError):
    """The stand could not be built or started."""


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise StandError(f"{what}: not within {timeout:.1f} s")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unused_uid() -> int:
    for _ in range(1000):
        uid = 20000 + secrets.randbelow(40000)
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise StandError("no free uid")


def _ed25519_pair(comment: str) -> tuple[bytes, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, f"{public.decode()} {comment}"


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _password_hash(password: str) -> str:
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # Python 3.11 still has it; the kit targets 3.11
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
    except ImportError:
        done = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True,
                              text=True, timeout=10, check=True)
        return done.stdout.strip()


@dataclass
class LinuxTablet:
    """One simulated Linux laptop. Build it, start it, plant a participant's traces, read its disk."""

    directory: Path
    guest: str = GUEST
    max_startups: str = "10:30:100"
    home_size: str | None = None       # a tmpfs of this size on /home (a laptop whose disk fills up)
    hang_loginctl: bool = False        # a logind that never answers (a step that times out)
    uid: int = field(default_factory=unused_uid)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    inner_pid: int | None = None
    enrolled_account: tuple[str, str] = ("", "")

    @property
    def root(self) -> Path:
        return self.directory / "root"

    @property
    def gid(self) -> int:
        return self.uid

    @property
    def live_root(self) -> Path:
        """The laptop's "/" as its own processes see it, its tmpfs mounts included (through /proc/PID/root of
        sshd, PID 1 of its namespaces); the tree on disk while it is off."""
        if self.process is not None and self.process.poll() is None and self.inner_pid:
            live = Path(f"/proc/{self.inner_pid}/root")
            if live.exists():
                return live
        return self.root

    @property
    def home(self) -> Path:
        return self.path(f"/home/{self.guest}")

    @property
    def skeleton(self) -> Path:
        return self.path(SKELETON)

    @property
    def admin_key(self) -> Path:
        """The tech lead's own key, authorized for root: what enrollment uses before the kit's key is in."""
        return self.directory / "admin_ed25519"

    @property
    def host_key_public(self) -> str:
        return (self.root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[1]

    def path(self, inside: str) -> Path:
        return self.live_root / inside.lstrip("/")

    # --- building --------------------------------------------------------------------------------------
    def build(self) -> LinuxTablet:
        root = self.root
        for name in ("usr", "etc/ssh", "proc", "dev/shm", "dev/mqueue", "tmp", "var/tmp", "var/spool/cups/tmp",
                     "var/spool/cron/crontabs", "var/spool/cron/atjobs", "var/spool/cron/atspool", "var/mail",
                     "var/lib/systemd/linger", "run", "srv", "root/.ssh", "home",
                     "etc/NetworkManager/system-connections",
                     "media"):
            (root / name).mkdir(parents=True, exist_ok=True)
        for name in ("tmp", "var/tmp", "dev/shm"):
            (root / name).chmod(0o1777)
        (root / "root").chmod(0o700)
        (root / "var/spool/cups").chmod(0o710)
        lp = grp.getgrnam("lp").gr_gid if _has_group("lp") else 7
        os.chown(root / "var/spool/cups/tmp", 0, lp)
        (root / "var/spool/cups/tmp").chmod(0o1770)
        for name in ("atjobs", "atspool"):  # as Debian's `at` package makes them: atd and at run as daemon
            os.chown(root / "var/spool/cron" / name, 1, 1)
            (root / "var/spool/cron" / name).chmod(0o1770)
        (root / "etc/at.deny").write_text("")  # every user may queue jobs, as on Debian
        sequence = root / "var/spool/cron/atjobs/.SEQ"
        sequence.write_text("0\n")
        os.chown(sequence, 1, 1)
        sequence.chmod(0o600)
        for name in USR_LINKS:
            host = Path("/") / name
            if host.is_symlink():
                (root / name).symlink_to(os.readlink(host))
            elif host.is_dir():
                raise StandError(f"/{name} is a real directory on this host (not merged /usr): unsupported")
        for node in DEV_NODES:
            (root / "dev" / node).touch()
        for name in ETC_COPIED:
            source = Path("/etc") / name
            if source.is_dir() and not source.is_symlink():
                shutil.copytree(source, root / "etc" / name, symlinks=True)
            elif source.exists() or source.is_symlink():
                shutil.copy2(source, root / "etc" / name, follow_symlinks=False)
        self._accounts()
        self._ssh()
        self._skeleton()
        self.restore_home_from_skeleton()
        self.add_wifi(KIT_WIFI, "the-kits-own-staff-passphrase")
        self.enrolled_account = self.account_lines()
        return self

    def _accounts(self) -> None:
        sshd = pwd.getpwnam("sshd")
        etc = self.root / "etc"
        (etc / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/bash\n"
            "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
            "lp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin\n"
            f"sshd:x:{sshd.pw_uid}:{sshd.pw_gid}::/run/sshd:/usr/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
            f"{self.guest}:x:{self.uid}:{self.gid}:Invité:/home/{self.guest}:/bin/bash\n")
        # shadow's gid is the host's: unix_chkpwd (setgid shadow, from the host's /usr) reads /etc/shadow with it.
        shadow_gid = grp.getgrnam("shadow").gr_gid if _has_group("shadow") else 42
        (etc / "group").write_text(f"root:x:0:\ndaemon:x:1:\nlp:x:7:\nshadow:x:{shadow_gid}:\nnogroup:x:65534:\n"
                                   f"{self.guest}:x:{self.gid}:\n")
        shadow = etc / "shadow"
        shadow.write_text(f"root:{_password_hash(ROOT_PASSWORD)}:19000:0:99999:7:::\n"
                          "daemon:*:19000:0:99999:7:::\nlp:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\n"
                          f"nobody:*:19000:0:99999:7:::\n{self.guest}:{_password_hash(GUEST_PASSWORD)}:19000:0:99999:7:::\n")
        os.chown(shadow, 0, shadow_gid)
        shadow.chmod(0o640)

    def _ssh(self) -> None:
        etc = self.root / "etc/ssh"
        self.new_host_key()
        (etc / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1:{self.port}\n"
            "HostKey /etc/ssh/ssh_host_ed25519_key\n"
            "PidFile none\nUsePAM no\nPermitRootLogin yes\nPasswordAuthentication yes\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nAuthorizedKeysFile .ssh/authorized_keys\n"
            "StrictModes yes\nUseDNS no\nSubsystem sftp internal-sftp\n"
            f"MaxStartups {self.max_startups}\nLogLevel VERBOSE\n")
        private, public = _ed25519_pair("tech-lead@test")
        self.admin_key.write_bytes(private)
        self.admin_key.chmod(0o600)
        authorized = self.root / "root/.ssh/authorized_keys"
        authorized.write_text(public + "\n")
        authorized.chmod(0o600)
        (self.root / "root/.ssh").chmod(0o700)

    def new_host_key(self) -> str:
        """A fresh host key (a reinstalled laptop, or someone in the middle); returns its public part."""
        private, public = _ed25519_pair("tablet")
        key = self.root / "etc/ssh/ssh_host_ed25519_key"
        key.write_bytes(private)
        key.chmod(0o600)
        (self.root / "etc/ssh/ssh_host_ed25519_key.pub").write_text(public + "\n")
        return public.split()[1]

    def _skeleton(self) -> None:
        files = {
            ".bashrc": "# the guest's shell\nexport LANG=fr_FR.UTF-8\n",
            ".profile": "[ -f ~/.bashrc ] && . ~/.bashrc\n",
            ".config/xfce4/xfconf/xfce-perchannel-xml/xsettings.xml": "<channel name=\"xsettings\"/>\n",
            ".mozilla/firefox/profiles.ini": "[Profile0]\nName=default\nIsRelative=1\nPath=kit.default\n",
            ".mozilla/firefox/kit.default/prefs.js": 'user_pref("browser.startup.homepage", "http://10.42.0.1/");\n',
            "Bureau/Aide.txt": "Besoin d'aide ? Demandez à un médiateur.\n",
            "Bureau/script-accueil.sh": "#!/bin/sh\necho Bonjour\n",
        }
        for relative, text in files.items():
            path = self.skeleton / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (self.skeleton / "Bureau/script-accueil.sh").chmod(0o755)
        (self.skeleton / "Téléchargements").mkdir()
        (self.skeleton / ".mozilla/firefox/kit.default/lock").symlink_to("127.0.0.1:+1234")
        self.skeleton.chmod(0o750)

    def restore_home_from_skeleton(self) -> None:
        if self.home.exists():
            shutil.rmtree(self.home)
        shutil.copytree(self.skeleton, self.home, symlinks=True)
        self.chown_tree(self.home)

    def chown_tree(self, top: Path) -> None:
        os.chown(top, self.uid, self.gid, follow_symlinks=False)
        for path in top.rglob("*"):
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def add_wifi(self, name: str, passphrase: str, kind: str = "wifi") -> Path:
        path = self.path(f"/etc/NetworkManager/system-connections/{name}.nmconnection")
        path.write_text(f"[connection]\nid={name}\nuuid={secrets.token_hex(16)}\ntype={kind}\n\n"
                        f"[wifi]\nmode=infrastructure\nssid={name}\n\n"
                        f"[wifi-security]\nkey-mgmt=wpa-psk\npsk={passphrase}\n")
        path.chmod(0o600)
        return path

    # --- planting a participant's traces -------------------------------------------------------------
    def guest_file(self, inside: str, content: bytes | str = b"personal", owner_guest: bool = True) -> Path:
        path = self.path(inside)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        if owner_guest:
            os.chown(path, self.uid, self.gid)
        return path

    def plant_participant_session(self) -> dict[str, Path]:
        """What a participant leaves behind after an hour on the laptop; returns the planted paths."""
        home = f"/home/{self.guest}"
        planted = {
            "firefox cookies": self.guest_file(f"{home}/.mozilla/firefox/kit.default/cookies.sqlite",
                                               b"caf.fr=SESSION"),
            "firefox logins": self.guest_file(f"{home}/.mozilla/firefox/kit.default/logins.json",
                                              '{"hostname": "https://caf.fr", "password": "secret"}'),
            "chromium profile": self.guest_file(f"{home}/.config/chromium/Default/Login Data", b"SQLite format 3"),
            "download": self.guest_file(f"{home}/Téléchargements/attestation-CAF-2026.pdf", b"%PDF-1.7 ..."),
            "photo": self.guest_file(f"{home}/Images/carte-identité recto.jpg", os.urandom(2048)),
            "keyring": self.guest_file(f"{home}/.local/share/keyrings/login.keyring", b"GnomeKeyring\n"),
            "changed skeleton file": self.guest_file(f"{home}/.bashrc", "alias sudo='echo pwned'\n"),
            "tmp file": self.guest_file("/tmp/scan-passeport.png", os.urandom(512)),
            "tmp dir": self.guest_file("/tmp/.org.chromium.Chromium.XYZ/SingletonCookie", b"x"),
            "var tmp": self.guest_file("/var/tmp/brouillon-lettre.odt", b"PK"),
            "shm": self.guest_file("/dev/shm/pulse-shm-123", b"x"),
            "crontab": self.guest_file(f"/var/spool/cron/crontabs/{self.guest}", b"* * * * * curl evil\n"),
            "print job": self.guest_file("/var/spool/cups/d00042-001", b"%PDF CAF", owner_guest=False),
            "print control": self.guest_file("/var/spool/cups/c00042", b"job-name attestation", owner_guest=False),
            "wifi": self.add_wifi("Freebox-Dupont", "mot-de-passe-de-la-box"),
        }
        for directory in (f"{home}/.config/chromium", f"{home}/.local", f"{home}/Images",
                          "/tmp/.org.chromium.Chromium.XYZ"):
            self.chown_tree(self.path(directory))
        (self.home / "Bureau/Aide.txt").unlink()  # the participant deleted a skeleton file
        (self.home / "Bureau").chmod(0o777)       # and changed a mode
        os.symlink("/etc/shadow", self.home / "raccourci")
        os.chown(self.home / "raccourci", self.uid, self.gid, follow_symlinks=False)
        self.kit_owned_tmp = self.guest_file("/tmp/kit-owned-cache", b"not the guest's", owner_guest=False)
        return planted

    def plant_usb_stick(self) -> None:
        """The participant's USB stick, mounted for the guest under /media/<guest> (inside the laptop only)."""
        stick = f"/media/{self.guest}/CLE-USB"
        status, _, err = self.ssh(f"mkdir -p {stick} && mount -t tmpfs -o size=1m stick {stick} && "
                                  f"echo cv > {stick}/CV.odt && chown -R {self.uid}:{self.gid} {stick}")
        if status != 0:
            raise StandError(f"could not mount a USB stick: {err}")

    def leftovers(self) -> list[str]:
        """Every trace of a participant, looked at from outside the laptop's own tools: files of the guest on
        any of its filesystems (tmpfs included), home vs skeleton and the home's extended attributes, the
        account vs what it was built with, connections, print spool, IPC objects and at jobs."""
        found = []
        top = self.live_root
        for path in _walk(top, skip=(top / "usr", top / "proc", self.home)):
            if os.lstat(path).st_uid == self.uid:
                found.append(str(path.relative_to(top)))
        found += [f"home differs: {difference}" for difference in tree_differences(self.skeleton, self.home)]
        if self.home.exists() and os.listxattr(self.home, follow_symlinks=False):
            found.append("extended attributes on the home")
        if self.account_lines() != self.enrolled_account:
            found.append("the guest account differs from the one the laptop was built with")
        wifi = [p.name for folder in ("/etc", "/run") for p in
                sorted(self.path(f"{folder}/NetworkManager/system-connections").glob("*"))]  # /run: only while on
        if wifi != [f"{KIT_WIFI}.nmconnection"]:
            found.append(f"network connections: {wifi}")
        spool = sorted(str(p.relative_to(self.path("/var/spool/cups")))
                       for p in self.path("/var/spool/cups").rglob("*") if not p.is_dir())
        if spool:
            found.append(f"print spool: {spool}")
        if self.process is not None and self.process.poll() is None:
            ipc = self.ssh(f"awk -v u={self.uid} 'NR > 1 && ($8 == u || $10 == u)' /proc/sysvipc/shm /proc/sysvipc/msg;"
                           f" awk -v u={self.uid} 'NR > 1 && ($5 == u || $7 == u)' /proc/sysvipc/sem")[1]
            if ipc.strip():
                found.append("SysV IPC objects of the guest")
        jobs = [p.name for p in self.path("/var/spool/cron/atjobs").iterdir() if p.name != ".SEQ"]
        if jobs:
            found.append(f"at jobs: {len(jobs)}")
        return found

    def account_lines(self) -> tuple[str, str]:
        """The guest's lines in the laptop's /etc/passwd and /etc/shadow."""
        def line(name: str) -> str:
            entries = self.path(f"/etc/{name}").read_text().splitlines()
            return next((entry for entry in entries if entry.startswith(f"{self.guest}:")), "")
        return line("passwd"), line("shadow")

    def guest_processes(self) -> list[int]:
        """PIDs (host view) of live processes with the guest's uid as real, effective, saved or filesystem uid
        (a uid unique to this laptop)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    status = (entry / "status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                if fields.get("State", "").strip().startswith("Z"):
                    continue
                if str(self.uid) in fields.get("Uid", "").split():
                    pids.append(int(entry.name))
        return pids

    # --- running ---------------------------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> LinuxTablet:
        unshare = shutil.which("unshare")
        if unshare is None:
            raise StandError("unshare is not installed")
        config = {"root": str(self.root), "home_size": self.home_size, "hang_loginctl": self.hang_loginctl,
                  "guest": self.guest, "uid": self.uid}
        argv = [unshare, "--mount", "--pid", "--ipc", "--fork", "--kill-child=SIGKILL", "--propagation", "private",
                "--",
                sys.executable, "-I", str(HERE), "_inside", json.dumps(config)]
        log = (self.directory / "sshd.log").open("ab")
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        try:
            wait_until(self._answers, timeout, f"sshd of {self.directory.name} on port {self.port}")
            self.inner_pid = wait_until(self._child, timeout, "the namespace's PID 1")
        except StandError:
            self.stop()
            raise StandError(f"sshd did not start:\n{self.log()}") from None
        return self

    def _child(self) -> int | None:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            pids = children.read_text().split()
        except OSError:
            return None
        return int(pids[0]) if pids else None

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise StandError(f"sshd exited with {self.process.returncode}:\n{self.log()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.settimeout(2)
                return sock.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    def stop(self) -> None:
        """Power the laptop off: SIGKILL to unshare by its PID; the namespace's processes die with it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        self.inner_pid = None
        uid = self.uid
        wait_until(lambda: not self.guest_processes(), 10, f"processes of uid {uid} to end")

    def log(self) -> str:
        path = self.directory / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def ssh(self, command: str, timeout: float = 20.0) -> tuple[int, str, str]:
        """Run a command as root on the laptop, as the tech lead would (their own key, host key pinned)."""
        import paramiko

        client = paramiko.SSHClient()
        client.get_host_keys().add(f"[127.0.0.1]:{self.port}", "ssh-ed25519",
                                   paramiko.Ed25519Key(data=_decode(self.host_key_public)))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect("127.0.0.1", self.port, "root", key_filename=str(self.admin_key), timeout=10,
                       allow_agent=False, look_for_keys=False)
        try:
            _, stdout, stderr = client.exec_command(command, timeout=timeout)
            status = stdout.channel.recv_exit_status()
            return status, stdout.read().decode(errors="replace"), stderr.read().decode(errors="replace")
        finally:
            client.close()

    def start_guest_process(self) -> None:
        """A process of the participant still running (a keyring daemon rewriting its file in /dev/shm)."""
        script = "while :; do echo secret > /dev/shm/keyring-daemon; sleep 0.1; done"
        status, _, err = self.ssh(
            f"setsid -f setpriv --reuid={self.uid} --regid={self.gid} --clear-groups -- sh -c '{script}' "
            "</dev/null >/dev/null 2>&1")
        if status != 0:
            raise StandError(f"could not start a guest process: {err}")
        wait_until(self.guest_processes, 10, "the guest's process to start")

    def as_guest(self, command: str, stdin: str = "") -> tuple[int, str, str]:
        """Run a command as the participant would, logged in as the guest (real and effective uid)."""
        environment = f"env HOME=/home/{self.guest} USER={self.guest} LOGNAME={self.guest}"
        return self.ssh(f"printf %s {shlex.quote(stdin)} | setpriv --reuid={self.uid} --regid={self.gid} "
                        f"--clear-groups -- {environment} sh -c {shlex.quote(command)}")

    def plant_hostile_participant(self) -> dict[str, str]:
        """What a participant who knows Linux leaves on purpose, each through the guest's own rights (root only
        for what a desktop does on the guest's behalf); returns what was planted, by name."""
        planted = {}

        def plant(what: str, status_out_err: tuple[int, str, str], ok: bool = True) -> None:
            status, _, err = status_out_err
            if ok and status != 0:
                raise StandError(f"could not plant {what}: {err}")
            planted[what] = what

        new_password = "mon-mot-de-passe-a-moi-2026"  # noqa: S105 - the participant's own, in the test
        plant("guest password", self.as_guest("passwd", f"{GUEST_PASSWORD}\n{new_password}\n{new_password}\n"))
        plant("GECOS", self.as_guest("chfn -r 'Jean Dupont' -h 0612345678", f"{new_password}\n"), ok=False)
        if self.account_lines()[0].split(":")[4] == "Invité":
            raise StandError("chfn did not change the GECOS")
        plant("/run/lock file", self.as_guest("echo secret > /run/lock/.dupont"))
        plant("/srv file", self.as_guest("echo secret > /srv/partage/releve-CAF.txt"))
        plant("home xattr", self.as_guest(f"setfattr -n user.secret -v code-1234 /home/{self.guest}"))
        plant("home ACL", self.as_guest(f"setfacl -m u:nobody:rwx /home/{self.guest}"))
        ipc = ("import ctypes, os\n"
               "libc = ctypes.CDLL('libc.so.6', use_errno=True)\n"
               "libc.shmat.restype = ctypes.c_void_p\n"
               "shmid = libc.shmget(0x7a11, 4096, 0o1000 | 0o600)\n"
               "assert shmid >= 0, ctypes.get_errno()\n"
               "ctypes.memmove(libc.shmat(shmid, None, 0), b'IBAN FR76', 9)\n"
               "libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]\n"
               "fd = libc.mq_open(b'/dupont', os.O_CREAT | os.O_WRONLY, 0o600, None)\n"
               "assert fd >= 0, ctypes.get_errno()\n"
               "assert libc.mq_send(fd, b'code 1234', 9, 0) == 0\n")
        plant("shm and mqueue", self.as_guest(f"python3 -c {shlex.quote(ipc)}"))
        plant("at job", self.as_guest("echo 'cat ~/.bashrc' | at now + 1 hour"))
        plant("crontab", self.as_guest("mkdir -p ~/.config/systemd/user && echo '[Service]' > "
                                       "~/.config/systemd/user/evil.service"))
        plant("lingering", self.ssh(f"touch /var/lib/systemd/linger/{self.guest}"))
        plant("cups tmp file", self.ssh("echo '%PDF CAF' > /var/spool/cups/tmp/.cups-job-42 && "
                                        f"chown {self.uid} /var/spool/cups/tmp/.cups-job-42"))
        # NetworkManager (polkit lets a desktop user add system connections): same name as the kit's, other SSID;
        # a WireGuard VPN with its private key; an 802.1X wired login with its password.
        self._keyfile(f"{KIT_WIFI}-1", "wifi", "[wifi]\nssid=Freebox-Dupont\n\n[wifi-security]\nkey-mgmt=wpa-psk\n"
                      "psk=mot-de-passe-de-la-box\n", connection_id=KIT_WIFI)
        planted["same-name Wi-Fi"] = "same-name Wi-Fi"
        self._keyfile("vpn-perso", "wireguard",
                      "[wireguard]\nprivate-key=yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n")
        planted["WireGuard VPN"] = "WireGuard VPN"
        self._keyfile("filaire-travail", "802-3-ethernet", "[802-1x]\neap=peap;\nidentity=jdupont\npassword=secret\n",
                      runtime=True)
        planted["802.1X wired"] = "802.1X wired"
        self.start_passwd_like_process()
        planted["passwd-like process"] = "passwd-like process"
        return planted

    def _keyfile(self, name: str, kind: str, body: str, runtime: bool = False, connection_id: str = "") -> Path:
        folder = "/run/NetworkManager/system-connections" if runtime else "/etc/NetworkManager/system-connections"
        path = self.path(f"{folder}/{name}.nmconnection")
        path.write_text(f"[connection]\nid={connection_id or name}\nuuid={secrets.token_hex(16)}\n"
                        f"type={kind}\n\n{body}")
        path.chmod(0o600)
        return path

    def start_passwd_like_process(self) -> None:
        """A process left from the guest's session with real uid guest and effective uid root (`passwd`)."""
        status, _, err = self.ssh(f"setsid -f setpriv --ruid={self.uid} --euid=0 -- sleep 600 "
                                  "</dev/null >/dev/null 2>&1")
        if status != 0:
            raise StandError(f"could not start a passwd-like process: {err}")
        wait_until(self.guest_processes, 10, "the passwd-like process to start")

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _walk(top: Path, skip: tuple[Path, ...]) -> list[Path]:
    """Every path under top, not following links, leaving out the skipped trees."""
    found = []
    for folder, directories, files in os.walk(top):
        here = Path(folder)
        directories[:] = [d for d in directories if here / d not in skip]
        found += [here / name for name in (*directories, *files)]
    return found


def _decode(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def tree_differences(expected: Path, actual: Path) -> list[str]:
    """Names, types, modes, contents and link targets that differ between two trees."""
    def walk(top: Path) -> dict[str, tuple[Any, ...]]:
        entries = {}
        for path in top.rglob("*"):
            info = os.lstat(path)
            relative = str(path.relative_to(top))
            if path.is_symlink():
                entries[relative] = ("l", os.readlink(path))
            elif path.is_dir():
                entries[relative] = ("d", oct(info.st_mode & 0o7777))
            else:
                entries[relative] = ("f", oct(info.st_mode & 0o7777), path.read_bytes())
        return entries

    left, right = walk(expected), walk(actual)
    return sorted(name for name in left.keys() | right.keys() if left.get(name) != right.get(name))


# --- inside the namespace ------------------------------------------------------------------------------
def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, timeout=20)


def _inside(config: dict[str, Any]) -> None:
    """PID 1 of the laptop's namespace: mount its world, chroot, become sshd."""
    root = config["root"]
    _mount("--bind", "/usr", f"{root}/usr")
    _mount("-o", "remount,bind,ro", f"{root}/usr")
    for node in DEV_NODES:
        _mount("--bind", f"/dev/{node}", f"{root}/dev/{node}")
    _mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", f"{root}/proc")
    for target, options in TMPFS_MOUNTS:  # emptied at each start, like a laptop's at each boot
        os.makedirs(f"{root}{target}", exist_ok=True)
        _mount("-t", "tmpfs", "-o", f"nosuid,nodev,{options}", "tmpfs", f"{root}{target}")
        if target == "/run":
            for directory in ("sshd", "lock", "NetworkManager/system-connections"):
                os.makedirs(f"{root}/run/{directory}", mode=0o755, exist_ok=True)
    os.makedirs(f"{root}/srv/partage", exist_ok=True)
    os.chmod(f"{root}/srv/partage", 0o1777)  # noqa: S103 - a shared folder, as a laptop may have one
    _mount("-t", "mqueue", "-o", "nosuid,nodev,noexec", "mqueue", f"{root}/dev/mqueue")  # this IPC namespace's
    if config["home_size"]:
        seed = f"{root}/../home.seed"  # outside the laptop's tree
        if not os.path.isdir(seed):
            os.rename(f"{root}/home", seed)
            os.mkdir(f"{root}/home")
        _mount("-t", "tmpfs", "-o", f"size={config['home_size']},mode=0755", "tmpfs", f"{root}/home")
        subprocess.run(["cp", "-a", f"{seed}/.", f"{root}/home/"], check=True, timeout=60)
    if config["hang_loginctl"]:
        fake = f"{root}/../loginctl-that-hangs"
        with open(fake, "w") as handle:
            handle.write("#!/bin/sh\nexec sleep 600\n")
        os.chmod(fake, 0o755)  # noqa: S103 - an executable stand-in for loginctl
        _mount("--bind", fake, f"{root}/usr/bin/loginctl")
        os.makedirs(f"{root}/run/systemd/system", exist_ok=True)
    os.chroot(root)
    os.chdir("/")
    sshd = ["/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/sshd_config"]
    os.execv(sshd[0], sshd)  # noqa: S606 - become sshd, PID 1 of the namespace


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_inside":
        _inside(json.loads(sys.argv[2]))
    else:
        sys.exit("usage: sshd.py _inside CONFIG_JSON (run by LinuxTablet.start)")
