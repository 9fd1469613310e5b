"""Benchmark: wiping many loaned tablets at once, and a Linux guest home full of data.

Usage, from the repository root, as root (the simulated laptops need mount and PID namespaces)::

    .venv/bin/python bench/wipe.py [--devices 10] [--rounds 3] [--big-mb 500] [--big-files 5000]

1. 20 tablets — 10 Linux laptops (real sshd, each in its own namespaces) and 10 simulated Android tablets
   behind Debian's adb server — are lent, filled with a participant's traces and returned, then wiped and
   verified in parallel (tablets.parallel = 20). The same is timed for one laptop alone and one Android
   tablet alone. Prints both wall times and their ratio (target ≤ 1.5), the median of --rounds rounds.
2. A Linux wipe of a guest home holding 500 MB in 5,000 files (target ≤ 10 s).

It prints figures and asserts nothing. Everything runs on 127.0.0.1 and in temporary folders it removes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from provisioning.tablets import Tablets  # noqa: E402
from tests.stands.adb_device import AndroidState, SimulatedTablet  # noqa: E402
from tests.stands.adb_server import AdbServerStand  # noqa: E402
from tests.stands.sshd import LinuxTablet  # noqa: E402
from tests.stands.tablets import enroll_laptop, open_tablets, tablet_settings  # noqa: E402

TARGET_RATIO = 1.5
TARGET_BIG_SECONDS = 10.0


def lend_and_fill(tablets: Tablets, name: str, laptop: LinuxTablet | None, android: SimulatedTablet | None) -> None:
    device = tablets.lend(name)
    if device.status != "lent":
        raise SystemExit(f"{name} could not be lent: {device.reason}")
    if laptop is not None:
        laptop.plant_participant_session()
    if android is not None:
        user = tablets.inventory.get(name).details["lent_user"]
        android.state.plant_file(user, "Download/attestation.pdf", b"%PDF" * 1000)
        android.state.plant_file(user, "DCIM/Camera/IMG_0001.jpg", os.urandom(4096))
    tablets.give_back(name, wipe_now=False)


def machine_cpu_seconds() -> float:
    """CPU time used by everything on this machine (user + system), from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


@dataclass
class Timing:
    wall: float
    kit_cpu: float       # this process: the kit's side of every wipe
    machine_cpu: float   # the kit and the simulated tablets' own work, which here share this machine's CPUs


def timed_wipe(tablets: Tablets, names: list[str]) -> Timing:
    machine, kit, started = machine_cpu_seconds(), time.process_time(), time.perf_counter()
    devices = tablets.wipe(names)
    timing = Timing(time.perf_counter() - started, time.process_time() - kit, machine_cpu_seconds() - machine)
    bad = [f"{d.name}: {d.reason}" for d in devices if d.status != "ready"]
    if bad:
        raise SystemExit("a wipe did not end ready:\n" + "\n".join(bad))
    return timing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10, help="laptops, and as many Android tablets")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=500)
    parser.add_argument("--big-files", type=int, default=5000)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the simulated laptops need mount and PID namespaces")

    work = Path(tempfile.mkdtemp(prefix="bench-wipe-"))
    server = AdbServerStand(work / "adb").start()
    laptops: list[LinuxTablet] = []
    androids: list[SimulatedTablet] = []
    try:
        settings = tablet_settings(work, adb_port=server.port, tablets__parallel=2 * args.devices,
                                   tablets__step_timeout_seconds=60)
        tablets = open_tablets(settings)
        for index in range(args.devices):
            directory = work / f"laptop-{index}"
            directory.mkdir()
            laptops.append(LinuxTablet(directory).build().start())
            enroll_laptop(tablets, f"linux-{index:02d}", laptops[-1])
            androids.append(SimulatedTablet(AndroidState()).start())
            tablets.enroll_android(f"android-{index:02d}", address=androids[-1].serial)
        tablets.wipe([d.name for d in tablets.list() if d.kind == "android"])
        names = [d.name for d in tablets.list()]
        print(f"{len(names)} tablets enrolled and verified clean ({args.devices} sshd laptops, "
              f"{args.devices} simulated Android tablets), {os.cpu_count()} CPU(s)")

        parallel, linux_alone, android_alone = [], [], []
        for _ in range(args.rounds):
            for index in range(args.devices):
                lend_and_fill(tablets, f"linux-{index:02d}", laptops[index], None)
                lend_and_fill(tablets, f"android-{index:02d}", None, androids[index])
            parallel.append(timed_wipe(tablets, names))
            lend_and_fill(tablets, "linux-00", laptops[0], None)
            linux_alone.append(timed_wipe(tablets, ["linux-00"]))
            lend_and_fill(tablets, "android-00", None, androids[0])
            android_alone.append(timed_wipe(tablets, ["android-00"]))

        def median(timings: list[Timing], field: str) -> float:
            return statistics.median(getattr(timing, field) for timing in timings)

        many, one_linux, one_android = (median(v, "wall") for v in (parallel, linux_alone, android_alone))
        one = max(one_linux, one_android)
        print(f"one laptop alone:            {one_linux:6.2f} s")
        print(f"one Android tablet alone:    {one_android:6.2f} s")
        print(f"{len(names)} tablets in parallel:      {many:6.2f} s")
        print(f"ratio parallel / one alone:  {many / one:6.2f}   (target ≤ {TARGET_RATIO}; one alone = the slower "
              f"kind; medians of {args.rounds} rounds)")
        print(f"CPU for the {len(names)} wipes: kit {median(parallel, 'kit_cpu'):.2f} s, whole machine "
              f"{median(parallel, 'machine_cpu'):.2f} s on {os.cpu_count()} CPU(s) — the simulated tablets' own work "
              "runs on the kit's CPUs here, not on their own as real tablets' does")

        laptop = laptops[0]
        tablets.lend("linux-00")
        block = os.urandom(args.big_mb * 1_000_000 // args.big_files)
        for index in range(args.big_files):
            folder = laptop.home / "Téléchargements" / f"dossier-{index // 100:02d}"
            folder.mkdir(exist_ok=True)
            path = folder / f"scan-{index:05d}.jpg"
            path.write_bytes(block)
            os.chown(path, laptop.uid, laptop.gid)
        laptop.chown_tree(laptop.home / "Téléchargements")
        tablets.give_back("linux-00", wipe_now=False)
        big = timed_wipe(tablets, ["linux-00"]).wall
        size = args.big_files * len(block) / 1e6
        print(f"Linux wipe of a home holding {size:.0f} MB in {args.big_files} files: {big:6.2f} s   "
              f"(target ≤ {TARGET_BIG_SECONDS:g} s)")
    finally:
        for android in androids:
            android.go_offline()
        for laptop in laptops:
            laptop.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
