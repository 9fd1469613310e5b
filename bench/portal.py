"""Benchmark: the kit's portal against nginx serving the same bytes, all pinned to one CPU core.

Usage, from the repository root (as root for the Pi 4 figures)::

    .venv/bin/python bench/portal.py [--seconds N] [--pi-share 0.25]

Starts on free 127.0.0.1 ports, each pinned to the first allowed core:
- ``kiosk serve`` (the portal on granian, see kiosk/server.py);
- the same portal app on waitress, as ``kiosk serve`` ran it before: the candidate it replaced, kept here
  so the choice stays measured side by side;
- nginx answering the same bytes.
wrk (50 connections) pinned to the second core drives each in turn. Prints requests per second and p99
latency for an Android probe (302 to the portal) and for the landing page, the ratios against nginx and the
kit's memory (peak RSS of each process, and PSS summed over the supervisor and its worker: RSS counts the
pages the fork shares twice).

Then, as root, the kit again with its processes in a CPU cgroup capped at ``--pi-share`` of one core (cgroup
v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``): the speed of a Raspberry Pi 4 core, taken as a quarter of this
machine's (a Cortex-A72 at 1.5–1.8 GHz runs CPython about four times slower than a recent x86 server core;
change the share to match your own measure). It prints figures and asserts nothing. Needs Debian's nginx
(nginx-light), wrk and taskset.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
PROBE_HOST = "connectivitycheck.gstatic.com"
CONNECTIONS = 50
WRK_THREADS = 2
NGINX = "/usr/sbin/nginx"
REPO = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 20.0
STOP_SECONDS = 5.0

TARGET_P99_MS = 10.0
TARGET_RATIOS = {"probe": 0.3, "landing": 0.1}
TARGET_RSS_MB = 60.0
PI_SHARE = 0.25
CGROUP_ROOT = Path("/sys/fs/cgroup")

# Headers each server writes itself; every other header of the kit's answer is copied into nginx's.
OWN_HEADERS = frozenset({"date", "server", "content-length", "content-type", "connection", "transfer-encoding"})
# nginx -V temp path flag -> module that may be left out with --without-http_<module>_module (None: always in)
NGINX_MODULE_TEMP_PATHS = {"client-body": None, "proxy": "proxy", "fastcgi": "fastcgi", "uwsgi": "uwsgi",
                           "scgi": "scgi"}


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    host: str | None  # Host header to send; None sends the server's own address


SCENARIOS = (
    Scenario("probe", "/generate_204", PROBE_HOST),
    Scenario("landing", "/", None),
)


@dataclass(frozen=True)
class Captured:
    """One HTTP answer, as received."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p99_ms: float
    requests: int
    non_success: int  # wrk's "Non-2xx or 3xx responses"
    socket_errors: dict[str, int]

    @property
    def error_share(self) -> float:
        return (self.non_success + sum(self.socket_errors.values())) / max(self.requests, 1)


@dataclass
class Processes:
    """The processes this script started, stopped by PID in reverse order."""

    started: list[subprocess.Popen] = field(default_factory=list)

    def start(self, argv: list[str], log: Path, **popen_args) -> subprocess.Popen:
        with log.open("wb") as handle:
            process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       **popen_args)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            try:
                stop(process)
            except (OSError, subprocess.SubprocessError) as problem:  # still try to stop the others
                print(f"bench: could not stop pid {process.pid}: {problem}", file=sys.stderr)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if the process is still there after a few seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_SECONDS)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def pick_cores() -> tuple[int, int]:
    """(server core, load generator core): the first two cores this process may run on."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        sys.exit("bench: needs two CPU cores, one for the servers and one for wrk")
    return cores[0], cores[1]


def check_tools() -> None:
    missing = [tool for tool in ("taskset", "wrk", NGINX) if shutil.which(tool) is None]
    if missing:
        sys.exit(f"bench: missing {', '.join(missing)} (apt-get install nginx-light wrk util-linux)")


def fetch(port: int, scenario: Scenario, timeout: float = 5.0) -> Captured:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", scenario.path, headers={"Host": scenario.host or f"{HOST}:{port}"})
        response = connection.getresponse()
        return Captured(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


def wait_until_serving(name: str, process: subprocess.Popen, port: int, log: Path) -> None:
    """Polls until the server answers a request; exits with its log if it dies or never answers."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"bench: {name} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            fetch(port, SCENARIOS[1], timeout=1.0)
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"bench: {name} did not answer on port {port} within {STARTUP_SECONDS:.0f} s:\n"
             f"{log.read_text(errors='replace')}")


