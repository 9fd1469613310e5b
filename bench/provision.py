"""Benchmark: provisioning a fresh Debian root with playbooks/site.yml, then a run that changes nothing.

Usage, from the repository root, as root::

    .venv/bin/python bench/provision.py [--keep]

Uses the playbook tests' helpers (tests/integration/test_playbooks_rootfs.py): a root unpacked from the
cached `debootstrap --variant=minbase --include=python3 bookworm` tarball (built first when absent: that
time is printed apart), then ansible-playbook through the chroot connection, as an SD-card image is baked.
Packages come from the cached apt archives when present (say so below), wheels from the cached wheelhouse.

Prints: the base root's preparation, the first run (fresh root to kit), the second run (no change expected;
target ≤ 60 s on the CI machine), the number of tasks and changes of each, and the load average, since the
machine may be shared. Asserts nothing. Exits 2 without root, debootstrap or Ansible.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.integration import test_playbooks_rootfs as rootfs  # noqa: E402 - after the path above


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the provisioned root and logs")
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or not (rootfs.VENV_BIN / "ansible-playbook").exists():
        print("bench/provision.py needs root, debootstrap and Ansible (pip install ansible)", file=sys.stderr)
        return 2
    cached_packages = len(list((rootfs.CACHE / "apt-archives").glob("*.deb")))
    work = Path(tempfile.mkdtemp(prefix="bench-provision-", dir="/var/tmp"))
    started = time.monotonic()
    tarball_existed = any(rootfs.CACHE.glob("debian-*-minbase-python3.tar.zst"))
    tarball = rootfs.base_tarball(work / "debootstrap.log")
    base_seconds = time.monotonic() - started
    started = time.monotonic()
    root = rootfs.fresh_root(work / "kit", tarball)
    unpack_seconds = time.monotonic() - started
    inventory = rootfs.write_inventory(work / "inventory", {
        "kit-bench": rootfs.chroot_kit(root, kit_base_hostname="kit-bench", kit_secrets_image_build=True)},
        rootfs.kit_group_vars(work / "wheelhouse"))
    try:
        first = rootfs.run_playbook([root], inventory, "site.yml", log=work / "first.log")
        second = rootfs.run_playbook([root], inventory, "site.yml", log=work / "second.log")
    finally:
        if not args.keep:
            rootfs.remove_root(root)
    load = os.getloadavg()
    print(f"base root: {'cached tarball' if tarball_existed else 'debootstrap + tarball'} {base_seconds:.1f} s, "
          f"unpacked in {unpack_seconds:.1f} s")
    print(f"apt archives cached before the run: {cached_packages} packages")
    for name, run in (("first run (fresh root → kit)", first), ("second run (no change)", second)):
        recap = run.recap.get("kit-bench")
        counts = (f"ok={recap.ok} changed={recap.changed} failed={recap.failed}" if recap else "no recap")
        print(f"{name}: {run.seconds:.1f} s  ({counts}, exit {run.returncode})")
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(f"logs: {work}" if args.keep else f"logs: {work} (roots removed; --keep keeps them)")
    return 0 if first.returncode == 0 and second.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
