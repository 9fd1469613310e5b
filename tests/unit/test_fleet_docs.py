"""The playbooks' variables are documented: every default in roles/kit_*/defaults/main.yml carries a comment,
is prefixed with its role's name, and appears in playbooks/README.md's table (generated from the defaults:
`.venv/bin/python tests/unit/test_fleet_docs.py` prints it). The example inventory resolves, vault included."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
README = PLAYBOOKS / "README.md"
EXAMPLE = PLAYBOOKS / "inventory" / "example"
START, END = "<!-- variables:start -->", "<!-- variables:end -->"


def documented_defaults() -> list[tuple[str, str, object, str]]:
    """(role, variable, default, comment) for every role default, in file order."""
    rows = []
    play = yaml.safe_load((PLAYBOOKS / "site.yml").read_text())[0]
    order = [entry["role"] if isinstance(entry, dict) else entry for entry in play["roles"]]
    for role in order:
        defaults = PLAYBOOKS / "roles" / role / "defaults" / "main.yml"
        values = yaml.safe_load(defaults.read_text()) or {}
        comment: list[str] = []
        for line in defaults.read_text().splitlines():
            if line.startswith("#"):
                comment.append(line.lstrip("# ").strip())
            elif re.match(r"^[a-z_]+:", line):
                name = line.split(":", 1)[0]
                rows.append((role, name, values[name], " ".join(comment)))
                comment = []
            elif not line.startswith((" ", "-")):
                comment = []
    return rows


def _default(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return f"`{text}`" if text else '`""`'


def table() -> str:
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for _role, name, value, comment in documented_defaults():
        lines.append(f"| `{name}` | {_default(value).replace('|', '&#124;')} | {comment.replace('|', '&#124;')} |")
    return "\n".join(lines) + "\n"


def test_every_default_is_prefixed_and_commented():
    rows = documented_defaults()
    assert len(rows) > 25
    assert {role for role, *_ in rows} == {path.name for path in PLAYBOOKS.glob("roles/kit_*")}
    for role, name, _value, comment in rows:
        assert name.startswith(f"{role}_"), f"{name} in {role} lacks the role's prefix"
        assert comment, f"{name} ({role}) has no comment saying what it does"


def test_the_readme_table_matches_the_defaults():
    text = README.read_text()
    assert START in text and END in text
    current = text.split(START, 1)[1].split(END, 1)[0].strip() + "\n"
    assert current == table(), "playbooks/README.md is stale: run .venv/bin/python tests/unit/test_fleet_docs.py"


def test_the_example_inventory_resolves_with_its_vault():
    ansible = Path(sys.executable).parent / "ansible"
    if not ansible.exists() and not shutil.which("ansible"):
        from tests.support.system import unavailable

        unavailable("ansible-core is not installed in the virtual environment")
    done = subprocess.run(
        [str(ansible), "kits", "-i", str(EXAMPLE), "--vault-password-file", str(EXAMPLE / "vault-password.example"),
         "-m", "ansible.builtin.debug", "-a",
         "msg={{ [kit_kiosk_ssid, kit_kiosk_monthly_cap_mb, kit_area, kit_secrets_dashboard_password | length] }}"],
        capture_output=True, text=True, timeout=120, check=False, cwd=PLAYBOOKS,
        env={"ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "PATH": "/usr/bin:/bin",
             "HOME": str(Path.home())})
    assert done.returncode == 0, done.stdout + done.stderr
    found = dict(re.findall(r'^(kit-[a-z0-9-]+) \| SUCCESS => \{\s*"msg": (\[[^\]]*\])', done.stdout, re.MULTILINE))
    assert set(found) == {"kit-lyon-1", "kit-lyon-2", "kit-ardeche-1"}
    ssid, cap, area, password_length = json.loads(found["kit-lyon-1"])
    assert (ssid, cap, area) == ("Point numerique Lyon 8e", 20000, "Lyon 8e") and password_length > 8
    assert json.loads(found["kit-ardeche-1"])[3] == 0, "a kit absent from the vault makes its password at first boot"
    assert "$ANSIBLE_VAULT" in (EXAMPLE / "group_vars/kits/vault.yml").read_text(), "the vault stays encrypted"


if __name__ == "__main__":
    sys.stdout.write(table())