# --- the kit -----------------------------------------------------------------------------------------------

def write_kit_config(work: Path, portal_port: int, dashboard_port: int) -> Path:
    leases = work / "dnsmasq.leases"
    leases.write_text("")  # no lease: the benchmark's client is a phone the kit has not seen yet
    config = work / "kiosk.toml"
    config.write_text(
        f'[portal]\nlisten = "{HOST}:{portal_port}"\npublic_url = "http://{HOST}:{portal_port}/"\n\n'
        f'[dashboard]\nlisten = "{HOST}:{dashboard_port}"\n\n'
        f'[store]\npath = "{work / "kiosk.db"}"\n\n'
        f'[network]\ndhcp_leases = "{leases}"\n',
        encoding="utf-8",
    )
    return config


def kit_environment() -> dict[str, str]:
    """The caller's environment without KIOSK_* variables, which would override the benchmark's file."""
    return {key: value for key, value in os.environ.items() if not key.startswith("KIOSK_")}


def upgrade_store(config: Path) -> None:
    subprocess.run([sys.executable, "-m", "kiosk", "--config", str(config), "db", "upgrade"], cwd=REPO,
                   env=kit_environment(), check=True, capture_output=True, timeout=60)


def start_kit(processes: Processes, config: Path, core: int, log: Path) -> subprocess.Popen:
    return processes.start(["taskset", "-c", str(core), sys.executable, "-m", "kiosk", "--config", str(config),
                            "serve"], log, cwd=REPO, env=kit_environment())


def start_waitress_portal(processes: Processes, config: Path, core: int, log: Path) -> subprocess.Popen:
    """The reference candidate: the kit's portal app on waitress, as ``kiosk serve`` ran it before granian."""
    return processes.start(["taskset", "-c", str(core), sys.executable, str(Path(__file__).resolve()),
                            "--serve-waitress", str(config)], log, cwd=REPO, env=kit_environment())


def serve_waitress(config: str) -> None:
    from waitress.server import create_server

    sys.path.insert(0, str(REPO))
    from kiosk import create_app
    from kiosk.listeners import bind_listener
    from kiosk.settings import load

    settings = load(config)
    apps = create_app(settings)
    create_server(apps.portal, sockets=[bind_listener(settings.portal.listen)], threads=settings.portal.threads,
                  ident="kiosk", clear_untrusted_proxy_headers=True).run()


def process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(child) for child in children.read_text().split()] if children.exists() else []
    return [pid, *(grandchild for kid in kids for grandchild in process_tree(kid))]


