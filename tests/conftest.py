"""Fixtures shared by every test: the ``db`` fixture runs each test on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.databases import (
    PostgresScratch,
    SqliteTemplate,
    TestDatabase,
    postgres_reachable,
)

settings.register_profile(
    "default",
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")

IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    """The migrated SQLite template for this test session."""
    return SqliteTemplate(Path(tmp_path_factory.mktemp("sqlite")))


@pytest.fixture(scope="session")
def postgres_scratch() -> Iterator[PostgresScratch]:
    """The scratch PostgreSQL database of this session (skipped if unreachable, except in CI)."""
    reason = postgres_reachable()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {reason}")
        pytest.skip(f"PostgreSQL unreachable: {reason}")
    scratch = PostgresScratch()
    try:
        yield scratch
    finally:
        scratch.drop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the SQLite run of ``postgres_only`` tests and the PostgreSQL run of ``sqlite_only``."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        kind = params.get("db")
        unwanted = (kind == "sqlite" and item.get_closest_marker("postgres_only")) or (
            kind == "postgresql" and item.get_closest_marker("sqlite_only")
        )
        (dropped if unwanted else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _database(request: pytest.FixtureRequest) -> Iterator[TestDatabase]:
    kind = request.param
    if kind == "sqlite":
        template: SqliteTemplate = request.getfixturevalue("sqlite_template")
        with template.database() as db:
            yield db
    else:
        scratch: PostgresScratch = request.getfixturevalue("postgres_scratch")
        try:
            yield scratch.db
        finally:
            scratch.truncate()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[TestDatabase]:
    """A migrated, empty database: each test runs once on SQLite and once on PostgreSQL."""
    yield from _database(request)


@pytest.fixture(params=["postgresql"])
def pg(request: pytest.FixtureRequest) -> Iterator[TestDatabase]:
    """A migrated, empty PostgreSQL database (for RLS, partitions, concurrency)."""
    yield from _database(request)
