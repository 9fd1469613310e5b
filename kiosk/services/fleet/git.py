"""Git and SSH as the fleet pull uses them: the kit's own key, the hub's pinned host key, nothing else.

Every git command runs with no user or system configuration (``GIT_CONFIG_GLOBAL=/dev/null``), never asks
for a password, and talks to the hub through ``ssh`` with ``StrictHostKeyChecking=yes`` against the pinned
``known_hosts``: a hub whose host key changed is refused, never "trusted on first use". One SSH connection
is shared by the fetch and the report's push (ControlMaster), which halves what a run costs on the 4G.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

GIT_TIMEOUT_S = 300  # a fetch on a slow 4G link; beyond that the run is cut and resumed next time


class GitError(Exception):
    """A git command failed; ``text`` is what it printed, for the plain message built from it."""

    def __init__(self, argv: Sequence[str], returncode: int, text: str) -> None:
        super().__init__(f"git {' '.join(argv)}: exit {returncode}: {text}")
        self.returncode = returncode
        self.text = text


@dataclass(frozen=True)
class GitSsh:
    key: Path
    known_hosts: Path
    control_dir: Path
    connect_timeout_s: int = 20

    def control_path(self) -> str:
        """Where the shared SSH connection's socket lives: a socket path is limited to 108 bytes."""
        path = str(self.control_dir / "ssh-%C")
        if len(path) + 40 < 100:
            return path
        digest = hashlib.sha256(str(self.control_dir).encode()).hexdigest()[:12]
        return f"/tmp/tkfleet-{digest}-%C"  # noqa: S108 - a socket named after this kit's state folder

    def command(self) -> str:
        options = {
            "IdentitiesOnly": "yes", "IdentityAgent": "none", "BatchMode": "yes",
            "StrictHostKeyChecking": "yes", "UserKnownHostsFile": str(self.known_hosts),
            "GlobalKnownHostsFile": "/dev/null", "UpdateHostKeys": "no",
            "ConnectTimeout": str(self.connect_timeout_s), "ServerAliveInterval": "15", "ServerAliveCountMax": "2",
            "ControlMaster": "auto", "ControlPath": self.control_path(), "ControlPersist": "10",
            "Compression": "yes", "LogLevel": "ERROR",
        }
        argv = ["ssh", "-F", "/dev/null", "-i", str(self.key)]
        for name, value in options.items():
            argv += ["-o", f"{name}={value}"]
        return shlex.join(argv)


def environment(ssh: GitSsh | None, home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0",
                "HOME": str(home), "LC_ALL": "C"})
    if ssh is not None:
        env["GIT_SSH_COMMAND"] = ssh.command()
    return env


def git(repo: Path, argv: Sequence[str], *, ssh: GitSsh | None = None, config: Sequence[str] = (),
        timeout: float = 60) -> str:
    """Run ``git -C repo argv`` and return its standard output; GitError when it fails."""
    options = [item for pair in (("-c", entry) for entry in config) for item in pair]
    try:
        done = subprocess.run(["git", "-C", str(repo), *options, *argv], capture_output=True, text=True,
                              timeout=timeout, env=environment(ssh, repo), check=False)
    except subprocess.TimeoutExpired:
        raise GitError(argv, -1, f"no answer within {timeout:.0f} s") from None
    if done.returncode != 0:
        raise GitError(argv, done.returncode, " ".join((done.stderr or done.stdout).split())[:400])
    return done.stdout


def make_key(path: Path, comment: str) -> bool:
    """The kit's own SSH key, made on the device (never in the image or the repository). False: it existed."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True, timeout=30)
    return True