def _status_kb(pid: int, field_name: str, file: str = "status") -> int:
    text = Path(f"/proc/{pid}/{file}").read_text()
    match = re.search(rf"^{field_name}:\s+(\d+)\s+kB", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {field_name} in /proc/{pid}/{file}")
    return int(match.group(1))


def memory_mb(pid: int) -> tuple[list[float], float]:
    """(VmHWM of each process of the tree, the kernel's high-water mark; their PSS summed, now)."""
    tree = process_tree(pid)
    return ([_status_kb(p, "VmHWM") / 1024 for p in tree],
            sum(_status_kb(p, "Pss", "smaps_rollup") for p in tree) / 1024)


# --- a Raspberry Pi 4's core, emulated ------------------------------------------------------------------------

@dataclass
class CpuCap:
    """A CPU cgroup of this script's own, capped at ``share`` of one core; removed when closed."""

    share: float
    path: Path | None = None

    def open(self) -> str | None:
        """None when it worked, else why not."""
        if os.geteuid() != 0:
            return "needs root (a CPU cgroup)"
        name = f"triporteur-bench-{os.getpid()}"
        # A short period: with the default 100 ms, the capped kit runs 25 ms then stalls 75 ms, and every p99
        # is that stall. At 10 ms the stall is 7.5 ms: still more than a real Pi, whose core never pauses.
        period = 10_000
        quota = max(1000, int(self.share * period))
        if (CGROUP_ROOT / "cgroup.controllers").exists():  # cgroup v2
            if "cpu" not in (CGROUP_ROOT / "cgroup.subtree_control").read_text().split():
                return "cgroup v2 without the cpu controller enabled at the root"
            self.path = CGROUP_ROOT / name
            self.path.mkdir()
            (self.path / "cpu.max").write_text(f"{quota} {period}")
        elif (CGROUP_ROOT / "cpu" / "cpu.cfs_quota_us").exists():  # cgroup v1
            self.path = CGROUP_ROOT / "cpu" / name
            self.path.mkdir()
            (self.path / "cpu.cfs_period_us").write_text(str(period))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            return "no CPU cgroup controller on this machine"
        return None

    def add(self, pid: int) -> None:
        """The process and its children, all their threads (cgroup.procs moves whole processes)."""
        assert self.path is not None
        for member in process_tree(pid):
            (self.path / "cgroup.procs").write_text(str(member))

    def close(self) -> None:
        if self.path is None:
            return
        parent_procs = self.path.parent / "cgroup.procs"
        for pid in (self.path / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                parent_procs.write_text(pid)
        with contextlib.suppress(OSError):
            self.path.rmdir()
        self.path = None


# --- nginx -------------------------------------------------------------------------------------------------

def nginx_quote(value: str) -> str:
    if "$" in value:  # nginx would read it as a variable and offers no escape for it
        raise ValueError(f"cannot hand {value!r} to nginx")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def nginx_temp_paths(work: Path) -> list[str]:
    """Temp path directives for the modules this nginx has, so it creates nothing under /var/lib/nginx."""
    build = subprocess.run([NGINX, "-V"], capture_output=True, text=True, timeout=10, check=True).stderr
    lines = []
    for flag, module in NGINX_MODULE_TEMP_PATHS.items():
        compiled = f"--http-{flag}-temp-path" in build
        if compiled and (module is None or f"--without-http_{module}_module" not in build):
            lines.append(f"{flag.replace('-', '_')}_temp_path {work / ('nginx-' + flag)};")
    return lines


def nginx_headers(answer: Captured) -> list[str]:
    return [f"add_header {name} {nginx_quote(value)} always;" for name, value in answer.headers
            if name.lower() not in OWN_HEADERS]


def nginx_location(scenario: Scenario, answer: Captured, www: Path) -> str:
    """A location answering the kit's status, headers and body; the body is a static file."""
    body_name = f"{scenario.name}.body"
    (www / body_name).write_bytes(answer.body)
    content_type = nginx_quote(answer.header("Content-Type") or "application/octet-stream")
    served = "\n            ".join([f"default_type {content_type};", *nginx_headers(answer)])
    if answer.status == 200:
        return (f"location = {scenario.path} {{\n            {served}\n"
                f"            rewrite ^ /{body_name} break;\n        }}")
    # A static file cannot carry another status; error_page can give it one. 418 only routes there.
    return (f"location = {scenario.path} {{\n            error_page 418 ={answer.status} /{body_name};\n"
            f"            return 418;\n        }}\n"
            f"        location = /{body_name} {{\n            internal;\n            {served}\n        }}")


def write_nginx_config(work: Path, port: int, answers: dict[str, Captured]) -> Path:
    www = work / "www"
    www.mkdir()
    locations = "\n        ".join(nginx_location(scenario, answers[scenario.name], www) for scenario in SCENARIOS)
    temp_paths = "\n    ".join(nginx_temp_paths(work))
    config = work / "nginx.conf"
    config.write_text(f"""daemon off;
master_process off;
worker_processes 1;
pid {work / "nginx.pid"};
error_log {work / "nginx-error.log"} warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    {temp_paths}
    keepalive_requests 1000000;
    etag off;
    server_tokens off;
    types {{}}
    server {{
        listen {HOST}:{port};
        server_name _;
        root {www};
        {locations}
        location / {{
            return 404;
        }}
    }}
}}
""", encoding="utf-8")
    return config


def start_nginx(processes: Processes, work: Path, config: Path, core: int, log: Path) -> subprocess.Popen:
    return processes.start(["taskset", "-c", str(core), NGINX, "-p", f"{work}/", "-c", str(config),
                            "-e", str(work / "nginx-error.log")], log)


def check_same_bytes(kit: dict[str, Captured], nginx_port: int) -> None:
    for scenario in SCENARIOS:
        theirs = fetch(nginx_port, scenario)
        ours = kit[scenario.name]
        if (theirs.status, theirs.body, theirs.header("Location")) != (ours.status, ours.body, ours.header("Location")):
            sys.exit(f"bench: nginx does not serve the kit's {scenario.name} answer "
                     f"({theirs.status}, {len(theirs.body)} B vs {ours.status}, {len(ours.body)} B)")


# --- wrk ---------------------------------------------------------------------------------------------------

LATENCY_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> WrkResult:
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    if rate is None or p99 is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_success = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                             (int(count) for count in sockets.groups()), strict=True)) if sockets else {}
    return WrkResult(float(rate.group(1)), float(p99.group(1)) * LATENCY_UNITS_MS[p99.group(2)],
                     int(total.group(1)), int(non_success.group(1)) if non_success else 0, socket_errors)


