"""Core imports no web framework, and adapters hold no per-route code."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from saas_core.api.routes import build_routes

FRAMEWORKS = ("fastapi", "starlette", "flask", "werkzeug", "django")
ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"
#: A literal that looks like a URL path: "/health", "projects/<str:projectId>"...
ROUTE_LIKE = re.compile(r"^/[A-Za-z{<]|[A-Za-z0-9}>]/[A-Za-z{<]")
REGISTRATION_CALLS = {"add_api_route", "add_url_rule", "path", "re_path", "route", "api_route"}

IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
import saas_core
for info in pkgutil.walk_packages(saas_core.__path__, "saas_core."):
    if info.name == "saas_core.migrations.env":
        continue  # Alembic's entry script: runs inside an Alembic context, never imported
    importlib.import_module(info.name)
loaded = sorted(
    name for name in sys.modules
    if name.split(".")[0] in {"fastapi", "starlette", "flask", "werkzeug", "django"}
)
ours = [m for m in sys.modules if m.startswith("saas_core")]
print(json.dumps({"loaded": loaded, "modules": len(ours)}))
"""


def test_no_saas_core_module_loads_a_web_framework() -> None:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True, text=True, check=True
    ).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report["modules"] > 20  # the walk really imported the package
    assert report["loaded"] == []


def _adapter_files() -> list[Path]:
    files = sorted(ADAPTERS.glob("saas_core_*/*.py"))
    assert {f.parent.name for f in files} == {
        "saas_core_fastapi",
        "saas_core_flask",
        "saas_core_django",
    }
    return files


def _string_constants(tree: ast.AST) -> list[str]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


@pytest.mark.parametrize("source", _adapter_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_adapters_name_no_route(source: Path) -> None:
    tree = ast.parse(source.read_text())
    known = {route.path.strip("/") for route in build_routes()} - {""}
    for value in _string_constants(tree):
        assert not ROUTE_LIKE.search(value), value
        assert value.strip("/") not in known, value


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


@pytest.mark.parametrize("package", ["saas_core_fastapi", "saas_core_flask", "saas_core_django"])
def test_adapters_register_routes_in_one_loop_over_the_table(package: str) -> None:
    tree = ast.parse((ADAPTERS / package / "__init__.py").read_text())
    parents = _parents(tree)
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr in REGISTRATION_CALLS)
            or (isinstance(node.func, ast.Name) and node.func.id in REGISTRATION_CALLS)
        )
    ]
    assert calls, "the adapter registers no route at all"
    loops = set()
    for call in calls:
        node: ast.AST | None = call
        while node is not None and not (
            isinstance(node, ast.For)
            and isinstance(node.iter, ast.Attribute)
            and node.iter.attr == "paths"
        ):
            node = parents.get(id(node))
        assert node is not None, f"line {call.lineno}: registration outside the loop over the table"
        loops.add(id(node))
    assert len(loops) == 1
