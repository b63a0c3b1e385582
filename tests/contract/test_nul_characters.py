"""A NUL character (U+0000) in a JSON string or a query value is a 422 naming the field.

PostgreSQL cannot store NUL in ``text`` or ``jsonb``; the pipeline refuses it while parsing the
request, so both databases and all three adapters answer the same problem, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from saas_core.api.endpoint import NUL_ERROR_TYPE
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
