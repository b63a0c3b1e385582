"""The shipped migrations build the whole schema, go down and up again, and never drift."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import saas_core.models  # noqa: F401 - registers every table
from saas_core import migrations
from saas_core.db.base import metadata
from saas_core.db.postgres import APPEND_ONLY_FUNCTION, PARTITIONS_FUNCTION, VERSION_TABLE
from saas_core.db.session import create_engine
from saas_core.errors import (
    ConfigurationError,
    DatabaseUnreachable,
    MigrationFailed,
    SchemaTooNew,
    UnknownRevision,
)
from tests.support.databases import TestDatabase, empty_postgres_database

HEAD = "0001_initial_schema"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a brand-new empty database (a file on SQLite, a scratch database on PG)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    request.getfixturevalue("postgres_scratch")  # skips, or fails under CI, when PG is down
    with empty_postgres_database() as url:
        yield url


def _execute(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _scalar(url: str, sql: str) -> object:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(sql).scalar()
    finally:
        engine.dispose()


def test_heads_is_the_initial_revision() -> None:
    assert migrations.heads() == (HEAD,)


def test_upgrade_creates_the_whole_schema(db: TestDatabase) -> None:
    with db.engine.connect() as conn:
        inspector = sa.inspect(conn)
        tables = set(inspector.get_table_names())
        views = set(inspector.get_view_names())
    missing = set(metadata.tables) - tables
    assert not missing, f"tables the migration did not create: {sorted(missing)}"
    assert VERSION_TABLE in tables
    assert "alembic_version" not in tables  # the host application's table stays theirs
    assert "tenant_seat_summary" in views
    assert migrations.current(db.url) == HEAD


def test_models_and_migrations_do_not_drift(db: TestDatabase) -> None:
    assert migrations.check(db.url) == []


def test_upgrade_downgrade_base_upgrade_round_trip(empty_url: str) -> None:
    assert migrations.current(empty_url) is None
    migrations.upgrade(empty_url)
    assert set(metadata.tables) <= _tables(empty_url)
    assert migrations.check(empty_url) == []

    migrations.downgrade(empty_url, "base")
    assert migrations.current(empty_url) is None
    assert _tables(empty_url) == {VERSION_TABLE}
    if empty_url.startswith("postgresql"):
        assert _scalar(empty_url, "SELECT count(*) FROM pg_type WHERE typtype = 'e'") == 0
        assert (
            _scalar(
                empty_url,
                "SELECT count(*) FROM pg_proc WHERE proname IN"
                f" ('{APPEND_ONLY_FUNCTION}', '{PARTITIONS_FUNCTION}')",
            )
            == 0
        )
        assert _scalar(empty_url, "SELECT count(*) FROM pg_views WHERE schemaname = 'public'") == 0

    migrations.upgrade(empty_url)
    assert migrations.current(empty_url) == HEAD
    assert migrations.check(empty_url) == []


def test_check_reports_a_column_added_outside_the_migrations(empty_url: str) -> None:
    migrations.upgrade(empty_url)
    _execute(empty_url, "ALTER TABLE projects ADD COLUMN colour VARCHAR(20)")

    differences = migrations.check(empty_url)

    assert differences == ["remove_column projects.colour"]


def test_check_reports_a_missing_index(empty_url: str) -> None:
    migrations.upgrade(empty_url)
    _execute(empty_url, "DROP INDEX ix_tenant_members_user_id")

    assert migrations.check(empty_url) == ["add_index ix_tenant_members_user_id on tenant_members"]


def test_check_on_an_unmigrated_database_says_so(empty_url: str) -> None:
    assert migrations.check(empty_url) == [
        f"database is at revision base, saas-core's head is {HEAD}"
    ]


def test_host_application_tables_and_history_are_left_alone(empty_url: str) -> None:
    _execute(
        empty_url,
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('host_0042')",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)",
    )

    migrations.upgrade(empty_url)

    assert _scalar(empty_url, "SELECT version_num FROM alembic_version") == "host_0042"
    assert migrations.check(empty_url) == []  # the host's tables are not saas-core's drift
    migrations.downgrade(empty_url, "base")
    assert _tables(empty_url) == {VERSION_TABLE, "alembic_version", "orders"}


def test_failed_upgrade_leaves_no_partial_schema(empty_url: str) -> None:
    # A host table squatting on a saas-core name makes the upgrade fail half-way through.
    _execute(empty_url, "CREATE TABLE tenant_members (id INTEGER PRIMARY KEY)")

    with pytest.raises(MigrationFailed, match="rolled back") as failure:
        migrations.upgrade(empty_url)

    assert "\n" not in str(failure.value)
    assert _tables(empty_url) == {"tenant_members"}
    assert migrations.current(empty_url) is None


def test_database_at_an_unknown_newer_revision_is_refused(empty_url: str) -> None:
    migrations.upgrade(empty_url)
    _execute(empty_url, f"UPDATE {VERSION_TABLE} SET version_num = 'f00dfeed_from_the_future'")

    with pytest.raises(SchemaTooNew, match="f00dfeed_from_the_future"):
        migrations.upgrade(empty_url)
    with pytest.raises(SchemaTooNew):
        migrations.downgrade(empty_url, "base")
    with pytest.raises(SchemaTooNew):
        migrations.check(empty_url)
    assert migrations.current(empty_url) == "f00dfeed_from_the_future"


def test_unknown_target_revision(empty_url: str) -> None:
    with pytest.raises(UnknownRevision, match="nonsense"):
        migrations.upgrade(empty_url, "nonsense")


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("not a url", ConfigurationError),
        ("postgresql://user@host:notaport/db", ConfigurationError),
        ("mysql://user@localhost/db", ConfigurationError),
        ("postgresql://127.0.0.1:1/nowhere", DatabaseUnreachable),
        ("sqlite:////nonexistent-directory/x.sqlite3", DatabaseUnreachable),
    ],
)
def test_bad_urls_raise_one_line_configuration_errors(
    url: str, error: type[ConfigurationError]
) -> None:
    with pytest.raises(error) as raised:
        migrations.upgrade(url)
    assert isinstance(raised.value, ConfigurationError)
    assert "\n" not in str(raised.value)


def test_host_autogenerate_recipe_ignores_saas_core_objects(empty_url: str) -> None:
    """The ``include_object`` a host app's env.py uses keeps saas-core out of its revisions."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from saas_core.migrations import is_saas_core_object

    migrations.upgrade(empty_url)
    _execute(
        empty_url, "CREATE TABLE orders (id INTEGER NOT NULL PRIMARY KEY, total INTEGER NOT NULL)"
    )
    host = sa.MetaData()
    sa.Table(
        "orders",
        host,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("total", sa.Integer, nullable=False),
    )

    def include_object(obj: object, name: str | None, type_: str, *_: object) -> bool:
        return not is_saas_core_object(obj, name, type_)

    engine = create_engine(empty_url)
    try:
        with engine.connect() as conn:
            unfiltered = compare_metadata(MigrationContext.configure(conn), host)
            context = MigrationContext.configure(conn, opts={"include_object": include_object})
            filtered = compare_metadata(context, host)
    finally:
        engine.dispose()
    assert any(diff[0] == "remove_table" for diff in unfiltered)  # without the recipe
    assert filtered == []


def test_check_reports_a_changed_column_type_on_postgresql(
    request: pytest.FixtureRequest,
) -> None:
    request.getfixturevalue("postgres_scratch")  # skips, or fails under CI, when PG is down
    with empty_postgres_database() as url:
        migrations.upgrade(url)
        _execute(url, "ALTER TABLE projects ALTER COLUMN name TYPE VARCHAR(50)")

        differences = migrations.check(url)

    assert len(differences) == 1
    assert differences[0].startswith("modify_type projects.name: VARCHAR(length=50)")


def test_check_reports_enum_values_that_differ_on_postgresql(
    request: pytest.FixtureRequest,
) -> None:
    request.getfixturevalue("postgres_scratch")  # skips, or fails under CI, when PG is down
    with empty_postgres_database() as url:
        migrations.upgrade(url)
        _execute(url, "ALTER TYPE tenant_status ADD VALUE 'frozen'")

        differences = migrations.check(url)

    assert differences == [
        "modify_enum tenant_status: ['active', 'suspended', 'archived', 'frozen']"
        " -> ['active', 'suspended', 'archived']"
    ]
