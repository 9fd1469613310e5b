"""A kit as a real virtual machine: a provisioned Debian root booted by QEMU under its own systemd.

The chroot tests (tests/integration/test_playbooks.py) prove what site.yml writes; this stand proves that
it boots: the kernel starts systemd as PID 1, the first-boot unit makes the kit's secrets, the units start
in order under their hardening, and Ansible reaches the kit over SSH as a tech lead's laptop would.

    root ──(boot packages, plumbing)──► disk.raw (mkfs.ext4 -d: no loop mount) ──► qemu -kernel/-initrd
                                                                                    │
    network namespace NAME (made here, deleted at the end)                          │
      lo 127.0.0.1:PORT ── hostfwd ──► admin NIC (user-mode net, restrict=on) ── :22 sshd
                                        lan0 NIC ── hub with no other port (the participants' side)
                                        wan0 NIC ── hub with no other port (the uplink)

- `BOOT_PACKAGES`: what Raspberry Pi OS Lite has and a debootstrap minbase lacks to boot (a kernel with its
  initramfs, systemd as /sbin/init, udev, D-Bus); the playbook tests install them with the kit's own
  `kit_base_extra_packages`, so apt's downloads land in the shared cache and reruns need none.
- `prepare_root()`: the test plumbing written into the root before the image is made: /etc/fstab, the
  admin NIC's static address (systemd-networkd), the names lan0/wan0 for the two other NICs (udev .link
  files, by MAC), and a unit that shows the SSH host keys on the serial console once the first boot made
  them — the stand-in for reading the fingerprint off a Pi's screen, so the test pins the key out of band.
- `build_image()`: an ext4 disk image filled from the root with `mkfs.ext4 -d`.
- `VirtualMachine`: boots it in a fresh network namespace (SSH forwarded to that namespace's loopback,
  never the host's), waits for the host keys and SSH with deadlines, runs commands over SSH with the
  pinned key, and shuts down (poweroff, then the qemu PID it started). Always cleans up: processes by PID,
  the namespace and its resolver folder, the image.

QEMU uses KVM when /dev/kvm is usable and runs the kernel (else TCG, several times slower);
under CI=true a missing qemu fails the test.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BOOT_PACKAGES = ["linux-image-cloud-amd64", "systemd-sysv", "udev", "dbus"]
ADMIN_MAC = "52:54:00:7c:00:0a"
LAN_MAC = "52:54:00:7c:00:0b"
WAN_MAC = "52:54:00:7c:00:0c"
GUEST_IP = "10.0.2.15"  # QEMU user-mode networking's guest address (the host side is 10.0.2.2)
HOST_KEYS_BEGIN = "-----BEGIN TRIPORTEUR TEST HOST KEYS-----"
HOST_KEYS_END = "-----END TRIPORTEUR TEST HOST KEYS-----"
NETNS_ETC = Path("/etc/netns")
HOST_KEYS_UNIT = "triporteur-test-hostkeys.service"
KVM_PROBE_S = 30.0  # under KVM the kernel's first console line comes within a second or two


class VmError(RuntimeError):
    """The stand could not build, boot or reach the machine; the message says which step and why."""


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5, alive=None):
    """Poll until predicate() is true, the deadline passes, or `alive()` says the machine is gone."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        value = predicate()
        if value:
            return value
        if alive is not None and not alive():
            raise VmError(f"{what}: the virtual machine stopped")
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise VmError(f"{what}: not within {timeout:.0f} s")


# --- the root and its disk image ---------------------------------------------------------------------------


def _write(root: Path, relative: str, text: str, mode: int = 0o644) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _enable(root: Path, unit: str, target: str, source: str) -> None:
    wants = root / "etc/systemd/system" / f"{target}.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / unit
    if not link.is_symlink():
        link.symlink_to(source)


