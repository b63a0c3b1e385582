"""PostgreSQL-only schema features: Row Level Security, append-only triggers, partitions, grants.

SQLite has none of these; there, isolation rests on the session's tenant filter alone.

Append-only tables
    :data:`APPEND_ONLY_TABLES` get a ``BEFORE UPDATE OR DELETE`` row trigger that raises
    SQLSTATE :data:`APPEND_ONLY_SQLSTATE` (``23SC1``: class 23, so drivers and SQLAlchemy report it
    as an ``IntegrityError``). The one escape hatch is for retention: a ``DELETE`` passes when the
    transaction has set ``saas_core.retention`` to ``on``
    (``SELECT set_config('saas_core.retention', 'on', true)``), which only the retention job does,
    and it audits what it removes. ``UPDATE`` never passes. ``TRUNCATE`` is not blocked: it fires
    no row trigger, needs the table owner's privilege (the application role is never granted it)
    and is what test suites use to empty tables.

Partitioned tables
    :data:`PARTITIONED_TABLES` are range-partitioned by month on ``occurred_at``. The SQL function
    ``saas_core_ensure_partitions(parent regclass, months_ahead int)`` creates ``<table>_pYYYY_MM``
    for the current month and ``months_ahead`` months after it, plus ``<table>_default``, so an
    insert never fails for want of a partition; it is idempotent and, when rows for a new month
    already sit in the default partition, moves them into the new partition. Run it monthly (cron,
    pg_cron or the host's scheduler) through :func:`ensure_partitions`. Row triggers declared on a
    partitioned table are cloned onto every partition (PostgreSQL >= 13), so partitions stay
    append-only. Row Level Security, however, applies only when rows are reached *through the
    parent*: partitions have no policies of their own, so the application role must never be
    granted privileges on a partition (:func:`grant_app_role` revokes them).

Row Level Security
    Every table with a ``tenant_id`` column gets ``ENABLE`` + ``FORCE`` and the policies
    ``tenant_isolation`` and ``platform_scope`` (``USING`` and ``WITH CHECK``), plus the per-table
    read policies declared in the model's ``__table_args__`` ``info["rls"]``: see
    :class:`RlsSpec`. Migrations list those specs explicitly so a migration never changes meaning
    when a model does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData

#: Tables whose rows are never changed or removed (outside the retention path).
APPEND_ONLY_TABLES: tuple[str, ...] = (
    "platform_audit_logs",
    "security_events",
    "usage_metered_usage",
    "billing_payment_events",
    "credit_postings",
)

#: High-volume tables, range-partitioned by month on ``occurred_at``.
PARTITIONED_TABLES: tuple[str, ...] = (
    "platform_audit_logs",
    "security_events",
    "usage_metered_usage",
)

#: SQLSTATE raised when an append-only row is updated or deleted.
APPEND_ONLY_SQLSTATE = "23SC1"

#: The transaction-local setting that lets the retention job delete append-only rows.
RETENTION_SETTING = "saas_core.retention"

#: The version table saas-core's migrations record their revision in.
VERSION_TABLE = "saas_core_alembic_version"

APPEND_ONLY_FUNCTION = "saas_core_reject_append_only_change"
PARTITIONS_FUNCTION = "saas_core_ensure_partitions"
APPEND_ONLY_TRIGGER = "saas_core_append_only"

_TENANT_EXPR = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::bigint"
_PLATFORM_EXPR = "current_setting('app.platform_scope', true) = 'on'"

_APPEND_ONLY_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {APPEND_ONLY_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('{RETENTION_SETTING}', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% on %.% is not allowed: the table is append-only', TG_OP,
        TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = '{APPEND_ONLY_SQLSTATE}',
              HINT = 'rows are corrected by new rows; retention deletes set {RETENTION_SETTING}';
END
$$
"""

_PARTITIONS_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {PARTITIONS_FUNCTION}(parent regclass, months_ahead integer DEFAULT 3)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    parent_schema text;
    parent_name text;
    default_part text;
    first_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    lower_bound date;
    upper_bound date;
    part text;
    previous_retention text;
    created integer := 0;
