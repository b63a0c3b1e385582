"""PostgreSQL's extra defences, checked in the catalog and by behaviour: RLS, partitions,
append-only tables, GIN indexes, and the application role's privileges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import saas_core.models  # noqa: F401 - registers every table
from saas_core.cli import main
from saas_core.db.base import metadata
from saas_core.db.postgres import (
    APPEND_ONLY_SQLSTATE,
    APPEND_ONLY_TABLES,
    PARTITIONED_TABLES,
    check_app_role,
    ensure_partitions,
    tenant_tables,
)
from tests.support.databases import TestDatabase

pytestmark = pytest.mark.postgres_only


def _month_start(moment: datetime, months_ahead: int = 0) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months_ahead
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _enum(table: str, column: str, value: str) -> Any:
    return metadata.tables[table].c[column].type.enum_class(value)  # type: ignore[attr-defined]


def _insert(conn: sa.Connection, table: str, **values: Any) -> Any:
    """Insert one row through Core (Python-side defaults apply); return its primary key."""
    t = metadata.tables[table]
    return conn.execute(t.insert().values(**values).returning(*t.primary_key.columns)).one()[0]


def _tenant(conn: sa.Connection, slug: str) -> int:
    return int(_insert(conn, "tenants", slug=slug, name=slug.title()))


def _append_only_row(conn: sa.Connection, table: str, tenant_id: int, occurred_at: datetime) -> Any:
    """A valid row in one append-only table; returns its primary key value."""
    if table == "platform_audit_logs":
        return _insert(
            conn,
            table,
            occurred_at=occurred_at,
            tenant_id=tenant_id,
            actor_type=_enum(table, "actor_type", "system"),
            action="test.recorded",
        )
    if table == "security_events":
        return _insert(
            conn, table, occurred_at=occurred_at, tenant_id=tenant_id, event_type="login.failed"
        )
    if table == "usage_metered_usage":
        meter = _insert(conn, "usage_meters", key=f"calls_{tenant_id}", name="Calls", unit="call")
        return _insert(
            conn, table, occurred_at=occurred_at, tenant_id=tenant_id, meter_id=meter, quantity=3
        )
    if table == "billing_payment_events":
        return _insert(
            conn,
            table,
            provider=_enum(table, "provider", "manual"),
            provider_event_id=f"evt_{tenant_id}",
            event_type="payment.succeeded",
            occurred_at=occurred_at,
            tenant_id=tenant_id,
        )
    if table == "credit_postings":
        account = _insert(
            conn,
            "credit_accounts",
            tenant_id=tenant_id,
            code=_enum("credit_accounts", "code", "available"),
        )
        transaction = _insert(
            conn,
            "credit_transactions",
            tenant_id=tenant_id,
            kind=_enum("credit_transactions", "kind", "grant"),
        )
        return _insert(
            conn,
            table,
            tenant_id=tenant_id,
            transaction_id=transaction,
            account_id=account,
            amount=5,
        )
    raise AssertionError(f"no row recipe for {table}")


def _bind_tenant(conn: sa.Connection, tenant_id: int) -> None:
    conn.execute(sa.text("SELECT set_config('app.tenant_id', :v, true)"), {"v": str(tenant_id)})


# --- catalog -------------------------------------------------------------------------------------


def test_every_tenant_table_has_forced_rls_and_its_policies(pg: TestDatabase) -> None:
    with pg.engine.connect() as conn:
        in_catalog = set(
            conn.scalars(
                sa.text(
                    "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
                    " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')"
                    " AND NOT c.relispartition AND a.attname = 'tenant_id' AND NOT a.attisdropped"
                )
            )
        )
        flags: dict[str, bool] = dict(
            conn.execute(
                sa.text(
                    "SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class"
                    " WHERE relnamespace = 'public'::regnamespace"
                )
            ).all()
        )
        policies: dict[str, set[str]] = {}
        for table, policy, qual in conn.execute(
            sa.text(
                "SELECT tablename, policyname, qual FROM pg_policies WHERE schemaname = 'public'"
            )
        ):
            policies.setdefault(table, set()).add(policy)
            if policy == "tenant_isolation":
                assert "current_setting('app.tenant_id'::text, true)" in qual

    specs = tenant_tables(metadata)
    assert in_catalog == {spec.table for spec in specs}
    assert len(specs) >= 15
    for spec in specs:
        assert flags[spec.table], f"{spec.table}: RLS not enabled and forced"
        expected = {"tenant_isolation", "platform_scope"}
        expected |= {"self_read"} if spec.self_read else set()
        expected |= {"global_read"} if spec.global_read else set()
        expected |= {"token_read"} if spec.token_read else set()
        assert policies.get(spec.table) == expected, spec.table
    extras = {spec.table: spec for spec in specs}
    assert extras["iam_roles"].global_read
    assert extras["tenant_members"].self_read == "user_id"
    assert extras["tenant_invitations"].token_read == "token_hash"


def test_high_volume_tables_are_range_partitioned_by_month(pg: TestDatabase) -> None:
    now = datetime.now(UTC)
    with pg.engine.connect() as conn:
        keys: dict[str, str] = dict(
            conn.execute(
                sa.text(
                    "SELECT c.relname, pg_get_partkeydef(c.oid) FROM pg_partitioned_table p"
                    " JOIN pg_class c ON c.oid = p.partrelid"
                )
            ).all()
        )
        partitions = set(
            conn.scalars(
                sa.text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE c.relkind = 'r'"
                )
            )
        )
    assert keys == dict.fromkeys(PARTITIONED_TABLES, "RANGE (occurred_at)")
    for table in PARTITIONED_TABLES:
        assert f"{table}_default" in partitions
        for ahead in range(4):
            assert f"{table}_p{_month_start(now, ahead):%Y_%m}" in partitions


@pytest.mark.parametrize("table", PARTITIONED_TABLES)
def test_a_row_for_next_month_lands_in_its_partition(pg: TestDatabase, table: str) -> None:
    next_month = _month_start(datetime.now(UTC), 1) + timedelta(days=2, hours=5)
    with pg.engine.begin() as conn:
        row_id = _append_only_row(conn, table, _tenant(conn, "acme"), next_month)
        partition = conn.scalar(
            sa.text(f"SELECT tableoid::regclass::text FROM {table} WHERE id = :id"), {"id": row_id}
        )
    assert partition == f"{table}_p{next_month:%Y_%m}"


def test_ensure_partitions_is_idempotent_and_drains_the_default_partition(
    pg: TestDatabase,
) -> None:
    far = _month_start(datetime.now(UTC), 8) + timedelta(days=10)
    with pg.engine.connect() as conn, conn.begin() as transaction:
        row_id = _append_only_row(conn, "security_events", _tenant(conn, "acme"), far)
        where = sa.text("SELECT tableoid::regclass::text FROM security_events WHERE id = :id")
        assert conn.scalar(where, {"id": row_id}) == "security_events_default"

        assert ensure_partitions(conn, months_ahead=3) == 0
        created = ensure_partitions(conn, months_ahead=8)

        assert created == 5 * len(PARTITIONED_TABLES)
        assert conn.scalar(where, {"id": row_id}) == f"security_events_p{far:%Y_%m}"
        assert ensure_partitions(conn, months_ahead=8) == 0
        transaction.rollback()  # keep the session database's partitions as migrated


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_append_only_tables_reject_update_and_delete(pg: TestDatabase, table: str) -> None:
    key = metadata.tables[table].primary_key.columns.values()[0].name
    with pg.engine.begin() as conn:
        row_id = _append_only_row(conn, table, _tenant(conn, "acme"), datetime.now(UTC))
    for statement in (
        f"UPDATE {table} SET tenant_id = tenant_id WHERE {key} = :id",
        f"DELETE FROM {table} WHERE {key} = :id",
    ):
        with pytest.raises(sa.exc.IntegrityError) as rejected, pg.engine.begin() as conn:
            conn.execute(sa.text(statement), {"id": row_id})
        assert rejected.value.orig.sqlstate == APPEND_ONLY_SQLSTATE  # type: ignore[union-attr]
        assert "append-only" in str(rejected.value.orig)
    with pg.engine.connect() as conn:
        assert conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) == 1


def test_retention_setting_allows_deletes_but_never_updates(pg: TestDatabase) -> None:
    with pg.engine.begin() as conn:
        row_id = _append_only_row(
            conn, "platform_audit_logs", _tenant(conn, "acme"), datetime.now(UTC)
        )
    retention_on = sa.text("SELECT set_config('saas_core.retention', 'on', true)")
    with pg.engine.connect() as conn:
        conn.execute(retention_on)
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(
                sa.text("UPDATE platform_audit_logs SET action = 'x' WHERE id = :id"),
                {"id": row_id},
            )
        conn.rollback()
    with pg.engine.begin() as conn:
        conn.execute(retention_on)
        deleted = conn.execute(
            sa.text("DELETE FROM platform_audit_logs WHERE id = :id"), {"id": row_id}
        )
        assert deleted.rowcount == 1


def test_gin_indexes_exist_on_the_jsonb_columns(pg: TestDatabase) -> None:
    declared = {
        str(index.name): (table.name, tuple(c.name for c in index.columns))
        for table in metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["postgresql"]["using"] == "gin"
    }
    with pg.engine.connect() as conn:
        actual: dict[str, str] = dict(
            conn.execute(
                sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
            ).all()
        )
    for name, (table, columns) in declared.items():
        assert name in actual, name
        definition = actual[name].replace(" ONLY ", " ")  # partitioned parents say ON ONLY
        assert f"ON public.{table} USING gin ({', '.join(columns)})" in definition
    covered = set(declared.values())
    for required in (
        ("platform_audit_logs", ("metadata",)),
        ("billing_payment_events", ("payload",)),
        ("privacy_subject_requests", ("export_data",)),
    ):
        assert required in covered


# --- the application role ------------------------------------------------------------------------


def _two_tenants_with_projects(pg: TestDatabase) -> tuple[int, int]:
    projects = metadata.tables["projects"]
    with pg.engine.begin() as conn:
        a, b = _tenant(conn, "tenant-a"), _tenant(conn, "tenant-b")
        for tenant, name in ((a, "a1"), (a, "a2"), (b, "b1")):
            conn.execute(projects.insert().values(tenant_id=tenant, name=name))
        now = datetime.now(UTC)
        for tenant in (a, b):
            _append_only_row(conn, "usage_metered_usage", tenant, now)
    return a, b


def test_without_a_tenant_the_app_role_sees_no_rows(pg: TestDatabase) -> None:
    _two_tenants_with_projects(pg)
    with pg.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM projects")) == 3
    with pg.app_engine.begin() as conn:
        for spec in tenant_tables(metadata):
            # Rows shared by every tenant (global_read: the built-in roles) stay visible.
            shared = " WHERE tenant_id IS NOT NULL" if spec.global_read else ""
            count = conn.scalar(sa.text(f"SELECT count(*) FROM {spec.table}{shared}"))
            assert count == 0, spec.table


def test_a_bound_tenant_never_sees_another_tenants_rows(pg: TestDatabase) -> None:
    a, b = _two_tenants_with_projects(pg)
    with pg.app_engine.begin() as conn:
        _bind_tenant(conn, a)
        names = set(conn.scalars(sa.text("SELECT name FROM projects")))
        usage_tenants = set(conn.scalars(sa.text("SELECT tenant_id FROM usage_metered_usage")))
        hidden = conn.scalar(
            sa.text("SELECT count(*) FROM projects WHERE tenant_id = :b"), {"b": b}
        )
    assert names == {"a1", "a2"}
    assert usage_tenants == {a}
    assert hidden == 0


def test_a_bound_tenant_cannot_write_rows_of_another_tenant(pg: TestDatabase) -> None:
    a, b = _two_tenants_with_projects(pg)
    projects = metadata.tables["projects"]
    with pg.app_engine.connect() as conn:
        _bind_tenant(conn, a)
        with pytest.raises(sa.exc.ProgrammingError) as refused:
            conn.execute(projects.insert().values(tenant_id=b, name="smuggled"))
        conn.rollback()
    assert "row-level security" in str(refused.value.orig)


def test_a_bound_tenant_cannot_move_its_rows_to_another_tenant(pg: TestDatabase) -> None:
    a, b = _two_tenants_with_projects(pg)
    with pg.app_engine.connect() as conn:
        _bind_tenant(conn, a)
        with pytest.raises(sa.exc.ProgrammingError) as refused:
            conn.execute(sa.text("UPDATE projects SET tenant_id = :b"), {"b": b})
        conn.rollback()
    assert "row-level security" in str(refused.value.orig)


def test_the_app_role_cannot_reach_partitions_directly(pg: TestDatabase) -> None:
    with pytest.raises(sa.exc.ProgrammingError) as denied, pg.app_engine.begin() as conn:
        conn.execute(sa.text("SELECT count(*) FROM usage_metered_usage_default"))
    assert "permission denied" in str(denied.value.orig)


def test_check_app_role_accepts_the_app_role_and_flags_privileged_ones(pg: TestDatabase) -> None:
    with pg.app_engine.connect() as conn:
        assert check_app_role(conn) == []
    with pg.engine.connect() as conn:
        assert any("superuser" in problem for problem in check_app_role(conn))
    with pg.engine.connect() as conn, conn.begin() as transaction:
        # Role DDL is transactional in PostgreSQL: all of this is rolled back.
        conn.exec_driver_sql("CREATE ROLE saas_core_test_privileged NOSUPERUSER BYPASSRLS")
        conn.exec_driver_sql("ALTER TABLE projects OWNER TO saas_core_test_privileged")
        problems = check_app_role(conn, "saas_core_test_privileged")
        transaction.rollback()
    assert len(problems) == 2
    assert "BYPASSRLS" in problems[0]
    assert "owns saas-core tables (projects)" in problems[1]


def test_cli_grant_sets_up_the_app_role(
    pg: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg.url.render_as_string(hide_password=False)
    assert pg.app_role is not None

    assert main(["db", "grant", "--role", pg.app_role, "--database-url", url]) == 0
    assert capsys.readouterr().err == ""
    assert main(["db", "grant", "--role", "no_such_role_here", "--database-url", url]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pg.app_engine.connect() as conn:
        assert check_app_role(conn) == []
