"""The house's layering, read from the source: no import circle among kiosk's modules, and neither services nor
adapters import Flask (so the CLI, the timers and the dashboard reuse them)."""

from __future__ import annotations

import ast
from pathlib import Path

KIOSK = Path(__file__).resolve().parents[2] / "kiosk"


def module_name(path: Path) -> str:
    parts = path.relative_to(KIOSK.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(KIOSK.rglob("*.py"))}


def imported(tree: ast.Module, name: str, is_package: bool, known: dict[str, Path], late: bool = False) -> list[str]:
    """What a module imports when it is loaded: module-level statements, ``if`` and ``try`` blocks included,
    not those under ``if TYPE_CHECKING``; with ``late``, the imports inside functions too."""
    found: list[str] = []
    package = name if is_package else name.rpartition(".")[0]

    def visit(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, ast.Import):
                found.extend(alias.name for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom):
                base = statement.module or ""
                if statement.level:
                    anchor = package.rsplit(".", statement.level - 1)[0] if statement.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                submodules = [f"{base}.{alias.name}" for alias in statement.names if f"{base}.{alias.name}" in known]
                found.extend(submodules)
                if len(submodules) < len(statement.names):  # a name of the module itself, not a submodule
                    found.append(base)
            elif isinstance(statement, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(statement.test):
                    visit(statement.body)
                visit(statement.orelse)
            elif isinstance(statement, ast.Try):
                visit(statement.body)
                for handler in statement.handlers:
                    visit(handler.body)
                visit(statement.orelse)
                visit(statement.finalbody)

    visit([node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)] if late else tree.body)
    return found


def import_graph(late: bool = False) -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = imported(ast.parse(path.read_text(), str(path)), name, path.name == "__init__.py", known, late)
        graph[name] = {target for target in targets if target in known and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    trail: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = "open"
        trail.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*trail[trail.index(target):], target]
            if target not in state and (cycle := walk(target)):
                return cycle
        state[node] = "done"
        trail.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_the_cycle_finder_sees_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_sees_kiosks_imports():
    graph = import_graph()
    assert "kiosk.web.dashboard.common" in graph["kiosk.web.dashboard.work"]
    assert "kiosk.services.survey.content" in graph["kiosk.services.survey.rules"]


def test_no_import_circle_in_kiosk():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " → ".join(cycle or [])


def test_dashboard_pages_import_only_the_shared_helpers_of_the_dashboard():
    """Late imports (inside functions) included: a page that reached back to the dashboard's app or to
    kiosk.web.app would be a circle hidden by importing late."""
    graph = import_graph(late=True)
    pages = ("admin", "la_coop", "reports", "work")
    for shared in ("common", "charts", "labels", "formatting"):
        assert not {f"kiosk.web.dashboard.{page}" for page in (*pages, "app")} & graph[f"kiosk.web.dashboard.{shared}"]
    for page in pages:
        dashboard_imports = {target for target in graph[f"kiosk.web.dashboard.{page}"]
                             if target.startswith("kiosk.web.dashboard.")}
        assert dashboard_imports <= {f"kiosk.web.dashboard.{shared}" for shared in ("common", "charts", "labels",
                                                                                     "formatting")}, page
        assert "kiosk.web.app" not in graph[f"kiosk.web.dashboard.{page}"], page


def test_services_and_adapters_import_no_flask():
    offenders = []
    for name, path in modules().items():
        if not name.startswith(("kiosk.services", "kiosk.adapters")):
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):  # any import, even inside a function
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders.extend(f"{name}: {target}" for target in names
                             if target.split(".")[0] in ("flask", "werkzeug", "jinja2"))
    assert offenders == []


def test_adapters_import_no_services_nor_web():
    graph = import_graph()
    upward = [f"{name} → {target}" for name, targets in graph.items() if name.startswith("kiosk.adapters")
              for target in targets if target.startswith(("kiosk.services", "kiosk.web"))]
    assert upward == []
