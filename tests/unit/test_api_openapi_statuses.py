"""Every status a route can answer is in its OpenAPI operation, as a problem with its codes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel

from saas_core import errors
from saas_core.api.contract import AUTHENTICATED, PUBLIC, Call, Route, RouteTable
from saas_core.api.openapi import IDEMPOTENCY_KEY_PATTERN, openapi_document
from saas_core.api.pipeline import _IDEMPOTENCY_KEY
from saas_core.api.routes import build_routes
from saas_core.errors import AccountLocked, InvalidCredentials, TenantNotFound


class In(BaseModel):
    name: str


class Out(BaseModel):
    name: str


def handler(call: Call) -> None:
    return None


def operation(**options: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "method": "GET",
        "path": "/things",
        "name": "things",
        "handler": handler,
        "access": PUBLIC,
        "response_model": Out,
    }
    base.update(options)
    route = Route(**base)
    document = openapi_document(RouteTable([route]))
    op: dict[str, Any] = document["paths"]["/api/v1/things"][route.method.lower()]
    return op


def test_a_plain_public_read_documents_only_success_and_server_errors() -> None:
    assert list(operation()["responses"]) == ["200", "default"]


def test_declared_and_commit_on_errors_add_their_statuses_and_codes() -> None:
    responses = operation(
        method="POST",
        request_model=In,
        audit_action="thing.do",
        errors=(TenantNotFound,),
        commit_on=(InvalidCredentials, AccountLocked),
    )["responses"]
    assert list(responses) == ["200", "400", "401", "404", "409", "415", "422", "429", "default"]
    assert "`tenant.not_found`" in responses["404"]["description"]
    assert "`auth.invalid_credentials`" in responses["401"]["description"]
    assert "`auth.locked`" in responses["429"]["description"]
    assert responses["429"]["headers"]["Retry-After"]["required"] is True
    assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True
    for status, response in responses.items():
        if status != "200":
            assert list(response["content"]) == ["application/problem+json"]
            assert response["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }


def test_writes_document_the_integrity_conflict() -> None:
    responses = operation(method="DELETE", access=AUTHENTICATED, audit_action="thing.delete")
    assert list(responses["responses"]) == ["200", "401", "403", "409", "default"]


def test_errors_must_be_library_errors() -> None:
    with pytest.raises(ValueError, match="errors takes SaasCoreError subclasses"):
        operation(errors=(ValueError,))


def test_the_idempotency_key_pattern_is_the_one_the_pipeline_enforces() -> None:
    header = operation(
        method="POST", audit_action="thing.do", idempotent=True, access=AUTHENTICATED
    )["parameters"][-1]
    assert header["schema"]["pattern"] == IDEMPOTENCY_KEY_PATTERN
    for key in ("a", "k-1_~!", "x" * 255, "", "x" * 256, "a b", "é", "a\x7f"):
        documented = re.fullmatch(IDEMPOTENCY_KEY_PATTERN.strip("^$"), key) is not None
        assert documented == (_IDEMPOTENCY_KEY.fullmatch(key) is not None), key


def _error_statuses() -> dict[str, set[int]]:
    statuses: dict[str, set[int]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.SaasCoreError):
            statuses.setdefault(value.code, set()).add(value.status)
    return statuses


def test_every_status_and_code_a_route_description_names_is_documented() -> None:
    table = build_routes()
    document = openapi_document(table)
    statuses = _error_statuses()
    missing = []
    for route in table:
        documented = document["paths"]["/api/v1" + route.path][route.method.lower()]["responses"]
        text = f"{route.summary} {route.description or ''}"
        named = {int(n) for n in re.findall(r"\b([45]\d\d)\b", text)}
        for code in re.findall(r"`([a-z_]+\.[a-z_.]+)`", text):
            named |= statuses.get(code, set())
        missing += [(route.name, s) for s in sorted(named) if s < 500 and str(s) not in documented]
    assert missing == []
