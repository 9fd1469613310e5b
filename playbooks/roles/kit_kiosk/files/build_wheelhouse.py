#!/usr/bin/env python3
"""Build, on the controller, every wheel a kit needs to install the kiosk with no internet.

    python build_wheelhouse.py --project DIR --dest DIR --python 3.11 --arch aarch64 --glibc 2.36

1. The kit's own wheel, built from the project folder (``pip wheel --no-deps``).
2. Its dependencies as binary wheels for the kit's platform (``pip download --platform …``): first from
   what is already in DEST and in the ``--cache`` folder (so a laptop with no internet can build a new
   version of the kit), then from the package index; what was downloaded is added to the cache.
3. A dependency that has no wheel for that platform is built here from its source, and accepted only when
   the result is pure Python (``py3-none-any``): a compiled one must come as a wheel for the kit's CPU.

4. With ``--archive FILE``, one tar of the wheels, identical from one build to the next (sorted, no dates),
   so Ansible copies a single file and only when it changed.

Prints ``wheelhouse ready: N wheels`` and writes DEST/.complete. Exit 1 with one sentence on failure.
Standard library only (it runs with the Python that runs Ansible).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

MISSING = re.compile(r"No matching distribution found for (?P<requirement>\S+)")
SUPPORTED_ARCHES = ("aarch64", "x86_64")


class WheelhouseError(Exception):
    """Why the wheelhouse could not be built, in one sentence."""


def pip(args: Sequence[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def platforms(arch: str, glibc: str) -> list[str]:
    """Every manylinux tag a kit with this CPU and C library can load, newest first."""
    if arch not in SUPPORTED_ARCHES:
        raise WheelhouseError(f"no wheels are built for {arch} (supported: {', '.join(SUPPORTED_ARCHES)})")
    major, minor = (int(part) for part in glibc.split(".")[:2])
    if major != 2 or minor < 17:
        raise WheelhouseError(f"glibc {glibc} is too old (2.17 at least)")
    tags = [f"manylinux_2_{n}_{arch}" for n in range(minor, 16, -1)] + [f"manylinux2014_{arch}"]
    if arch == "x86_64":
        tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
    return tags


def build_project(project: Path, dest: Path) -> Path:
    done = pip(["wheel", "--no-deps", "--wheel-dir", str(dest), str(project)])
    if done.returncode != 0:
        raise WheelhouseError(f"building the kit's wheel failed: {done.stderr.strip()[-600:]}")
    wheels = sorted(dest.glob("triporteur_kit-*.whl"), key=lambda path: path.stat().st_mtime)
    if not wheels:
        raise WheelhouseError("pip built no wheel for the kit")
    return wheels[-1]


def download(requirement: str, dest: Path, python: str, tags: list[str], offline: bool,
             cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = ["download", "--dest", str(dest), "--only-binary=:all:", "--python-version", python,
            "--implementation", "cp", "--find-links", str(dest)]
    if cache is not None and cache.is_dir():
        args += ["--find-links", str(cache)]
    args += [item for tag in tags for item in ("--platform", tag)]
    if offline:
        args.append("--no-index")
    return pip([*args, requirement])


def build_pure(requirement: str, dest: Path) -> Path:
    """A dependency with no wheel for the kit: build it from source here, and keep it only if pure."""
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as scratch:
        done = pip(["wheel", "--no-deps", "--no-binary=:all:", "--wheel-dir", scratch, requirement])
        built = list(Path(scratch).glob("*.whl"))
        if done.returncode != 0 or not built:
            raise WheelhouseError(f"{requirement} has no wheel for the kit and could not be built: "
                                  f"{done.stderr.strip()[-400:]}")
        wheel = built[0]
        if not wheel.name.endswith("-none-any.whl"):
            raise WheelhouseError(f"{requirement} has no wheel for the kit's CPU and is not pure Python "
                                  f"({wheel.name}): build that wheel on a kit and put it in {dest}")
        target = dest / wheel.name
        target.write_bytes(wheel.read_bytes())
        return target


def resolve(kit_wheel: Path, dest: Path, python: str, tags: list[str], cache: Path | None) -> None:
    if download(str(kit_wheel), dest, python, tags, offline=True, cache=cache).returncode == 0:
        return
    for _ in range(25):  # each round fixes one dependency that has no wheel for the platform
        done = download(str(kit_wheel), dest, python, tags, offline=False, cache=cache)
        if done.returncode == 0:
            return
        missing = MISSING.search(done.stderr)
        if missing is None:
            raise WheelhouseError(f"pip could not download the dependencies: {done.stderr.strip()[-600:]}")
        print(f"building {missing['requirement']} from source (no wheel for {tags[0]})", flush=True)
        build_pure(missing["requirement"], dest)
    raise WheelhouseError("too many dependencies without a wheel for the kit's platform")


def keep_in_cache(dest: Path, cache: Path) -> None:
    """Add the dependencies' wheels to the cache shared by every version (written whole, then renamed)."""
    cache.mkdir(parents=True, exist_ok=True)
    for wheel in dest.glob("*.whl"):
        target = cache / wheel.name
        if wheel.name.startswith("triporteur_kit-") or target.exists():
            continue
        temporary = cache / f".{wheel.name}.{os.getpid()}.tmp"
        shutil.copyfile(wheel, temporary)
        temporary.replace(target)


def write_archive(dest: Path, archive: Path) -> None:
    """A reproducible tar of the wheels: same wheels, same bytes, so the copy to the kit is skipped."""
    temporary = archive.with_suffix(archive.suffix + ".tmp")
    with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as tar:
        for wheel in sorted(dest.glob("*.whl")):
            info = tarfile.TarInfo(wheel.name)
            info.size, info.mode, info.mtime = wheel.stat().st_size, 0o644, 0
            with wheel.open("rb") as handle:
                tar.addfile(info, handle)
    temporary.replace(archive)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description="wheels for a kit with no internet")
    parser.add_argument("--project", type=Path, required=True, help="the kit's source folder (pyproject.toml)")
    parser.add_argument("--dest", type=Path, required=True, help="the wheelhouse folder for one platform")
    parser.add_argument("--python", required=True, help="the kit's Python, e.g. 3.11")
    parser.add_argument("--arch", required=True, help="the kit's CPU: aarch64 or x86_64")
    parser.add_argument("--glibc", required=True, help="the kit's C library version, e.g. 2.36")
    parser.add_argument("--version", help="fail unless the kit's wheel has this version")
    parser.add_argument("--archive", type=Path, help="also write the wheels as one reproducible tar")
    parser.add_argument("--cache", type=Path, help="dependency wheels kept between versions (read, then added to)")
    args = parser.parse_args(argv)
    try:
        tags = platforms(args.arch, args.glibc)
        args.dest.mkdir(parents=True, exist_ok=True)
        kit_wheel = build_project(args.project, args.dest)
        if args.version and f"-{args.version}-" not in kit_wheel.name:
            raise WheelhouseError(f"the project builds {kit_wheel.name}, not version {args.version}: set "
                                  "kit_kiosk_version to the project's version")
        resolve(kit_wheel, args.dest, args.python, tags, args.cache)
        if args.cache:
            keep_in_cache(args.dest, args.cache)
        if args.archive:
            write_archive(args.dest, args.archive)
    except (WheelhouseError, subprocess.TimeoutExpired, OSError) as problem:
        print(f"wheelhouse: {problem}", file=sys.stderr)
        return 1
    wheels = sorted(path.name for path in args.dest.glob("*.whl"))
    (args.dest / ".complete").write_text("\n".join(wheels) + "\n")
    print(f"wheelhouse ready: {len(wheels)} wheels in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