BEGIN
    SELECT n.nspname, c.relname INTO parent_schema, parent_name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = parent;
    default_part := parent_name || '_default';
    IF to_regclass(format('%I.%I', parent_schema, default_part)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT',
                       parent_schema, default_part, parent);
    END IF;
    FOR i IN 0..greatest(months_ahead, 0) LOOP
        lower_bound := (first_month + make_interval(months => i))::date;
        upper_bound := (lower_bound + interval '1 month')::date;
        part := parent_name || '_p' || to_char(lower_bound, 'YYYY_MM');
        CONTINUE WHEN to_regclass(format('%I.%I', parent_schema, part)) IS NOT NULL;
        -- A new range cannot be attached while the default partition holds rows in it: build the
        -- partition detached, move those rows over (the retention setting lets the append-only
        -- trigger allow this one delete), then attach it.
        EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       parent_schema, part, parent);
        previous_retention := current_setting('{RETENTION_SETTING}', true);
        PERFORM set_config('{RETENTION_SETTING}', 'on', true);
        EXECUTE format(
            'WITH moved AS (DELETE FROM %I.%I WHERE occurred_at >= %L AND occurred_at < %L'
            ' RETURNING *) INSERT INTO %I.%I SELECT * FROM moved',
            parent_schema, default_part, lower_bound, upper_bound, parent_schema, part);
        PERFORM set_config('{RETENTION_SETTING}', coalesce(previous_retention, ''), true);
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                       parent, parent_schema, part, lower_bound, upper_bound);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$$
"""  # noqa: S608 - only constant identifiers are interpolated


@dataclass(frozen=True)
class RlsSpec:
    """The Row Level Security of one tenant table.

    ``self_read`` names a user id column readable by that user before a tenant is bound;
    ``global_read`` makes rows with ``tenant_id IS NULL`` readable by all; ``token_read`` names a
    column holding a token hash readable by whoever sets ``app.token_hash`` to it.
    """

    table: str
    self_read: str | None = None
    global_read: bool = False
    token_read: str | None = None


def _ddl(connection: sa.Connection, statement: str) -> None:
    # text() escapes the PL/pgSQL ``%`` placeholders for the driver's paramstyle.
    connection.execute(sa.text(statement))


def _quote(connection: sa.Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def tenant_tables(metadata: MetaData) -> list[RlsSpec]:
    """Every table of ``metadata`` with a ``tenant_id`` column, with its ``info["rls"]`` extras."""
    specs: list[RlsSpec] = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        if "tenant_id" not in table.c or table.info.get("is_view"):
            continue
        extras: dict[str, Any] = dict(table.info.get("rls", {}))
        unknown = set(extras) - {"self_read", "global_read", "token_read"}
        if unknown:
            raise ValueError(f"{table.name}: unknown rls option(s) {sorted(unknown)}")
        specs.append(RlsSpec(table.name, **extras))
    return specs


def enable_rls(
    connection: sa.Connection,
    table: str,
    *,
    self_read: str | None = None,
    global_read: bool = False,
    token_read: str | None = None,
) -> None:
    """ENABLE and FORCE Row Level Security on ``table`` and create its policies."""
    t = _quote(connection, table)
    statements = [
        f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {t} FOR ALL"
        f" USING ({_TENANT_EXPR}) WITH CHECK ({_TENANT_EXPR})",
        f"CREATE POLICY platform_scope ON {t} FOR ALL"
        f" USING ({_PLATFORM_EXPR}) WITH CHECK ({_PLATFORM_EXPR})",
    ]
    if self_read is not None:
        column = _quote(connection, self_read)
        statements.append(
            f"CREATE POLICY self_read ON {t} FOR SELECT"
            f" USING ({column} = NULLIF(current_setting('app.user_id', true), '')::bigint)"
        )
    if global_read:
        statements.append(f"CREATE POLICY global_read ON {t} FOR SELECT USING (tenant_id IS NULL)")
    if token_read is not None:
        column = _quote(connection, token_read)
        statements.append(
            f"CREATE POLICY token_read ON {t} FOR SELECT"
            f" USING ({column} = current_setting('app.token_hash', true))"
        )
    for statement in statements:
        _ddl(connection, statement)


def create_functions(connection: sa.Connection) -> None:
    """Create (or replace) the append-only trigger function and the partition function."""
    _ddl(connection, _APPEND_ONLY_FUNCTION_SQL)
    _ddl(connection, _PARTITIONS_FUNCTION_SQL)


def drop_functions(connection: sa.Connection) -> None:
    """Drop the functions of :func:`create_functions` (after the tables using them are gone)."""
    _ddl(connection, f"DROP FUNCTION IF EXISTS {PARTITIONS_FUNCTION}(regclass, integer)")
    _ddl(connection, f"DROP FUNCTION IF EXISTS {APPEND_ONLY_FUNCTION}()")


def make_append_only(connection: sa.Connection, table: str) -> None:
    """Attach the trigger rejecting UPDATE and DELETE to ``table`` (and its partitions)."""
    _ddl(
        connection,
        f"CREATE TRIGGER {APPEND_ONLY_TRIGGER} BEFORE UPDATE OR DELETE"
        f" ON {_quote(connection, table)} FOR EACH ROW EXECUTE FUNCTION {APPEND_ONLY_FUNCTION}()",
    )


def ensure_partitions(connection: sa.Connection, months_ahead: int = 3) -> int:
    """Create the missing monthly partitions of every partitioned table; return how many."""
    created = 0
    for table in PARTITIONED_TABLES:
        if connection.scalar(sa.text("SELECT to_regclass(:t)"), {"t": table}) is None:
            continue
        created += int(
            connection.scalar(
                sa.text(f"SELECT {PARTITIONS_FUNCTION}(CAST(:t AS regclass), :n)"),
                {"t": table, "n": months_ahead},
            )
            or 0
        )
    return created


def install(
    connection: sa.Connection,
    rls: MetaData | Iterable[RlsSpec],
    *,
    append_only: Iterable[str] = APPEND_ONLY_TABLES,
    partitioned: Iterable[str] = PARTITIONED_TABLES,
    months_ahead: int = 3,
) -> None:
    """Install every PostgreSQL extra on tables that already exist.

    ``rls`` is either the explicit list of :class:`RlsSpec` (what migrations pass) or a
    :class:`~sqlalchemy.MetaData` to derive it from. Append-only and partitioned tables missing
    from the database are skipped, so this also works on a partial schema.
    """
    specs = tenant_tables(rls) if isinstance(rls, MetaData) else list(rls)
    existing = set(sa.inspect(connection).get_table_names())
    create_functions(connection)
    for table in append_only:
        if table in existing:
            make_append_only(connection, table)
    if any(table in existing for table in partitioned):
        for table in partitioned:
            if table in existing:
                connection.execute(
                    sa.text(f"SELECT {PARTITIONS_FUNCTION}(CAST(:t AS regclass), :n)"),
                    {"t": table, "n": months_ahead},
                )
    for spec in specs:
        enable_rls(
            connection,
            spec.table,
            self_read=spec.self_read,
            global_read=spec.global_read,
            token_read=spec.token_read,
        )


def grant_app_role(connection: sa.Connection, role: str) -> None:
    """Give the application role the DML it needs, and nothing that would bypass isolation.

    Grants, in the current schema: ``USAGE`` on the schema; ``SELECT, INSERT, UPDATE, DELETE`` on
    every table and view; ``USAGE, SELECT`` on sequences; ``EXECUTE`` on functions. Then takes back
    what the application must not have: every privilege on partitions (Row Level Security applies
    only through the parent), ``UPDATE`` on append-only tables, and writes to the version table.
    Run it again after a migration adds tables. The role itself must be a login role that is not
    a superuser, has ``NOBYPASSRLS`` and owns nothing (:func:`check_app_role`).
    """
    r = _quote(connection, role)
    schema = _quote(connection, str(connection.scalar(sa.text("SELECT current_schema()"))))
    _ddl(connection, f"GRANT USAGE ON SCHEMA {schema} TO {r}")
    _ddl(
        connection, f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {r}"
    )
    _ddl(connection, f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {r}")
    _ddl(connection, f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {r}")
    partitions = connection.scalars(
        sa.text(
            "SELECT quote_ident(c.relname) FROM pg_class c"
            " WHERE c.relispartition AND c.relkind IN ('r', 'p')"
            " AND c.relnamespace = current_schema()::regnamespace"
        )
    ).all()
    for partition in partitions:
        _ddl(connection, f"REVOKE ALL ON {schema}.{partition} FROM {r}")
    existing = set(sa.inspect(connection).get_table_names())
    for table in APPEND_ONLY_TABLES:
        if table in existing:
            _ddl(connection, f"REVOKE UPDATE ON {_quote(connection, table)} FROM {r}")
    if VERSION_TABLE in existing:
        _ddl(
            connection,
            f"REVOKE INSERT, UPDATE, DELETE ON {_quote(connection, VERSION_TABLE)} FROM {r}",
        )


def check_app_role(connection: sa.Connection, role: str | None = None) -> list[str]:
    """Why ``role`` (default: the connected role) must not serve requests; empty when it is safe.

    Problems: the role is a superuser or has ``BYPASSRLS`` (both skip Row Level Security), or it
    owns (directly or through a role it belongs to) a saas-core table, which lets it switch Row
    Level Security off. Issue a refusal at start-up when this is not empty.
    """
    row = connection.execute(
        sa.text(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles"
            " WHERE rolname = coalesce(:role, current_user)"
        ),
        {"role": role},
    ).one_or_none()
    if row is None:
        return [f"role {role!r} does not exist"]
    name, superuser, bypass = row
    problems: list[str] = []
    if superuser:
        problems.append(f"role {name!r} is a superuser, which bypasses Row Level Security")
    if bypass:
        problems.append(f"role {name!r} has BYPASSRLS, which bypasses Row Level Security")
    owned = connection.scalars(
        sa.text(
            "SELECT c.relname FROM pg_class c"
            " WHERE c.relnamespace = current_schema()::regnamespace"
            " AND c.relkind IN ('r', 'p', 'v')"
            " AND (c.relrowsecurity OR c.relname = :version)"
            " AND pg_has_role(:role, c.relowner, 'USAGE')"
            " ORDER BY c.relname"
        ),
        {"version": VERSION_TABLE, "role": name},
    ).all()
    if owned:
        shown = ", ".join(owned[:5]) + (" ..." if len(owned) > 5 else "")
        problems.append(
            f"role {name!r} owns saas-core tables ({shown}) and could disable Row Level Security"
        )
    return problems
