"""saas-core's Alembic migrations, shipped in the package, and the Python API that runs them.

::

    from saas_core import migrations

    migrations.upgrade("postgresql+psycopg://owner@db/app")   # or "sqlite:///app.sqlite3"
    migrations.current(url)      # the revision the database is at, or None
    migrations.check(url)        # [] when the database matches the models
    migrations.downgrade(url, "base")

No ``alembic.ini`` is involved: :func:`alembic_config` builds the configuration in code, with the
script location inside this package. saas-core records its revision in its own version table,
``saas_core_alembic_version``, so a host application's Alembic history (``alembic_version``) lives
beside it in the same database. A host application:

1. runs ``saas-core db upgrade`` (or :func:`upgrade`) before its own ``alembic upgrade head``; its
   own revisions may then refer to saas-core tables (a foreign key to ``users.id``...);
2. keeps saas-core's tables out of its own autogenerate, in its ``env.py``::

       from saas_core.migrations import is_saas_core_object

       def include_object(obj, name, type_, reflected, compare_to):
           return not is_saas_core_object(obj, name, type_)

       context.configure(..., include_object=include_object)

On PostgreSQL an upgrade or downgrade runs in ONE transaction (PostgreSQL's DDL is
transactional), so a failure leaves the schema exactly as it was. On SQLite the same single
transaction is used and SQLite rolls back ``CREATE``/``DROP`` too; what SQLite cannot do inside a
transaction (switching ``PRAGMA foreign_keys``, which batch table rebuilds of later revisions may
want) is skipped there, so such a revision re-checks foreign keys itself.

Every expected failure raises a :class:`~saas_core.errors.ConfigurationError` leaf with a
one-line message: malformed URL or unsupported database (:class:`ConfigurationError`), database
unreachable (:class:`~saas_core.errors.DatabaseUnreachable`), database at a revision this release
does not know (:class:`~saas_core.errors.SchemaTooNew`), unknown target revision
(:class:`~saas_core.errors.UnknownRevision`), a migration step that failed and was rolled back
(:class:`~saas_core.errors.MigrationFailed`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, Engine

from saas_core.db.postgres import PARTITIONED_TABLES, VERSION_TABLE
from saas_core.errors import (
    ConfigurationError,
    DatabaseError,
    DatabaseUnreachable,
    MigrationFailed,
    SchemaTooNew,
    UnknownRevision,
)

__all__ = [
    "VERSION_TABLE",
    "alembic_config",
    "check",
    "context_options",
    "current",
    "downgrade",
    "heads",
    "is_saas_core_object",
    "transaction",
    "upgrade",
]

SCRIPT_LOCATION = Path(__file__).resolve().parent

_PARTITION_NAME = re.compile(
    "(?:{})_(?:p[0-9]{{4}}_[0-9]{{2}}|default)".format("|".join(map(re.escape, PARTITIONED_TABLES)))
)

#: Views saas-core creates in migrations; autogenerate must neither create nor drop them.
VIEW_NAMES = frozenset({"tenant_seat_summary"})

IncludeObject = Callable[[Any, str | None, str, bool, Any], bool]


def target_metadata() -> sa.MetaData:
    """The metadata of every saas-core table (importing all model modules first)."""
    import saas_core.models  # noqa: F401 - registers every table
    from saas_core.db.base import metadata

    return metadata


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic :class:`~alembic.config.Config` for saas-core's migrations, without a file."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("version_table", VERSION_TABLE)
    if url is not None:
        text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", text.replace("%", "%%"))
    return config


def _is_view(obj: Any, name: str | None) -> bool:
    info = getattr(obj, "info", None) or {}
    return name in VIEW_NAMES or bool(info.get("is_view"))


def _table_name(obj: Any, name: str | None, type_: str) -> str | None:
    if type_ == "table":
        return name
    table = getattr(obj, "table", None)
    return getattr(table, "name", None)


def is_saas_core_object(obj: Any, name: str | None, type_: str) -> bool:
    """True when an autogenerate object (table, column, index...) belongs to saas-core."""
    metadata = target_metadata()
    table = _table_name(obj, name, type_)
    if table is None:
        return False
    if table in metadata.tables or table in VIEW_NAMES or table == VERSION_TABLE:
        return True
    # Monthly partitions (<table>_pYYYY_MM, <table>_default) of saas-core's partitioned tables.
    return _PARTITION_NAME.fullmatch(table) is not None


def _ddl_applies(obj: Any, dialect: str) -> bool:
    ddl_if = getattr(obj, "_ddl_if", None)
    if ddl_if is None or ddl_if.dialect is None:
        return True
    wanted = ddl_if.dialect
    return dialect == wanted if isinstance(wanted, str) else dialect in wanted


def include_object_for(dialect: str) -> IncludeObject:
    """The autogenerate filter: saas-core's own objects only, minus views and other dialects'."""
    metadata = target_metadata()

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if _is_view(obj, name) or _is_view(compare_to, name):
            return False
        table = _table_name(obj, name, type_)
        if table is not None and table not in metadata.tables:
            return False  # the host application's tables, partitions, views
        return not (type_ == "index" and not reflected and not _ddl_applies(obj, dialect))

    return include_object


def context_options(dialect: str) -> dict[str, Any]:
    """Options of ``context.configure`` shared by ``env.py`` and :func:`check`."""
    return {
        "target_metadata": target_metadata(),
        "version_table": VERSION_TABLE,
        "render_as_batch": dialect == "sqlite",
        "compare_type": True,
        "include_object": include_object_for(dialect),
    }


def _engine(url: str | URL) -> Engine:
    from saas_core.db.session import create_engine, parse_database_url

    try:
        parsed = parse_database_url(url)
    except ValueError:  # e.g. a non-numeric port
        raise ConfigurationError(f"malformed database URL: {_redact(url)}") from None
    if not parsed.database and parsed.get_backend_name() == "postgresql":
        raise ConfigurationError(f"malformed database URL (no database name): {_redact(url)}")
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 10}
    return create_engine(parsed, **kwargs)


def _redact(url: str | URL) -> str:
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "<unparseable>"


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else type(orig).__name__


@contextmanager
def transaction(url: str | URL) -> Iterator[sa.Connection]:
    """One connection to ``url`` in one transaction, committed on success.

    A malformed URL or unsupported database raises :class:`ConfigurationError`; a database that
    cannot be reached raises :class:`DatabaseUnreachable`; any other database error is rolled
    back and raised as :class:`~saas_core.errors.DatabaseError`, all with one-line messages.
    """
    engine = _engine(url)
    try:
        try:
            connection = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise DatabaseUnreachable(
                f"cannot connect to {_redact(engine.url)}: {_first_line(exc)}"
            ) from None
        with connection:
            try:
                with connection.begin():
                    yield connection
            except sa.exc.DBAPIError as exc:
                raise DatabaseError(
                    f"database error at {_redact(engine.url)}: {_first_line(exc)}"
                ) from None
    finally:
        engine.dispose()


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _database_heads(connection: sa.Connection) -> tuple[str, ...]:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_heads()


def _refuse_unknown_revision(connection: sa.Connection) -> tuple[str, ...]:
    from saas_core import __version__

    script = _script()
    revisions = _database_heads(connection)
    for revision in revisions:
        try:
            script.get_revision(revision)
        except CommandError:
            raise SchemaTooNew(
                f"database is at revision {revision!r}, unknown to saas-core {__version__}"
                " (migrated by a newer release?); upgrade saas-core first"
            ) from None
    return revisions


def _run(url: str | URL, action: str, revision: str) -> None:
    config = alembic_config()
    with transaction(url) as connection:
        _refuse_unknown_revision(connection)
        config.attributes["connection"] = connection
        try:
            getattr(command, action)(config, revision)
            if action == "upgrade" and _database_heads(connection) == heads():
                _sync_catalog(connection)
        except CommandError as exc:
            raise UnknownRevision(f"cannot {action} to {revision!r}: {_first_line(exc)}") from None
        except sa.exc.DBAPIError as exc:
            raise MigrationFailed(
                f"{action} to {revision!r} failed and was rolled back: {_first_line(exc)}"
            ) from None


def _sync_catalog(connection: sa.Connection) -> None:
    """Bring the permission catalog and built-in roles up to date, in the upgrade's transaction.

    The catalog is declared in code (:mod:`saas_core.iam.catalog`), so it can change between
    releases without a schema change; syncing it at every upgrade to head means ``db upgrade``
    alone leaves a database ready to serve (``saas-core iam sync`` does the same on its own).
    """
    from sqlalchemy.orm import Session

    from saas_core.iam.sync import sync_catalog

    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        sync_catalog(session)
        # Release the savepoint: closing the session without this would roll the sync back.
        session.commit()


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (all of it in one transaction)."""
    _run(url, "upgrade", revision)


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"`` removes everything)."""
    _run(url, "downgrade", revision)


