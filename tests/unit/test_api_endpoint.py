"""Request parsing refuses NUL characters before any handler or database sees them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from saas_core.api.contract import PUBLIC, Call, Route
from saas_core.api.endpoint import NUL_ERROR_TYPE, Endpoint, body_nul_errors
from saas_core.api.http import Headers, HttpRequest
from saas_core.errors import MalformedJson, NotFound, ValidationFailed


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    items: list[Item] = []
    meta: dict[str, Any] = {}


class Query(BaseModel):
    tag: list[str] = []
    q: str | None = None


def handler(call: Call) -> None:
    return None


def endpoint(method: str = "POST", path: str = "/things/{slug}/{thingId}") -> Endpoint:
    body = Body if method == "POST" else None
    return Endpoint(
        Route(
            method=method,
            path=path,
            name="things",
            handler=handler,
            access=PUBLIC,
            request_model=body,
            query_model=Query,
            audit_action="thing.create" if method == "POST" else None,
        )
    )


def request(body: bytes = b"", query: str = "") -> HttpRequest:
    headers = Headers([("Content-Type", "application/json")])
    return HttpRequest("POST", "/things", headers, query_string=query, body=body)


def failure_locs(error: ValidationFailed) -> list[list[Any]]:
    errors = error.extra["errors"]
    assert all(e["type"] == NUL_ERROR_TYPE for e in errors), errors
    return [e["loc"] for e in errors]


def test_a_nul_in_any_body_string_is_a_validation_error_at_its_path() -> None:
    document = {
        "name": "a\u0000b",
        "items": [{"label": "ok"}, {"label": "\u0000"}],
        "meta": {"k\u0000": 1, "deep": ["x", {"y": "z\u0000"}]},
    }
    with pytest.raises(ValidationFailed) as caught:
        endpoint().parse_body(request(json.dumps(document).encode()))
    assert failure_locs(caught.value) == [
        ["body", "name"],
        ["body", "items", 1, "label"],
        ["body", "meta", "k\u0000"],
        ["body", "meta", "deep", 1, "y"],
    ]


def test_nul_is_refused_even_where_the_model_would_accept_the_value() -> None:
    raw = b'{"name": "fine", "meta": {"note": "\\u0000"}}'
    with pytest.raises(ValidationFailed) as caught:
        endpoint().parse_body(request(raw))
    assert failure_locs(caught.value) == [["body", "meta", "note"]]


def test_an_escaped_backslash_before_u0000_is_plain_text() -> None:
    parsed = endpoint().parse_body(request(b'{"name": "C:\\\\u0000"}'))
    assert isinstance(parsed, Body)
    assert parsed.name == "C:\\u0000"
    assert body_nul_errors(b'{"name": "C:\\\\u0000"}') == []


@pytest.mark.parametrize("raw", [b'{"name": "\\u0000", ', b'["\\u0000"'])
def test_malformed_json_with_a_nul_stays_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedJson):
        endpoint().parse_body(request(raw))


def test_a_raw_nul_byte_is_malformed_json() -> None:
    with pytest.raises(MalformedJson):
        endpoint().parse_body(request(b'{"name": "a\x00b"}'))


def test_a_nul_in_a_query_value_or_name_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed) as caught:
        endpoint("GET").parse_query(request(query="q=a%00&tag=ok&tag=%00&x%00=1"))
    assert failure_locs(caught.value) == [["query", "q"], ["query", "tag"], ["query", "x\u0000"]]
    parsed = endpoint("GET").parse_query(request(query="q=a&tag=b&tag=c"))
    assert parsed == Query(q="a", tag=["b", "c"])


def test_a_nul_in_a_plain_path_parameter_is_not_found() -> None:
    thing = "0190a0a0-0000-7000-8000-000000000001"
    assert endpoint().parse_path({"slug": "a", "thingId": thing})["slug"] == "a"
    with pytest.raises(NotFound):
        endpoint().parse_path({"slug": "a\u0000", "thingId": thing})


def test_a_nul_in_the_user_agent_is_replaced_not_stored() -> None:
    agent = HttpRequest("GET", "/", Headers([("User-Agent", "bot\x00/1")])).user_agent
    assert agent == "bot\ufffd/1"
    assert HttpRequest("GET", "/", Headers([("User-Agent", "bot/1")])).user_agent == "bot/1"
    assert HttpRequest("GET", "/", Headers()).user_agent is None
