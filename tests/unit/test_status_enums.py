"""Seed review fix 4: every status field is an enum (native on PostgreSQL, CHECK on SQLite)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable

import saas_core.models  # noqa: F401 - registers every table
from saas_core.db.base import metadata

# Columns whose name says "status" but that hold something else.
NOT_A_STATUS = {("idempotency_keys", "response_status")}


def status_columns() -> list[sa.Column[object]]:
    return [
        column
        for table in metadata.tables.values()
        for column in table.columns
        if (column.name == "status" or column.name.endswith("_status") or column.name == "state")
        and (table.name, column.name) not in NOT_A_STATUS
    ]


def test_there_are_status_columns_to_check() -> None:
    names = {f"{c.table.name}.{c.name}" for c in status_columns()}
    expected = {"tenants.status", "security_incidents.status", "privacy_subject_requests.status"}
    assert expected <= names


def test_every_status_column_is_an_enum() -> None:
    offenders = [
        f"{c.table.name}.{c.name}" for c in status_columns() if not isinstance(c.type, sa.Enum)
    ]
    assert offenders == []


def test_status_enums_are_native_on_postgresql_and_checked_on_sqlite() -> None:
    for column in status_columns():
        enum_type = column.type
        assert isinstance(enum_type, sa.Enum)
        assert enum_type.native_enum, column
        pg_ddl = str(CreateTable(column.table).compile(dialect=postgresql.dialect()))
        assert f"{column.name} {enum_type.name}" in pg_ddl, column
        sqlite_ddl = str(CreateTable(column.table).compile(dialect=sqlite.dialect()))
        assert f"CHECK ({column.name} IN (" in sqlite_ddl, column
