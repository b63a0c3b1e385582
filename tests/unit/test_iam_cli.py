"""``saas-core iam sync`` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

import saas_core.models  # noqa: F401 - registers every table
from saas_core.cli import main
from saas_core.db.base import metadata
from saas_core.db.session import create_engine
from saas_core.iam.catalog import PERMISSIONS
from saas_core.iam.models import Permission


def test_iam_sync_fills_the_catalog_then_finds_nothing_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    engine = create_engine(url)
    metadata.create_all(engine)
    assert main(["iam", "sync", "--database-url", url]) == 0
    assert "roles added: owner, admin" in capsys.readouterr().out
    assert main(["iam", "sync", "--database-url", url]) == 0
    assert capsys.readouterr().out.strip() == "catalog already in sync"
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Permission)) == len(PERMISSIONS)
    engine.dispose()


def test_iam_sync_on_an_unmigrated_database_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert main(["iam", "sync", "--database-url", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("saas-core: error: iam sync failed (is the database migrated?)")
    assert "\n" not in err
