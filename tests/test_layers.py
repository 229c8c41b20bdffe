"""The import direction areas -> services -> models holds: no service module (walked through every package of
relance/services/, function bodies included) imports Flask's `request` or `session`, an area package (a
blueprint: relance.reminders, relance.invoices, ...) or the task queue (relance.tasks). A service gets what a
request knows as arguments, and what must be queued as a callable."""

from __future__ import annotations

import ast
from pathlib import Path

import relance

ROOT = Path(relance.__file__).parent
SERVICES = ROOT / "services"
AREAS = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name not in ("services", "models"))
FORBIDDEN_FLASK = {"request", "session"}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of everything the module imports, `from a import b` giving `a.b`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(path: Path) -> list[str]:
    bad = []
    for line, name in imports(path):
        parts = name.split(".")
        wrong = (
            parts[0] == "flask" and len(parts) > 1 and parts[1] in FORBIDDEN_FLASK
            or parts[0] == "relance" and len(parts) > 1 and (parts[1] in AREAS or parts[1] == "tasks")
        )
        if wrong:
            bad.append(f"{path.name}:{line} imports {name}" if not path.is_relative_to(ROOT)
                       else f"{path.relative_to(ROOT.parent)}:{line} imports {name}")
    return bad


def test_the_areas_are_found():
    assert {"reminders", "invoices", "admin", "api", "customers", "imports"} <= set(AREAS)


def test_services_import_no_request_no_area_no_tasks():
    packages = [p for p in SERVICES.iterdir() if (p / "__init__.py").exists()]
    assert {p.name for p in packages} >= {"engine", "sending", "letters", "data_in", "texts"}
    modules = list(SERVICES.rglob("*.py"))
    assert len(modules) > 25
    problems = [problem for module in modules for problem in violations(module)]
    assert not problems, "\n".join(problems)


# which service packages each package may not import (the others, and the top-level services, it may)
NOT_FROM = {
    "engine": {"sending", "letters", "data_in", "texts"},
    "texts": {"sending", "letters", "data_in"},
    "letters": {"sending", "data_in"},
    "data_in": {"sending", "letters"},
}


def test_service_packages_import_in_one_direction():
    problems = []
    for package, banned in NOT_FROM.items():
        for module in (SERVICES / package).rglob("*.py"):
            for line, name in imports(module):
                parts = name.split(".")
                if parts[:2] == ["relance", "services"] and len(parts) > 2 and parts[2] in banned:
                    problems.append(f"{module.relative_to(ROOT.parent)}:{line} imports {name}")
    assert not problems, "\n".join(problems)


def test_only_runs_commit_and_they_say_so():
    """The commit rule (DEVELOPERS.md): a service leaves the commit to its caller, except the functions that work
    in steps that must each be durable (claims, hand-over, outcomes: in sending/), which say so in their docstring
    ("commits"); `service_state.put` writes on its own connection."""
    problems = []
    for module in SERVICES.rglob("*.py"):
        text = module.read_text()
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef) and ".commit()" in (ast.get_source_segment(text, node) or ""):
                where = f"{module.relative_to(ROOT.parent)}:{node.lineno} {node.name}"
                if module.parent.name != "sending" and module.name != "service_state.py":
                    problems.append(f"{where} commits outside sending/")
                elif not node.name.startswith("_") and "commit" not in (ast.get_docstring(node) or "").lower():
                    problems.append(f"{where} commits without saying so")
    assert not problems, "\n".join(problems)


def test_the_walk_catches_what_it_must(tmp_path):
    """The checker itself: lazy imports inside a function are caught like top-level ones; a service may import
    another service."""
    bad = tmp_path / "probe.py"
    bad.write_text("def f():\n    from flask import request\n    from relance import tasks\n"
                   "    import relance.reminders.routes\n    from relance.services import audit\n"
                   "    from flask import current_app\n")
    assert [v.split(" imports ")[1] for v in violations(bad)] == [
        "flask.request", "relance.tasks", "relance.reminders.routes"]
