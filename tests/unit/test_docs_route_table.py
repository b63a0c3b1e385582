"""``docs/http-api.md`` states what the code does: its tables are the generated ones, and the
program it includes runs and answers what the page shows."""

from __future__ import annotations

import importlib.util
import json
import re
import runpy
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from saas_core.api.routes import build_routes

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "http-api.md"
SCRIPT = ROOT / "scripts" / "route_table.py"
SNIPPET = ROOT / "examples" / "snippets" / "http_quickstart.py"
STALE = "docs/http-api.md is out of date: run `python scripts/route_table.py --write`"


@pytest.fixture(scope="module")
def route_table() -> ModuleType:
    """``scripts/route_table.py``, imported from its file (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("route_table_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["route-table", "error-table"])
def test_the_page_holds_the_generated_block(route_table: ModuleType, page: str, name: str) -> None:
    held = route_table.page_block(page, name)
    assert held is not None, f"{STALE} (the markers of {name} are missing)"
    assert held == route_table.block(name), STALE


def test_the_route_table_has_one_row_per_route(route_table: ModuleType) -> None:
    table = build_routes()
    rows = route_table.route_table(table).splitlines()[2:]
    assert len(rows) == len(table)
    for route, row in zip(table, rows, strict=True):
        assert row.startswith(f"| `{route.method}` | `{route.path}` |")
        assert ("| yes |" in row) is route.idempotent
        if route.audit_action:
            assert f"`{route.audit_action}`" in row


def test_refresh_rewrites_a_stale_block_and_keeps_the_rest(route_table: ModuleType) -> None:
    stale = "\n".join(
        ["intro"]
        + [
            f"{route_table.start_marker(n)}\nold\n{route_table.end_marker(n)}"
            for n in ("route-table", "error-table")
        ]
        + ["outro"]
    )
    fresh = route_table.refresh(stale)
    assert fresh.startswith("intro\n")
    assert fresh.endswith("\noutro")
    assert "\nold\n" not in fresh
    assert route_table.page_block(fresh, "route-table") == route_table.block("route-table")
    with pytest.raises(ValueError, match="route-table"):
        route_table.refresh("no markers here")


def test_the_error_table_lists_request_errors_but_not_start_up_ones(
    route_table: ModuleType,
) -> None:
    table = route_table.error_table()
    assert "| 404 | `project.not_found` | Project not found | `ProjectNotFound` |" in table
    assert "`Forbidden`, `PermissionDenied`" in table
    assert "config." not in table


def test_the_page_includes_the_quickstart_sections(page: str) -> None:
    for section in ("app", "flow", "errors", "cookies"):
        assert f'--8<-- "examples/snippets/http_quickstart.py:{section}"' in page
        source = SNIPPET.read_text(encoding="utf-8")
        assert f"# --8<-- [start:{section}]" in source
        assert f"# --8<-- [end:{section}]" in source


def _json_blocks(page: str) -> list[Any]:
    blocks = []
    for text in re.findall(r"```json\n(.*?)```", page, flags=re.DOTALL):
        try:
            blocks.append(json.loads(text))
        except ValueError:
            continue  # an abbreviated example ("...")
    return blocks


def test_the_quickstart_runs_and_answers_what_the_page_shows(
    page: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    result = runpy.run_path(str(SNIPPET), run_name="__main__")

    results = result["results"]
    assert len(list(tmp_path.glob("saas-core-*/app.sqlite3"))) == 1
    assert results["login"]["token_type"] == "bearer"
    assert results["page"] == {"items": [results["project"]], "next_cursor": None}
    # The problem bodies shown on the page are the ones the API answers, byte for byte in JSON.
    shown = _json_blocks(page)
    assert results["invalid"] in shown
    assert results["missing"] in shown
    assert [e["loc"] for e in results["invalid"]["errors"]] == [
        ["body", "name"],
        ["body", "colour"],
    ]
    # Cookie mode sets what the page's cookie table says.
    session_cookie, csrf_cookie = results["set_cookie"]
    assert session_cookie.startswith("__Host-session=")
    assert session_cookie.endswith("; Path=/; Secure; HttpOnly; SameSite=Lax")
    assert csrf_cookie.startswith("__Host-csrftoken=")
    assert csrf_cookie.endswith("; Path=/; Secure; SameSite=Lax")
    assert results["csrf_refused"]["code"] == "auth.csrf_failed"
    out = capsys.readouterr().out
    assert "signed in as ada@example.com" in out
    assert '"code": "project.not_found"' in out
