"""A NUL character (U+0000) in a JSON string or a query value is a 422 naming the field.

PostgreSQL cannot store NUL in ``text`` or ``jsonb``; the pipeline refuses it while parsing the
request, so both databases and all three adapters answer the same problem, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from saas_core.api.endpoint import NUL_ERROR_TYPE
from saas_core.audit.models import AuditLog
from tests.contract.harness import Result
from tests.contract.tenancy_world import Served, problem, serve_world
from tests.support.databases import TestDatabase


@pytest.fixture
def served(db: TestDatabase) -> Iterator[Served]:
    yield from serve_world(db)


def nul_locs(result: Result) -> list[list[object]]:
    body = problem(result, 422, "request.validation")
    assert {error["type"] for error in body["errors"]} == {NUL_ERROR_TYPE}
    return [error["loc"] for error in body["errors"]]


def test_nul_in_bodies_and_queries_is_refused_before_any_write(served: Served) -> None:
    created = served.same(
        "POST",
        "/projects",
        "ada",
        json_body={"name": "a\u0000b", "metadata": {"k\u0000": "v", "tags": ["ok", "\u0000"]}},
    )
    assert nul_locs(created) == [
        ["body", "name"],
        ["body", "metadata", "k\u0000"],
        ["body", "metadata", "tags", 1],
    ]
    # Keyed requests too: the key is claimed only after parsing.
    keyed = served.same(
        "POST",
        "/projects",
        "ada",
        headers={"Idempotency-Key": "nul"},
        json_body={"name": "ok", "description": "\u0000"},
    )
    assert nul_locs(keyed) == [["body", "description"]]
    # A public route, and a route that only looks the value up.
    signin = served.same(
        "POST", "/auth/login", json_body={"email": "ada@example.com\u0000", "password": "x"}
    )
    assert nul_locs(signin) == [["body", "email"]]
    assert nul_locs(served.same("GET", "/projects", "ada", query={"cursor": "\u0000"})) == [
        ["query", "cursor"]
    ]
    listed = served.same("GET", "/tenants", "ada", query="limit=5%00")
    assert nul_locs(listed) == [["query", "limit"]]
    assert served.same("GET", "/projects", "ada").json()["items"] == []
    assert served.new_audit() == []
    # The same text without NUL goes through (the key makes the other adapters replay it).
    fine = served.same(
        "POST", "/projects", "ada", headers={"Idempotency-Key": "ok"}, json_body={"name": "a b"}
    )
    assert fine.status == 201


def test_a_nul_in_the_user_agent_is_stored_as_a_replacement_character(served: Served) -> None:
    # Stored with the session and the audit record; PostgreSQL text cannot hold NUL.
    results = served.adapters.each(
        "POST",
        "/api/v1/projects",
        headers={**served.auth("ada"), "User-Agent": "bot\x00/1"},
        json_body={"name": "from a bot"},
    )
    assert [r.status for r in results] == [201, 201, 201]
    assert [row.action for row in served.new_audit()] == ["project.create"] * 3
    with served.db.engine.connect() as connection, connection.begin():
        if served.db.is_postgres:
            connection.execute(text("SELECT set_config('app.platform_scope', 'on', true)"))
        agents = connection.execute(select(AuditLog.user_agent)).scalars().all()
    assert agents == ["bot\ufffd/1"] * 3