def current(url: str | URL) -> str | None:
    """The revision the database is at (``None`` before the first upgrade).

    Returns the stored id even when this release does not know it; see :func:`check`.
    """
    with transaction(url) as connection:
        revisions = _database_heads(connection)
    return ", ".join(revisions) if revisions else None


def heads() -> tuple[str, ...]:
    """The newest revision(s) this release of saas-core ships."""
    return tuple(_script().get_heads())


def check(url: str | URL) -> list[str]:
    """Differences between the models and the database at ``url``; empty means no drift.

    A database that is not at :func:`heads` yields that one difference (run :func:`upgrade`).
    Besides Alembic's comparison (tables, columns, types, nullability, indexes, unique and
    foreign keys), PostgreSQL's enum types are compared value by value, which Alembic does not do.
    """
    with transaction(url) as connection:
        revisions = _refuse_unknown_revision(connection)
        expected = heads()
        if set(revisions) != set(expected):
            at = ", ".join(revisions) or "base"
            return [f"database is at revision {at}, saas-core's head is {', '.join(expected)}"]
        options = context_options(connection.dialect.name)
        context = MigrationContext.configure(connection, opts=options)
        differences = compare_metadata(context, options["target_metadata"])
        described = [describe(difference) for difference in differences]
        if connection.dialect.name == "postgresql":
            described += _enum_differences(connection, options["target_metadata"])
    return described


