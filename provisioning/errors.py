"""What can go wrong with a tablet, worded for the mediator and free of personal data.

A `DeviceProblem`'s reason is stored in the audit log and shown on the dashboard: it names a step, a count
or a location category, never a participant's file name, Wi-Fi name or any output of the device.
"""

from __future__ import annotations


class ProvisionError(Exception):
    """A request the kit cannot carry out as asked (unknown tablet, wrong status…); exit code 1."""


class UsageError(ProvisionError):
    """Bad arguments; exit code 2."""


class DeviceProblem(Exception):
    """The tablet could not be driven or proven clean; it goes to needs-attention with this reason."""

    transient = False

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Unreachable(DeviceProblem):
    """No connection, or the connection dropped: worth another attempt after a pause."""

    transient = True


class HostKeyRefused(DeviceProblem):
    """The laptop did not prove it is the one enrolled (unknown or changed SSH host key)."""


class StepFailed(DeviceProblem):
    """A wipe or lend step returned an error."""


class StepTimeout(DeviceProblem):
    """A step took longer than tablets.step_timeout_seconds."""


def explain_failure(label: str, status: int | None, stderr: str) -> DeviceProblem:
    """Turn a failed remote command into a reason; the device's own words may hold file names, so only
    well-known causes are named and the rest is the exit status."""
    lowered = stderr.lower()
    if "no space left on device" in lowered or "disk quota exceeded" in lowered:
        return StepFailed(f"the tablet's disk is full ({label})")
    if "read-only file system" in lowered:
        return StepFailed(f"the tablet's disk is read-only ({label})")
    if "permission denied" in lowered or "operation not permitted" in lowered:
        return StepFailed(f"permission denied while {label}")
    return StepFailed(f"{label} failed (exit status {status})")
