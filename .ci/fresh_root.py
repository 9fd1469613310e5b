#!/usr/bin/env python3
"""CI stage: the README's two commands on freshly debootstrapped Debian 12 and Debian 13 roots.

    sudo python3 .ci/fresh_root.py [--release bookworm --release trixie] [--keep]

For each release, as a new user would: a `debootstrap --variant=minbase` root with only python3,
python3-venv, git and ca-certificates; a copy of this checkout in /root/triporteur-kit; then, inside the root
(as root, CI=true):

1. `python3 -m kiosk.devenv run`: the portal must answer 200 and a phone's probe a 302 to the portal;
2. `python3 -m kiosk.devenv test SLICE`: every Debian package, Python and npm dependency installed from
   nothing, ruff, and one test of each kind that needs the machine — a browser, network namespaces, a
   tablet wipe over SSH, the Ansible roles (see SLICE). On Debian 13, which the CI machine does not run, the
   slice is larger (RELEASE_SLICE): every unit test (the rendered configurations read by trixie's own
   dnsmasq and hostapd among them) and the whole network end-to-end test (trixie's nftables, dnsmasq and
   dhclient carrying phones in namespaces). The rest of the suite does not depend on the release, or is
   proven on trixie from the host (site.yml on a trixie root: tests/integration/test_playbooks.py).

The root is entered through playbooks/image/chroot_run.py (private mount namespace: /proc, /sys read-only,
/dev, /dev/pts, fresh /run and /tmp, the host's resolv.conf bound read-only, no service started by package
scripts) plus a /dev/shm of its own for the browser. It shares the host's network namespace: apt, pip and npm
reach their registries; the namespace tests make their own networks. Anything that stops a stage is a
failure, never a skip.

The debootstrapped base is cached as a tarball under $TRIPORTEUR_CI_CACHE (/var/cache/triporteur-ci), rebuilt
after a week; nothing else is cached, so what `devenv test` installs is installed from nothing every time.
Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
CHROOT_RUN = CHECKOUT / "playbooks" / "image" / "chroot_run.py"
CACHE = Path(os.environ.get("TRIPORTEUR_CI_CACHE", "/var/cache/triporteur-ci"))
CACHE_DAYS = 7  # a base older than this is debootstrapped again, so "fresh" stays close to the archive
MIRROR = "http://deb.debian.org/debian"
RELEASES = ("bookworm", "trixie")  # Debian 12 and 13: Raspberry Pi OS of both
INCLUDE = "python3,python3-venv,git,ca-certificates"  # the README's prerequisites, nothing more
KIT = "/root/triporteur-kit"
# One test of each kind that needs more than Python: chosen for what differs between releases and roots
# (browser and its driver's libraries, nft/dnsmasq/dhclient in namespaces, sshd and the wipe, Ansible).
SLICE = (
    "tests/browser/test_portal_browser.py::test_phone_without_javascript_switches_to_arabic_accepts_and_is_connected",
    "tests/integration/test_network_e2e.py::test_probe_names_resolve_to_the_kit_and_probes_land_on_the_portal",
    "tests/integration/test_tablets_linux.py::test_enroll_lend_return_from_the_command_line_leaves_nothing_of_the_participant",
    "tests/integration/test_playbooks_lint.py::test_ansible_lint_production_profile_is_clean",
)
# What differs by release and the CI machine (Debian 12) does not already prove: whole folders or files, run
# in the root of that release besides SLICE. Trixie: Python 3.13, nftables 1.1, dnsmasq 2.90, hostapd 2.10.
RELEASE_SLICE: dict[str, tuple[str, ...]] = {
    "bookworm": (),
    "trixie": ("tests/unit", "tests/integration/test_network_e2e.py"),
}
# Where a machine behind a TLS-inspecting proxy keeps its own authorities, and the variables that point pip,
# npm, git and Python at a CA file: the root gets the host's, as it gets its resolv.conf.
LOCAL_AUTHORITIES = Path("/usr/local/share/ca-certificates")
CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO")
STAGE_TIMEOUT_S = 2400  # per release: a hung download must not hold CI


def say(message: str) -> None:
    print(f"[fresh-root] {message}", flush=True)


class StageError(Exception):
    """A stage that could not run or did not pass, in one line."""


def check(argv: Sequence[str], timeout: float = STAGE_TIMEOUT_S, **options) -> None:
    try:
        done = subprocess.run(list(argv), check=False, timeout=timeout, **options)
    except subprocess.TimeoutExpired as expired:
        raise StageError(f"gave up after {timeout:.0f} s: {' '.join(argv)}") from expired
    if done.returncode != 0:
        raise StageError(f"failed ({done.returncode}): {' '.join(argv)}")


# --- on the host ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def architecture() -> str:
    done = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, timeout=30, check=False)
    return done.stdout.strip() or "amd64"


def base_tarball(release: str) -> Path:
    """The release's minbase root with the README's prerequisites, debootstrapped when absent or stale."""
    tarball = CACHE / f"debian-{release}-{architecture()}-minbase-readme.tar.zst"
    with locked(f"debootstrap-{release}"):
        if tarball.exists() and time.time() - tarball.stat().st_mtime < CACHE_DAYS * 86400:
            say(f"{release}: cached base {tarball}")
            return tarball
        build = CACHE / f"debootstrap-{release}.tmp"
        shutil.rmtree(build, ignore_errors=True)
        log = CACHE / f"debootstrap-{release}.log"
        say(f"{release}: debootstrap --variant=minbase --include={INCLUDE} (log: {log})")
        try:
            with log.open("w") as output:
                check(["debootstrap", "--variant=minbase", f"--include={INCLUDE}", release, str(build), MIRROR],
                      timeout=1800, stdout=output, stderr=subprocess.STDOUT)
            for deb in (build / "var/cache/apt/archives").glob("*.deb"):
                deb.unlink()
            partial = tarball.with_suffix(".partial")
            with partial.open("wb") as out:
                tar = subprocess.Popen(["tar", "-C", str(build), "--numeric-owner", "-cf", "-", "."],
                                       stdout=subprocess.PIPE)
                check(["zstd", "-q", "-T0", "-3"], timeout=600, stdin=tar.stdout, stdout=out)
                if tar.wait(timeout=600) != 0:
                    raise StageError("tar of the debootstrapped root failed")
            partial.replace(tarball)
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return tarball


def unpack(tarball: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    tar = subprocess.Popen(["zstd", "-dc", str(tarball)], stdout=subprocess.PIPE)
    check(["tar", "-C", str(dest), "--numeric-owner", "-xf", "-"], timeout=600, stdin=tar.stdout)
    if tar.wait(timeout=600) != 0:
        raise StageError(f"unpacking {tarball} failed")


def copy_checkout(dest: Path) -> None:
    """The checkout's files as a clone has them (tracked plus new, not ignored): no .venv, no var/, no cache."""
    listed = subprocess.run(["git", "-C", str(CHECKOUT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, timeout=60, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = CHECKOUT / name
        if not source.is_file():
            continue  # deleted in the work tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def trust_host_authorities(root: Path) -> list[str]:
    """The host's local certificate authorities added to the root's store; the CA variables that then hold
    inside it, as NAME=VALUE."""
    authorities = [path for path in LOCAL_AUTHORITIES.rglob("*.crt") if path.is_file()]
    if authorities:
        target = root / LOCAL_AUTHORITIES.relative_to("/")
        target.mkdir(parents=True, exist_ok=True)
        for path in authorities:
            shutil.copy2(path, target / path.name)
        check(["chroot", str(root), "update-ca-certificates"], timeout=120, stdout=subprocess.DEVNULL)
        say(f"the host's own certificate authorities trusted in the root: {', '.join(p.name for p in authorities)}")
    return [f"{name}={os.environ[name]}" for name in CA_VARIABLES
            if os.environ.get(name) and (root / os.environ[name].lstrip("/")).exists()]


def remove_root(root: Path) -> None:
    if f" {root}/" in Path("/proc/self/mounts").read_text():
        raise StageError(f"something is still mounted under {root}: left in place")
    shutil.rmtree(root, ignore_errors=True)


def stage(release: str, work: Path) -> float:
    started = time.monotonic()
    root = work / release
    unpack(base_tarball(release), root)
    copy_checkout(root / KIT.lstrip("/"))
    (root / KIT.lstrip("/") / ".ci").mkdir(exist_ok=True)
    shutil.copy2(Path(__file__), root / KIT.lstrip("/") / ".ci" / "fresh_root.py")
    trusted = trust_host_authorities(root)
    say(f"{release}: the README's commands inside the root")
    # The root bound onto itself (with what chroot_run.py mounted in it) so that / is a mount point inside:
    # `ip netns exec` and `unshare --mount` change the propagation of /, which a plain chroot refuses (EINVAL).
    enter = ["sh", "-c", 'mount --rbind "$0" "$0" && exec chroot "$0" "$@"', str(root)]
    inside = [*enter, "/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
              "HOME=/root", "LANG=C.UTF-8", "TERM=dumb", f"CI={os.environ.get('CI', 'true')}", *trusted,
              "/usr/bin/python3", f"{KIT}/.ci/fresh_root.py", "--inside"]
    check([sys.executable, str(CHROOT_RUN), "--root", str(root), "--", *inside])
    return time.monotonic() - started


def host(releases: Sequence[str], keep: bool) -> int:
    if os.geteuid() != 0:
        print("fresh-root: run as root (debootstrap, chroot and mount need it)", file=sys.stderr)
        return 2
    for binary in ("debootstrap", "zstd", "unshare", "chroot", "mount", "git"):
        if shutil.which(binary) is None:
            print(f"fresh-root: {binary} is not installed (python3 -m kiosk.devenv test installs it)",
                  file=sys.stderr)
            return 2
    times: dict[str, float] = {}
    failed: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="triporteur-fresh-root.", dir="/var/tmp"))
    try:
        for release in releases:
            try:
                times[release] = stage(release, work)
                say(f"{release}: passed in {times[release] / 60:.1f} min")
            except StageError as problem:
                failed.append(release)
                say(f"{release}: FAILED: {problem}")
            finally:
                if not keep:
                    remove_root(work / release)
    finally:
        if not keep:
            with contextlib.suppress(OSError):
                work.rmdir()
    say(", ".join(f"{release} {seconds / 60:.1f} min" for release, seconds in times.items()) or "no stage passed")
    if failed:
        say(f"failed: {', '.join(failed)}" + (f" (roots kept in {work})" if keep else ""))
        return 1
    return 0


# --- inside the root (its own python3, as root) -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def answer(url: str) -> tuple[int, str]:
    """The status and Location of one GET, redirects not followed."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", "")


def readme_run() -> None:
    """`python3 -m kiosk.devenv run` from nothing; the portal answers 200 and an Android probe 302."""
    portal, dashboard = free_port(), free_port()
    # Other ports than 8080/8081: the root shares the host's network, where a developer may run the kit.
    # No uplink check: it would fetch a public address, and this stage talks to package registries only.
    env = dict(os.environ, KIOSK_PORTAL_LISTEN=f"127.0.0.1:{portal}", KIOSK_DASHBOARD_LISTEN=f"127.0.0.1:{dashboard}",
               KIOSK_UPLINK_CHECK_ENABLED="false")
    log = Path(KIT) / "var" / "fresh-root-run.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as output:
        server = subprocess.Popen([sys.executable, "-m", "kiosk.devenv", "run"], cwd=KIT, env=env, stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 900  # the first run installs the kit
        while True:
            if server.poll() is not None:
                raise StageError(f"devenv run exited {server.returncode}: {log.read_text()[-2000:]}")
            try:
                status, _ = answer(f"http://127.0.0.1:{portal}/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise StageError(f"the portal did not answer in 900 s: {log.read_text()[-2000:]}") from None
                time.sleep(1)
        probe, location = answer(f"http://127.0.0.1:{portal}/generate_204")
        say(f"devenv run: portal {status}, probe /generate_204 {probe} -> {location}")
        if status != 200 or probe != 302 or not location:
            raise StageError(f"expected portal 200 and probe 302, got {status} and {probe} ({location!r})")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=30)


def tests_for(release: str) -> list[str]:
    """SLICE plus the release's own paths, without a SLICE test those paths already hold (run once)."""
    extra = RELEASE_SLICE.get(release, ())
    covered = [test for test in SLICE if any(test == path or test.startswith((f"{path}/", f"{path}::"))
                                             for path in extra)]
    return [test for test in SLICE if test not in covered] + list(extra)


def inside() -> int:
    # The browser needs shared memory; chroot_run.py's /dev is the host's devtmpfs without its /dev/shm.
    check(["mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/dev/shm"], timeout=30)  # noqa: S108 - a mount point
    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    say(f"inside {release.get('PRETTY_NAME', '?').strip(chr(34))}, Python {sys.version.split()[0]}")
    tests = tests_for(release.get("VERSION_CODENAME", ""))
    try:
        started = time.monotonic()
        readme_run()
        say(f"devenv run passed in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        check([sys.executable, "-m", "kiosk.devenv", "test", *tests], cwd=KIT)
        say(f"devenv test ({len(tests)} paths) passed in {time.monotonic() - started:.0f} s")
    except StageError as problem:
        say(f"FAILED: {problem}")
        return 1
    return 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", action="append", choices=RELEASES, help="one release (repeatable); default all")
    parser.add_argument("--keep", action="store_true", help="keep the roots under /var/tmp for a look afterwards")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        return inside()
    return host(args.release or RELEASES, args.keep)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