def _enum_differences(connection: sa.Connection, metadata: sa.MetaData) -> list[str]:
    expected: dict[str, list[str]] = {}
    for table in metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, sa.Enum) and column.type.native_enum and column.type.name:
                expected[column.type.name] = list(column.type.enums)
    actual: dict[str, list[str]] = {
        name: list(labels)
        for name, labels in connection.execute(
            sa.text(
                "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)"
                " FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid"
                " WHERE t.typnamespace = current_schema()::regnamespace"
                " AND t.typname = ANY(:names) GROUP BY t.typname"
            ),
            {"names": list(expected)},
        )
    }
    differences = []
    for name, values in sorted(expected.items()):
        if name not in actual:
            differences.append(f"add_enum {name}: {values!r}")
        elif actual[name] != values:
            differences.append(f"modify_enum {name}: {actual[name]!r} -> {values!r}")
    return differences


def describe(difference: Any) -> str:
    """One line for one entry of Alembic's ``compare_metadata`` result."""
    if isinstance(difference, list):
        return "; ".join(describe(item) for item in difference)
    kind = difference[0]
    if kind in ("add_table", "remove_table"):
        return f"{kind} {difference[1].name}"
    if kind in ("add_column", "remove_column"):
        return f"{kind} {difference[2]}.{difference[3].name}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        obj = difference[1]
        return f"{kind} {obj.name} on {obj.table.name}"
    if kind in ("add_fk", "remove_fk"):
        fk = difference[1]
        return f"{kind} {fk.name} on {fk.parent.name}"
    if kind.startswith("modify_"):
        _, _schema, table, column, _existing, old, new = difference
        return f"{kind} {table}.{column}: {old!r} -> {new!r}"
    return " ".join(str(part) for part in difference)
