"""ansible-lint with the production profile finds nothing in playbooks/ (config: playbooks/.ansible-lint)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.system import unavailable

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
ANSIBLE_LINT = Path(sys.executable).parent / "ansible-lint"


@pytest.mark.system
def test_ansible_lint_production_profile_is_clean():
    if not ANSIBLE_LINT.exists():
        unavailable("ansible-lint is not installed in the virtual environment (a test dependency)")
    environment = {**os.environ, "PATH": f"{ANSIBLE_LINT.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                   "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"), "NO_COLOR": "1"}
    done = subprocess.run([str(ANSIBLE_LINT), "--profile", "production", "--offline", "--format", "pep8"],
                          cwd=PLAYBOOKS, capture_output=True, text=True, timeout=600, check=False, env=environment)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr
