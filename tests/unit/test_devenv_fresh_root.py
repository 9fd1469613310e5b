"""What `python3 -m kiosk.devenv test` decides before pytest starts, and the CI fresh-root stage's slice.

The stage itself (.ci/fresh_root.py, run by .ci/run) is the real proof on fresh Debian 12 and 13 roots; these
checks catch, in seconds, the mistakes that would only show there after a quarter of an hour.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from kiosk import devenv

REPO = Path(__file__).resolve().parents[2]


def load_fresh_root():
    spec = importlib.util.spec_from_file_location("fresh_root", REPO / ".ci" / "fresh_root.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("version", "affected"), [
    ((3, 11, 2), True),    # Debian 12's Python: pytest ends with an INTERNALERROR on a long traceback
    ((3, 11, 7), True),
    ((3, 11, 8), False),   # python/cpython#106905 fixed
    ((3, 12, 1), True),
    ((3, 12, 2), False),
    ((3, 13, 5), False),   # Debian 13's
    ((3, 10, 12), False),
])
def test_the_pythons_that_crash_pytest_on_a_traceback_are_recognised(version, affected):
    assert devenv.ast_recursion_bug(version) is affected


def test_on_an_affected_python_tracebacks_are_native_unless_the_user_chose(monkeypatch, capsys):
    monkeypatch.setattr(devenv.sys, "version_info", (3, 11, 2, "final", 0))
    assert devenv.traceback_style(["tests/unit"]) == ["--tb=native"]
    assert "--tb=native" in capsys.readouterr().out  # said, not done behind the user's back
    assert devenv.traceback_style(["--tb=short"]) == []
    assert devenv.traceback_style(["--tb", "line"]) == []
    monkeypatch.setattr(devenv.sys, "version_info", (3, 13, 5, "final", 0))
    assert devenv.traceback_style([]) == []


def test_a_missing_shared_library_brings_its_package(monkeypatch, tmp_path):
    """A minimal Debian root lacks libatomic1, which Playwright's node driver needs: devenv installs it."""
    (tmp_path / "lib" / "x86_64-linux-gnu").mkdir(parents=True)
    monkeypatch.setattr(devenv, "LIBRARY_FOLDERS", (str(tmp_path / "lib"),))
    monkeypatch.setattr(devenv.shutil, "which", lambda tool: f"/usr/bin/{tool}")  # every binary present
    asked: list[list[str]] = []
    monkeypatch.setattr(devenv, "apt_install", lambda packages, why: asked.append(packages) or True)
    devenv.ensure_system_tools()
    assert asked == [["libatomic1"]]
    (tmp_path / "lib" / "x86_64-linux-gnu" / "libatomic.so.1").write_bytes(b"")
    asked.clear()
    devenv.ensure_system_tools()
    assert asked == []


def test_every_test_of_the_fresh_root_slice_exists():
    """A renamed test would make the CI stage fail after a long install; caught here instead."""
    fresh_root = load_fresh_root()
    assert len(fresh_root.SLICE) >= 4
    for item in fresh_root.SLICE:
        path, _, name = item.partition("::")
        tree = ast.parse((REPO / path).read_text())
        names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert name in names, f"{item} is not a test any more"


def test_the_fresh_root_stage_runs_in_ci_after_the_suite():
    steps = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert any("kiosk.devenv test" in line for line in steps)
    assert steps[-1].endswith(".ci/fresh_root.py")
    assert load_fresh_root().RELEASES == ("bookworm", "trixie")


def test_trixie_runs_the_unit_tests_and_the_network_e2e_each_test_once():
    fresh_root = load_fresh_root()
    assert fresh_root.tests_for("bookworm") == list(fresh_root.SLICE)
    trixie = fresh_root.tests_for("trixie")
    assert "tests/unit" in trixie and "tests/integration/test_network_e2e.py" in trixie
    assert not any(test.startswith("tests/integration/test_network_e2e.py::") for test in trixie)
    assert any(test.startswith("tests/browser/") for test in trixie)  # the rest of the slice still runs
    for release, paths in fresh_root.RELEASE_SLICE.items():
        assert release in fresh_root.RELEASES
        for path in paths:
            assert (REPO / path).exists(), f"{path} ({release}) is not in the checkout"
