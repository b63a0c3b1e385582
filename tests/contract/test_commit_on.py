"""``Route.commit_on``: errors after which the request's writes are committed, not rolled back."""

from __future__ import annotations

import uuid

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from saas_core.api.contract import AUTHENTICATED, PUBLIC, Call, Route, RouteTable
from saas_core.api.hooks import RecordingAuditSink
from saas_core.errors import Conflict, InvalidCredentials
from saas_core.identity.models import User
from tests.contract.conftest import MakeCore
from tests.contract.harness import Adapters
from tests.contract.sample_api import TokenAuthenticator


class AttemptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: str


class Count(BaseModel):
    users: int


def build_table() -> RouteTable:
    routes = RouteTable()

    def attempt(call: Call) -> None:
        call.session.add(User(email=f"{uuid.uuid4().hex}@example.com"))
        call.session.flush()
        outcome = call.body_as(AttemptIn).outcome
        if outcome == "remembered":
            raise InvalidCredentials()
        if outcome == "forgotten":
            raise Conflict("not remembered")

    for path, access, idempotent in (("/attempt", PUBLIC, False), ("/keyed", AUTHENTICATED, True)):
        routes.add(
            Route(
                method="POST",
                path=path,
                name=path.strip("/"),
                handler=attempt,
                access=access,
                request_model=AttemptIn,
                audit_action="attempt.make",
                idempotent=idempotent,
                commit_on=(InvalidCredentials,),
            )
        )

    @routes.route("GET", "/count", access=PUBLIC, response_model=Count)
    def count(call: Call) -> Count:
        return Count(users=call.session.scalar(select(func.count()).select_from(User)) or 0)

    return routes


def test_listed_errors_commit_the_handlers_writes_and_others_roll_back(
    make_core: MakeCore,
) -> None:
    audit = RecordingAuditSink()
    adapters = Adapters(make_core(routes=build_table(), audit_sink=audit))

    def users() -> int:
        return int(adapters.same("GET", "/api/v1/count").json()["users"])

    remembered = adapters.same("POST", "/api/v1/attempt", json_body={"outcome": "remembered"})
    assert remembered.status == 401
    assert remembered.json()["code"] == "auth.invalid_credentials"
    assert users() == 3  # one committed row per adapter
    forgotten = adapters.same("POST", "/api/v1/attempt", json_body={"outcome": "forgotten"})
    assert forgotten.status == 409
    assert users() == 3
    assert audit.entries == []  # a failed request is never audited, committed or not
    assert adapters.same("POST", "/api/v1/attempt", json_body={"outcome": "ok"}).status == 204
    assert users() == 6
    assert [e.action for e in audit.entries] == ["attempt.make"] * 3


def test_a_committed_failure_releases_its_idempotency_key(make_core: MakeCore) -> None:
    core = make_core(routes=build_table(), authenticator=TokenAuthenticator())
    adapters = Adapters(core)
    headers = {"Authorization": "Bearer member", "Idempotency-Key": "k-1"}
    for _ in range(2):  # the retry runs again instead of replaying the failure
        result = adapters.same(
            "POST", "/api/v1/keyed", headers=headers, json_body={"outcome": "remembered"}
        )
        assert result.status == 401
        assert "idempotent-replayed" not in result.headers
    assert adapters.same("GET", "/api/v1/count").json() == {"users": 6}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "GET", "commit_on": (InvalidCredentials,)}, "only unsafe methods commit"),
        ({"commit_on": (ValueError,)}, "SaasCoreError subclasses"),
        ({"commit_on": (InvalidCredentials(),)}, "SaasCoreError subclasses"),
    ],
)
def test_commit_on_is_checked_when_the_route_is_declared(
    options: dict[str, object], message: str
) -> None:
    base: dict[str, object] = {
        "method": "POST",
        "path": "/x",
        "name": "x",
        "handler": lambda call: None,
        "access": PUBLIC,
        "audit_action": "x.do",
    }
    with pytest.raises(ValueError, match=message):
        Route(**{**base, **options})  # type: ignore[arg-type]
