"""``saas-core db ...``: exit codes, one-line errors, and the happy path on a SQLite file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from saas_core import migrations
from saas_core.cli import COMMANDS, build_parser, main
from saas_core.db.postgres import VERSION_TABLE

HEAD = migrations.heads()[0]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'cli.sqlite3'}"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2
    assert err.startswith("saas-core: error: ")
    assert err.count("\n") == 1, err
    assert fragment in err


def test_upgrade_then_current_on_a_sqlite_file(
    capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    assert _run(capsys, "db", "upgrade", "--database-url", sqlite_url)[0] == 0
    code, out, err = _run(capsys, "db", "current", "--database-url", sqlite_url)
    assert (code, out.strip(), err) == (0, HEAD, "")
    code, out, _ = _run(capsys, "db", "check", "--database-url", sqlite_url)
    assert code == 0
    assert "no differences" in out
    assert _run(capsys, "db", "downgrade", "base", "--database-url", sqlite_url)[0] == 0
    assert _run(capsys, "db", "current", "--database-url", sqlite_url)[1].strip() == "base"


def test_console_entry_point_in_a_subprocess(sqlite_url: str) -> None:
    upgrade = subprocess.run(
        [sys.executable, "-m", "saas_core.cli", "db", "upgrade", "--database-url", sqlite_url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    current = subprocess.run(
        [sys.executable, "-m", "saas_core.cli", "db", "current", "--database-url", sqlite_url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (current.returncode, current.stdout.strip()) == (0, HEAD)


def test_database_url_comes_from_the_environment(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAAS_CORE_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("SAAS_CORE_MIGRATION_DATABASE_URL", raising=False)
    assert _run(capsys, "db", "upgrade")[0] == 0
    assert _run(capsys, "db", "current")[1].strip() == HEAD


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("this is not a url", "malformed database URL"),
        ("postgresql://app@db.example:port/app", "malformed database URL"),
        ("mysql://app@localhost/app", "unsupported database 'mysql'"),
        ("postgresql://127.0.0.1:1/x", "cannot connect to postgresql+psycopg://127.0.0.1:1/x"),
    ],
)
@pytest.mark.parametrize("action", ["upgrade", "current", "check"])
def test_bad_or_unreachable_database_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], action: str, url: str, fragment: str
) -> None:
    code, out, err = _run(capsys, "db", action, "--database-url", url)
    _assert_one_line_error(code, err, fragment)
    assert out == ""


def test_password_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        capsys, "db", "upgrade", "--database-url", "postgresql://u:s3cret@127.0.0.1:1/x"
    )
    _assert_one_line_error(code, err, "cannot connect")
    assert "s3cret" not in err


def test_database_at_a_newer_revision_is_refused(
    capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    migrations.upgrade(sqlite_url)
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version_num = 'abc123_future'")
    engine.dispose()

    for action in (["upgrade"], ["check"], ["downgrade", "base"]):
        code, _, err = _run(capsys, "db", *action, "--database-url", sqlite_url)
        _assert_one_line_error(code, err, "revision 'abc123_future'")
    code, out, _ = _run(capsys, "db", "current", "--database-url", sqlite_url)
    assert (code, out.strip()) == (0, "abc123_future")


def test_check_exits_1_on_drift(capsys: pytest.CaptureFixture[str], sqlite_url: str) -> None:
    migrations.upgrade(sqlite_url)
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE tenants ADD COLUMN colour VARCHAR(20)")
    engine.dispose()

    code, out, _ = _run(capsys, "db", "check", "--database-url", sqlite_url)

    assert code == 1
    assert out.strip() == "remove_column tenants.colour"


def test_unknown_revision_and_grant_on_sqlite_are_exit_2(
    capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    code, _, err = _run(capsys, "db", "downgrade", "nonsense", "--database-url", sqlite_url)
    _assert_one_line_error(code, err, "nonsense")
    code, _, err = _run(capsys, "db", "grant", "--role", "app", "--database-url", sqlite_url)
    _assert_one_line_error(code, err, "PostgreSQL only")


def test_downgrade_needs_a_revision(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["db", "downgrade", "--database-url", "sqlite://"])
    assert exited.value.code == 2
    assert "revision" in capsys.readouterr().err


def test_commands_register_through_the_table() -> None:
    assert "db" in COMMANDS
    help_text = build_parser().format_help()
    assert "db" in help_text
