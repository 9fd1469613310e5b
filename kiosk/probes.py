"""Operating systems' connectivity probes (REFERENCE §2) and their exact success answers."""

from __future__ import annotations

from dataclasses import dataclass

APPLE_SUCCESS = "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"
FIREFOX_CANONICAL = '<meta http-equiv="refresh" content="0;url=https://support.mozilla.org/kb/captive-portal"/>'


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain"


@dataclass(frozen=True)
class Probe:
    system: str
    hosts: frozenset[str]
    answers: dict[str, Answer]  # path → success answer; "*" matches any path on these hosts


_ANDROID = Answer(204, "")

PROBES: tuple[Probe, ...] = (
    Probe("android", frozenset({
        "connectivitycheck.gstatic.com", "connectivitycheck.android.com", "clients1.google.com",
        "clients3.google.com", "www.google.com", "www.gstatic.com", "play.googleapis.com",
    }), {"/generate_204": _ANDROID, "/gen_204": _ANDROID}),
    Probe("apple", frozenset({
        "captive.apple.com", "www.apple.com", "www.appleiphonecell.com", "www.itools.info", "www.ibook.info",
        "www.airport.us", "www.thinkdifferent.us",
    }), {"*": Answer(200, APPLE_SUCCESS, "text/html")}),
    Probe("windows", frozenset({"www.msftconnecttest.com"}),
          {"/connecttest.txt": Answer(200, "Microsoft Connect Test")}),
    Probe("windows-legacy", frozenset({"www.msftncsi.com"}), {"/ncsi.txt": Answer(200, "Microsoft NCSI")}),
    Probe("firefox", frozenset({"detectportal.firefox.com"}), {
        "/canonical.html": Answer(200, FIREFOX_CANONICAL, "text/html"),
        "/success.txt": Answer(200, "success\n"),
    }),
)

# Names the kit's resolver always answers with its own address. They exist only for probing, so connected
# phones lose nothing; www.google.com or www.apple.com are probe hosts too but are real sites: not pinned.
PINNED_PROBE_NAMES: tuple[str, ...] = (
    "connectivitycheck.gstatic.com", "connectivitycheck.android.com", "clients1.google.com", "clients3.google.com",
    "captive.apple.com", "www.msftconnecttest.com", "www.msftncsi.com", "detectportal.firefox.com",
)

PROBE_HOSTS: frozenset[str] = frozenset().union(*(probe.hosts for probe in PROBES))
_BY_HOST = {host: probe for probe in PROBES for host in probe.hosts}


def bare_host(host_header: str) -> str:
    """``Host`` header without port, lower-cased, without a trailing dot."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


def match(host_header: str, path: str) -> tuple[Probe, Answer] | None:
    """The probe and its success answer when (host, path) is a known probe; None otherwise."""
    probe = _BY_HOST.get(bare_host(host_header))
    if probe is None:
        return None
    answer = probe.answers.get(path) or probe.answers.get("*")
    return (probe, answer) if answer else None
