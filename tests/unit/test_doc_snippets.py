"""The code snippets the documentation includes run, and do what the page says they do."""

from __future__ import annotations

import runpy
import tempfile
from pathlib import Path

import pytest

import saas_core.models  # noqa: F401 - registers every table
from saas_core import migrations
from saas_core.db.base import metadata
from saas_core.db.postgres import VERSION_TABLE

ROOT = Path(__file__).resolve().parents[2]
CREATE_SCHEMA = ROOT / "examples" / "snippets" / "create_schema.py"


def test_data_model_page_includes_the_create_schema_snippet() -> None:
    page = (ROOT / "docs" / "data-model.md").read_text(encoding="utf-8")
    assert '--8<-- "examples/snippets/create_schema.py"' in page


def test_create_schema_snippet_creates_every_table_and_the_seat_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db_file = tmp_path / "snippet.sqlite3"
    monkeypatch.setenv("SAAS_CORE_EXAMPLE_DB", str(db_file))

    result = runpy.run_path(str(CREATE_SCHEMA), run_name="__main__")

    assert db_file.is_file()
    assert set(result["tables"]) == set(metadata.tables) | {VERSION_TABLE}
    assert result["views"] == ["tenant_seat_summary"]
    out = capsys.readouterr().out
    assert f"revision {migrations.heads()[0]}" in out
    assert f"{len(result['tables'])} tables:" in out
    assert "  tenant_members\n" in out


def test_create_schema_snippet_defaults_to_a_temporary_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SAAS_CORE_EXAMPLE_DB", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    result = runpy.run_path(str(CREATE_SCHEMA), run_name="__main__")

    db_path = Path(result["db_path"])
    assert db_path.is_file()
    assert db_path.parent.parent == tmp_path
    assert "users" in result["tables"]
    capsys.readouterr()