def run_wrk(port: int, scenario: Scenario, seconds: int, core: int) -> WrkResult:
    argv = ["taskset", "-c", str(core), "wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s",
            "--latency"]
    if scenario.host:
        argv += ["-H", f"Host: {scenario.host}"]
    argv.append(f"http://{HOST}:{port}{scenario.path}")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return parse_wrk(done.stdout)


def describe_errors(server: str, scenario: Scenario, result: WrkResult) -> str | None:
    errors = {name: count for name, count in result.socket_errors.items() if count}
    if not errors and not result.non_success:
        return None
    parts = [f"{name} {count}" for name, count in errors.items()]
    if result.non_success:
        parts.append(f"non-2xx/3xx {result.non_success}")
    warning = "  <-- large share, figures unreliable" if result.error_share > 0.01 else ""
    return (f"  {server} {scenario.name}: {', '.join(parts)} of {result.requests} requests "
            f"({result.error_share:.1%}){warning}")


# --- report ------------------------------------------------------------------------------------------------

def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def print_report(results: dict[tuple[str, str], WrkResult], answers: dict[str, Captured],
                 memory: dict[str, tuple[list[float], float]]) -> None:
    print()
    print(f"{'':16}{'server':>10}{'req/s':>10}{'p99 ms':>9}{'/nginx':>8}")
    for scenario in SCENARIOS:
        label = f"{scenario.name} ({answers[scenario.name].status})"
        nginx = results["nginx", scenario.name]
        for server in SERVERS:
            result = results[server, scenario.name]
            print(f"{label:16}{server:>10}{result.requests_per_second:>10.0f}{result.p99_ms:>9.2f}"
                  f"{result.requests_per_second / nginx.requests_per_second:>8.3f}")
            label = ""
    for server, (peaks, pss) in memory.items():
        print(f"\n{server} memory: peak RSS {' + '.join(f'{mb:.1f}' for mb in peaks)} MB "
              f"(supervisor{' + worker' if len(peaks) > 1 else ''}), PSS summed {pss:.1f} MB", end="")
    print()
    errors = [line for (server, name), result in results.items()
              if (line := describe_errors(server, next(s for s in SCENARIOS if s.name == name), result))]
    print("wrk errors:" if errors else "wrk errors: none")
    for line in errors:
        print(line)
    print("\ntargets (kiosk serve):")
    for scenario in SCENARIOS:
        kit, nginx = results["kit", scenario.name], results["nginx", scenario.name]
        ratio, goal = kit.requests_per_second / nginx.requests_per_second, TARGET_RATIOS[scenario.name]
        print(f"  {scenario.name} /nginx ≥ {goal:g}{'':8}{ratio:8.3f}     {verdict(ratio >= goal)}")
        print(f"  {scenario.name} p99 ≤ {TARGET_P99_MS:g} ms{'':6}{kit.p99_ms:8.2f} ms  "
              f"{verdict(kit.p99_ms <= TARGET_P99_MS)}")
    peaks, pss = memory["kit"]
    print(f"  peak RSS ≤ {TARGET_RSS_MB:g} MB{'':7}{max(peaks):8.1f} MB  {verdict(max(peaks) <= TARGET_RSS_MB)}"
          "  (the largest process's)")
    print(f"  PSS summed ≤ {TARGET_RSS_MB:g} MB{'':5}{pss:8.1f} MB  {verdict(pss <= TARGET_RSS_MB)}"
          "  (the kit's whole share: pages the fork shares counted once)")


def print_pi_report(results: dict[str, WrkResult], share: float) -> None:
    print(f"\nkiosk serve at a Raspberry Pi 4 core's speed (CPU cgroup: {share:g} of one core):")
    for scenario in SCENARIOS:
        result = results[scenario.name]
        print(f"  {scenario.name:8} {result.requests_per_second:8.0f} req/s   p99 {result.p99_ms:7.2f} ms")