def prepare_root(root: Path) -> tuple[Path, Path]:
    """Write the VM's plumbing into a provisioned root; return its kernel and initramfs."""
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    initrds = sorted((root / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise VmError(f"no kernel or initramfs in {root}/boot (the boot packages: {' '.join(BOOT_PACKAGES)})")
    if not (root / "sbin/init").exists():
        raise VmError("no /sbin/init in the root: systemd-sysv is not installed")
    _write(root, "etc/fstab", "/dev/vda / ext4 rw,errors=remount-ro 0 1\n")
    for name, mac in (("lan0", LAN_MAC), ("wan0", WAN_MAC)):
        _write(root, f"etc/systemd/network/10-triporteur-test-{name}.link",
               f"# Test stand (tests/stands/vm.py): the kit's {name} is a virtio NIC in the VM.\n"
               f"[Match]\nMACAddress={mac}\n\n[Link]\nName={name}\n")
    _write(root, "etc/systemd/network/10-triporteur-test-admin.network",
           "# Test stand (tests/stands/vm.py): the tech lead's way in, QEMU's user-mode network.\n"
           f"[Match]\nMACAddress={ADMIN_MAC}\n\n[Network]\nAddress={GUEST_IP}/24\nLinkLocalAddressing=no\n"
           "IPv6AcceptRA=no\n")
    _enable(root, "systemd-networkd.service", "multi-user.target", "/lib/systemd/system/systemd-networkd.service")
    _enable(root, "systemd-networkd.socket", "sockets.target", "/lib/systemd/system/systemd-networkd.socket")
    _write(root, f"etc/systemd/system/{HOST_KEYS_UNIT}",
           "# Test stand (tests/stands/vm.py): the host keys on the console, as read off a Pi's screen.\n"
           "[Unit]\nDescription=Show the SSH host keys on the serial console (test stand)\n"
           "After=triporteur-firstboot.service\nBefore=ssh.service\n\n"
           "[Service]\nType=oneshot\n"
           f"ExecStart=/bin/sh -c 'echo {HOST_KEYS_BEGIN}; cat /etc/ssh/ssh_host_*_key.pub; echo {HOST_KEYS_END}'\n"
           "StandardOutput=tty\nTTYPath=/dev/ttyS0\n\n[Install]\nWantedBy=multi-user.target\n")
    _enable(root, HOST_KEYS_UNIT, "multi-user.target", f"/etc/systemd/system/{HOST_KEYS_UNIT}")
    return kernels[-1], initrds[-1]


def build_image(root: Path, image: Path, spare_mb: int = 768) -> float:
    """An ext4 image of the root, without a loop mount (mkfs.ext4 -d); returns the seconds it took."""
    started = time.monotonic()
    used = subprocess.run(["du", "-sxm", str(root)], capture_output=True, text=True, timeout=300, check=True)
    size_mb = int(used.stdout.split()[0]) * 12 // 10 + spare_mb
    image.unlink(missing_ok=True)
    done = subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "triporteur", "-E", "root_owner=0:0", "-d", str(root),
                           str(image), f"{size_mb}M"], capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise VmError(f"mkfs.ext4 -d failed ({done.returncode}): {done.stderr.strip()}")
    return time.monotonic() - started


def kvm_refusal() -> str:
    """Why KVM cannot run this VM here ("" when it can be tried)."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "no usable /dev/kvm"
    if Path("/sys/module/kvm_pvm").exists():
        return "this host's KVM is PVM (kvm_pvm), which runs only guest kernels built for it"
    return ""


def host_keys_from_console(text: str) -> list[str]:
    """The public host keys the image printed between the markers (the last complete block)."""
    end = text.rfind(HOST_KEYS_END)
    begin = text.rfind(HOST_KEYS_BEGIN, 0, end) if end >= 0 else -1
    if begin < 0:
        return []
    keys = []
    for line in text[begin + len(HOST_KEYS_BEGIN):end].splitlines():
        match = re.search(r"((?:ssh|ecdsa)-[a-z0-9-]+) (AAAA[A-Za-z0-9+/=]+)", line)
        if match:
            keys.append(f"{match[1]} {match[2]}")
    return keys


# --- the running machine -----------------------------------------------------------------------------------


@dataclass
class VirtualMachine:
    """One booted kit. Use as a context manager: everything it made is removed on the way out."""

    workdir: Path
    kernel: Path
    initrd: Path
    image: Path
    user: str
    key: Path  # the private key authorised for `user` in the image
    memory_mb: int = 1536
    cpus: int = 2
    port: int = 2222  # on the namespace's own loopback: no clash with the host possible
    namespace: str = field(default_factory=lambda: f"tk-vm-{os.getpid()}-{secrets.token_hex(3)}")
    accelerator: str = ""
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    host_keys: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _log: object = None

    @property
    def console_log(self) -> Path:
        return self.workdir / "console.log"

    @property
    def known_hosts(self) -> Path:
        return self.workdir / "known_hosts"

    @property
    def control_dir(self) -> Path:
        return self.workdir / "cp"

    # -- life cycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> VirtualMachine:
        try:
            self._make_namespace()
            self._start_qemu()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make_namespace(self) -> None:
        resolv = NETNS_ETC / self.namespace / "resolv.conf"
        resolv.parent.mkdir(parents=True, exist_ok=True)
        resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        subprocess.run(["ip", "netns", "add", self.namespace], check=True, timeout=15, capture_output=True)
        subprocess.run(["ip", "-n", self.namespace, "link", "set", "lo", "up"], check=True, timeout=15,
                       capture_output=True)

    def in_namespace(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv]

    def qemu_argv(self, accelerator: str) -> list[str]:
        speed = ["-enable-kvm", "-cpu", "host,-arch-capabilities"] if accelerator == "kvm" else ["-accel", "tcg"]
        nics = []
        for name, mac, backend in (
                ("admin", ADMIN_MAC, f"user,id=admin,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-{GUEST_IP}:22"),
                ("lan", LAN_MAC, "hubport,id=lan,hubid=1"), ("wan", WAN_MAC, "hubport,id=wan,hubid=2")):
            nics += ["-netdev", backend, "-device", f"virtio-net-pci,netdev={name},mac={mac},romfile="]
        return ["qemu-system-x86_64", "-name", "triporteur-test-kit", *speed, "-machine", "pc",
                "-smp", str(self.cpus), "-m", str(self.memory_mb), "-nographic", "-monitor", "none",
                "-serial", f"file:{self.console_log}", "-no-reboot", "-kernel", str(self.kernel),
                "-initrd", str(self.initrd),
                "-append", "root=/dev/vda rootfstype=ext4 rw console=ttyS0 panic=-1 systemd.show_status=1",
                "-drive", f"file={self.image},format=raw,if=virtio,cache=unsafe", *nics]

    def _start_qemu(self) -> None:
        refusal = kvm_refusal()
        if refusal:
            self.notes.append(f"TCG: {refusal}")
        for accelerator in ["tcg"] if refusal else ["kvm", "tcg"]:
            self.console_log.unlink(missing_ok=True)
            self._log = (self.workdir / "qemu.log").open("ab")
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(self.in_namespace(self.qemu_argv(accelerator)), stdin=subprocess.DEVNULL,
                                            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
            self.accelerator = accelerator
            if accelerator == "tcg" or self._kernel_started(KVM_PROBE_S):
                return
            # KVM refused this CPU (qemu exited), or took the VM and never ran the kernel (a host whose KVM
            # runs special guest kernels only): stop that qemu by its PID and emulate instead.
            self.notes.append(f"KVM did not start the kernel within {KVM_PROBE_S:.0f} s: TCG instead")
            self._stop_qemu()
        raise VmError(f"qemu exited at once ({self.process.returncode}): {self.qemu_output()[-2000:]}")

    def _kernel_started(self, timeout: float) -> bool:
        with contextlib.suppress(VmError):
            wait_until(lambda: "Linux version" in self.console(), timeout, "the kernel's first line", alive=self.alive)
            return True
        return False

    def _stop_qemu(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        if self._log is not None:
            self._log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def qemu_output(self) -> str:
        path = self.workdir / "qemu.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def console(self) -> str:
        return self.console_log.read_text(errors="replace") if self.console_log.exists() else ""

    def wait_for_host_keys(self, timeout: float = 300) -> list[str]:
        """The host keys the first boot made, read from the console, pinned in known_hosts."""
        self.host_keys = wait_until(lambda: host_keys_from_console(self.console()), timeout,
                                    "the SSH host keys on the console", alive=self.alive)
        self.known_hosts.write_text("".join(f"[127.0.0.1]:{self.port} {key}\n" for key in self.host_keys))
        return self.host_keys

    def ssh_options(self) -> list[str]:
        self.control_dir.mkdir(exist_ok=True)
        return ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                # One connection for all commands: a key exchange is slow in an emulated VM. The master
                # lives in the namespace and is stopped with the stand.
                "-o", "ControlMaster=auto", "-o", f"ControlPath={self.control_dir}/vm-%C", "-o", "ControlPersist=300",
                "-i", str(self.key), "-p", str(self.port)]

    def ssh(self, command: str | Sequence[str], timeout: float = 120, sudo: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command in the VM over SSH (as the admin user, through sudo unless told otherwise)."""
        text = command if isinstance(command, str) else shlex.join(command)
        if sudo:
            text = f"sudo -n sh -c {shlex.quote(text)}"
        argv = self.in_namespace(["ssh", *self.ssh_options(), f"{self.user}@127.0.0.1", text])
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin, check=False)
        except subprocess.TimeoutExpired as exc:
            raise VmError(f"ssh {text!r}: no answer within {timeout} s") from exc

    def wait_for_ssh(self, timeout: float = 180) -> float:
        """Wait until the admin user can log in; returns the seconds since qemu started."""
        wait_until(lambda: self.ssh("true", timeout=20, sudo=False).returncode == 0, timeout,
                   "SSH login with the pinned host key", interval=1, alive=self.alive)
        return time.monotonic() - self.started_at

    def shutdown(self, timeout: float = 90) -> bool:
        """Power off from inside, then wait for qemu to exit; True when the guest stopped by itself."""
        if not self.alive():
            return False
        with contextlib.suppress(VmError, subprocess.TimeoutExpired):
            self.ssh("systemctl --no-block poweroff", timeout=20)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        return not self.alive()

    def close(self) -> None:
        """Stop what this stand started (by PID), delete its namespace and resolver folder, its image."""
        self._stop_qemu()
        self._stop_strays()
        if Path("/run/netns", self.namespace).exists():
            subprocess.run(["ip", "netns", "del", self.namespace], timeout=15, check=False, capture_output=True)
        shutil.rmtree(NETNS_ETC / self.namespace, ignore_errors=True)
        self.image.unlink(missing_ok=True)

    def _stop_strays(self) -> None:
        """Processes left in this stand's namespace (ssh's connection masters from Ansible runs) were
        started by the test: stop them by PID so the namespace really goes away."""
        if not Path("/run/netns", self.namespace).exists():
            return
        done = subprocess.run(["ip", "netns", "pids", self.namespace], capture_output=True, text=True, timeout=15,
                              check=False)
        pids = [int(pid) for pid in done.stdout.split() if pid.isdigit() and int(pid) != os.getpid()]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            with contextlib.suppress(VmError):
                wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids), 5, "strays to exit",
                           interval=0.1)


@contextlib.contextmanager
def booted(workdir: Path, root: Path, user: str, key: Path, **options) -> Iterator[VirtualMachine]:
    """prepare_root + build_image + VirtualMachine, for a caller that wants it in one step."""
    kernel, initrd = prepare_root(root)
    image = workdir / "disk.raw"
    build_image(root, image)
    with VirtualMachine(workdir, kernel, initrd, image, user, key, **options) as machine:
        yield machine
