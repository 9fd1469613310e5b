#!/usr/bin/env python3
"""Run a command (usually ``ansible-playbook``) against Debian root filesystems through Ansible's chroot
connection, without touching the machine that runs it.

    sudo python3 playbooks/image/chroot_run.py --root /build/rootfs [--root …] [--apt-cache DIR] \\
        -- ansible-playbook -i INVENTORY playbooks/site.yml

For each root, inside a private mount namespace (``unshare --mount --propagation private``), so nothing
can leak onto the host's mount table even if this script is killed:

- ``/proc``, ``/sys`` (read-only), ``/dev`` and ``/dev/pts`` for package scripts, a fresh ``/run`` and
  ``/tmp`` (tmpfs: nothing left behind in an image), the host's ``/etc/resolv.conf`` so apt resolves names,
  and optionally an apt archive cache (so a second build downloads nothing);
- ``/usr/sbin/policy-rc.d`` exiting 101, so package scripts never start a daemon: in a chroot systemd is
  not running, and Debian's scripts would otherwise start services in the *host's* network. It is removed
  afterwards (unless it was there before).

With ``--inside``, the command runs *in* the root instead (one root, optionally as one of its users, with
``/proc`` and a ``/sys`` of the current network namespace), the way a systemd unit of the kit would start
it: that is how the tests start a provisioned root's own services inside network namespaces.

    python3 chroot_run.py --inside --root ROOT --user kiosk --cwd /var/lib/triporteur -- \
        /opt/triporteur/venv/bin/kiosk --config /etc/triporteur/kit.toml serve

Standard library only: pi-gen's build host runs it with its own ``python3``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

MARKER = "TRIPORTEUR_CHROOT_RUN_NAMESPACE"
POLICY_RC_D = "#!/bin/sh\n# Written by chroot_run.py: no service starts inside a chroot.\nexit 101\n"
POLICY_PATH = "usr/sbin/policy-rc.d"


class ChrootError(Exception):
    """Something about the roots or this machine that prevents the run, explained in one line."""


def _mount(argv: Sequence[str]) -> None:
    done = subprocess.run(["mount", *argv], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise ChrootError(f"mount {' '.join(argv)}: {done.stderr.strip()}")


def _umount(target: Path) -> None:
    subprocess.run(["umount", "--lazy", str(target)], capture_output=True, timeout=30, check=False)


def check_root(root: Path) -> Path:
    root = root.resolve()
    if root == Path("/"):
        raise ChrootError("refusing to use / as a chroot")
    for needed in ("usr/bin/python3", "etc/os-release", "proc", "dev", "sys"):
        if not (root / needed).exists():
            raise ChrootError(f"{root} does not look like a Debian root filesystem (no {needed})")
    return root


@contextlib.contextmanager
def prepared(root: Path, apt_cache: Path | None) -> Iterator[None]:
    """Mount what package scripts need and block service starts; undo it all on the way out."""
    mounted: list[Path] = []

    def mount(argv: Sequence[str], target: Path) -> None:
        _mount([*argv, str(target)])
        mounted.append(target)

    created_policy = False
    try:
        mount(["-t", "proc", "proc"], root / "proc")
        mount(["-t", "sysfs", "-o", "ro", "sysfs"], root / "sys")
        mount(["--bind", "/dev"], root / "dev")
        if (root / "dev/pts").is_dir():
            mount(["--bind", "/dev/pts"], root / "dev/pts")
        for tmp, mode in (("run", "755"), ("tmp", "1777")):
            (root / tmp).mkdir(exist_ok=True)
            mount(["-t", "tmpfs", "-o", f"mode={mode},nosuid,nodev", "tmpfs"], root / tmp)
        resolv = root / "etc/resolv.conf"
        if resolv.is_file() and not resolv.is_symlink():
            mount(["--bind", str(Path("/etc/resolv.conf").resolve())], resolv)
            # Read-only: a package script in the chroot must never rewrite the host's resolver.
            _mount(["-o", "remount,bind,ro", str(resolv)])
        if apt_cache is not None:
            (apt_cache / "partial").mkdir(parents=True, exist_ok=True)
            mount(["--bind", str(apt_cache)], root / "var/cache/apt/archives")
        policy = root / POLICY_PATH
        if not policy.exists():
            policy.write_text(POLICY_RC_D)
            policy.chmod(0o755)
            created_policy = True
        yield
    finally:
        if created_policy:
            (root / POLICY_PATH).unlink(missing_ok=True)
        for target in reversed(mounted):
            _umount(target)


def run_in_namespace(roots: list[Path], apt_cache: Path | None, command: list[str]) -> int:
    with contextlib.ExitStack() as stack:
        for root in roots:
            stack.enter_context(prepared(root, apt_cache))
        child = subprocess.Popen(command)  # the caller's argv list, no shell
        previous = signal.signal(signal.SIGTERM, lambda *_: child.terminate())
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.terminate()
            return child.wait(timeout=60)
        finally:
            signal.signal(signal.SIGTERM, previous)


UNIT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # systemd's search path


def account(root: Path, user: str) -> tuple[str, int, int, str, list[int]]:
    """A user of the root from its /etc/passwd and /etc/group: name, uid, gid, home, all its groups."""
    for line in (root / "etc/passwd").read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[0] == user:
            uid, gid = int(fields[2]), int(fields[3])
            groups = {gid}
            for group in (root / "etc/group").read_text(encoding="utf-8").splitlines():
                parts = group.split(":")
                if len(parts) >= 4 and user in parts[3].split(","):
                    groups.add(int(parts[2]))
            return user, uid, gid, fields[5], sorted(groups)
    raise ChrootError(f"no user {user} in {root}/etc/passwd")


def exec_inside(root: Path, user: str | None, cwd: str, environment: Sequence[str], command: list[str]) -> None:
    """Replace this process by the command inside the root (this mount namespace is private already)."""
    _mount(["-t", "proc", "proc", str(root / "proc")])
    _mount(["-t", "sysfs", "-o", "ro", "sysfs", str(root / "sys")])  # the current network namespace's
    _mount(["--bind", "/dev", str(root / "dev")])
    if (root / "dev/console").exists():
        _mount(["--bind", "/dev/null", str(root / "dev/console")])  # nothing of the root reaches our console
    name, uid, gid, home, groups = account(root, user or "root")  # the root's own users, not the host's
    os.chroot(root)
    env = {"PATH": UNIT_PATH, "LANG": "C.UTF-8", "HOME": home, "USER": name, "LOGNAME": name}
    env.update(item.split("=", 1) for item in environment)
    if uid != 0:
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
    os.chdir(cwd)
    os.execvpe(command[0], command, env)  # noqa: S606 - the caller's argv list, no shell


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", action="append", required=True, type=Path,
                        help="a Debian root filesystem (repeatable)")
    parser.add_argument("--apt-cache", type=Path, help="folder kept between runs for downloaded packages")
    parser.add_argument("--inside", action="store_true", help="run the command inside the (one) root")
    parser.add_argument("--user", help="with --inside: the root's user to run as (default root)")
    parser.add_argument("--cwd", default="/", help="with --inside: the working folder in the root")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="with --inside: an environment variable (repeatable)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("give the command to run after --")
    if args.inside and len(args.root) != 1:
        parser.error("--inside takes exactly one --root")
    if any("=" not in item for item in args.env):
        parser.error("--env takes NAME=VALUE")
    return args


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    try:
        if os.geteuid() != 0:
            raise ChrootError("run as root: chroot and mount need it")
        roots = [check_root(root) for root in args.root]
        apt_cache = args.apt_cache.resolve() if args.apt_cache else None
        if os.environ.get(MARKER) != str(os.getpid()):
            unshare = shutil.which("unshare")
            if unshare is None:
                raise ChrootError("unshare (util-linux) is not installed")
            # unshare execs Python in the new namespace without forking: the PID stays the same, which is
            # how the re-executed script knows it is already inside.
            os.environ[MARKER] = str(os.getpid())
            os.execv(unshare, [unshare, "--mount", "--propagation", "private", "--", sys.executable,  # noqa: S606
                               os.path.abspath(__file__), *argv])
        if args.inside:
            exec_inside(roots[0], args.user, args.cwd, args.env, args.command)
        return run_in_namespace(roots, apt_cache, args.command)
    except ChrootError as problem:
        print(f"chroot_run: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