# --- main --------------------------------------------------------------------------------------------------

SERVERS = ("kit", "waitress", "nginx")


def measure(seconds: int, load_core: int, ports: dict[str, int], servers: tuple[str, ...],
            progress: Callable[[str], None]) -> dict[tuple[str, str], WrkResult]:
    results = {}
    for scenario in SCENARIOS:
        for server in servers:
            progress(f"wrk {server} {scenario.name} ({seconds} s)")
            results[server, scenario.name] = run_wrk(ports[server], scenario, seconds, load_core)
    return results


def run(seconds: int, pi_share: float, work: Path, processes: Processes) -> None:
    server_core, load_core = pick_cores()
    ports = {"kit": free_port(), "dashboard": free_port(), "waitress": free_port(), "nginx": free_port()}

    def progress(message: str) -> None:
        print(f"... {message}", file=sys.stderr, flush=True)

    config = write_kit_config(work, ports["kit"], ports["dashboard"])
    upgrade_store(config)
    kit_log = work / "kit.log"
    kit = start_kit(processes, config, server_core, kit_log)
    wait_until_serving("the kit", kit, ports["kit"], kit_log)
    answers = {scenario.name: fetch(ports["kit"], scenario) for scenario in SCENARIOS}

    reference = work / "waitress"
    reference.mkdir()
    waitress_config = write_kit_config(reference, ports["waitress"], free_port())
    upgrade_store(waitress_config)
    waitress_log = work / "waitress.log"
    waitress = start_waitress_portal(processes, waitress_config, server_core, waitress_log)
    wait_until_serving("waitress", waitress, ports["waitress"], waitress_log)

    nginx_log = work / "nginx.log"
    nginx = start_nginx(processes, work, write_nginx_config(work, ports["nginx"], answers), server_core, nginx_log)
    wait_until_serving("nginx", nginx, ports["nginx"], nginx_log)
    check_same_bytes(answers, ports["nginx"])

    print(f"servers pinned to core {server_core}, wrk -t{WRK_THREADS} -c{CONNECTIONS} -d{seconds}s on core "
          f"{load_core}; kit pids {process_tree(kit.pid)}, waitress pid {waitress.pid}, nginx pid {nginx.pid}")
    for scenario in SCENARIOS:
        answer = answers[scenario.name]
        location = f", Location {answer.header('Location')}" if answer.header("Location") else ""
        print(f"  {scenario.name}: GET {scenario.path} Host {scenario.host or 'own address'} -> "
              f"{answer.status}, {len(answer.body)} B body{location}")
    results = measure(seconds, load_core, ports, SERVERS, progress)
    for name, process, log in (("the kit", kit, kit_log), ("waitress", waitress, waitress_log)):
        if process.poll() is not None:
            sys.exit(f"bench: {name} died during the run:\n{log.read_text(errors='replace')}")
    print_report(results, answers, {"kit": memory_mb(kit.pid), "waitress": memory_mb(waitress.pid)})

    cap = CpuCap(pi_share)
    why_not = cap.open()
    if why_not is not None:
        print(f"\nno Raspberry Pi 4 figures: {why_not}")
        return
    try:
        cap.add(kit.pid)
        capped = measure(seconds, load_core, ports, ("kit",), progress)
        print_pi_report({name: result for (_server, name), result in capped.items()}, pi_share)
    finally:
        cap.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="kiosk serve against waitress and nginx, same bytes, same CPU core")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run (default 10)")
    parser.add_argument("--pi-share", type=float, default=PI_SHARE,
                        help=f"share of one core standing for a Raspberry Pi 4 core (default {PI_SHARE})")
    parser.add_argument("--serve-waitress", metavar="CONFIG", help=argparse.SUPPRESS)  # the reference server
    args = parser.parse_args()
    if args.serve_waitress:
        serve_waitress(args.serve_waitress)
        return
    if args.seconds < 1:
        parser.error("--seconds must be at least 1")
    if not 0.01 <= args.pi_share <= 1:
        parser.error("--pi-share must be between 0.01 and 1")
    check_tools()
    sys.stdout.reconfigure(line_buffering=True)  # keeps the figures in order with the progress lines
    processes = Processes()
    work = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    try:
        run(args.seconds, args.pi_share, work, processes)
    except KeyboardInterrupt:
        sys.exit("bench: interrupted")
    finally:
        processes.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
