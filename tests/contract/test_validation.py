"""Input handling: JSON bodies, query models, path ids, problem details. Same bytes everywhere."""

from __future__ import annotations

import uuid

from saas_core.api.pagination import encode_cursor
from tests.contract.conftest import Sample
from tests.contract.sample_api import NAMESPACE, T0

MEMBER = {"Authorization": "Bearer member"}


def locs(result_json: dict[str, object]) -> list[list[object]]:
    errors = result_json["errors"]
    assert isinstance(errors, list)
    return [error["loc"] for error in errors]


def test_valid_body_is_created_with_alias_serialisation(sample: Sample) -> None:
    result = sample.adapters.same(
        "POST", "/api/v1/widgets", headers=MEMBER, json_body={"name": "a", "size": 2}
    )
    assert result.status == 201
    assert result.headers["content-type"] == "application/json"
    assert result.json() == {"widgetId": str(uuid.uuid5(NAMESPACE, "a")), "name": "a", "size": 2}


def test_invalid_fields_are_a_422_listing_field_paths(sample: Sample) -> None:
    result = sample.adapters.same(
        "POST",
        "/api/v1/widgets",
        headers=MEMBER,
        json_body={"name": "", "size": -1, "tags": ["ok", 3]},
    )
    assert result.status == 422
    assert result.headers["content-type"] == "application/problem+json"
    problem = result.json()
    assert problem["code"] == "request.validation"
    assert problem["type"] == "https://saas-core.dev/problems/request.validation"
    assert problem["instance"] == "/api/v1/widgets"
    assert problem["request_id"] == "contract-test-request"
    assert locs(problem) == [["body", "name"], ["body", "size"], ["body", "tags", 1]]
    assert sample.counter.runs == 0


def test_malformed_json_is_a_400(sample: Sample) -> None:
    result = sample.adapters.same(
        "POST",
        "/api/v1/widgets",
        headers=MEMBER,
        body=b'{"name": ',
        content_type="application/json",
    )
    assert result.status == 400
    assert result.json()["code"] == "request.malformed_json"


def test_non_json_body_is_a_415(sample: Sample) -> None:
    result = sample.adapters.same(
        "POST", "/api/v1/widgets", headers=MEMBER, body=b"name=a", content_type="text/plain"
    )
    assert result.status == 415
    assert result.json()["code"] == "request.unsupported_media_type"


def test_missing_body_is_a_422_on_the_body(sample: Sample) -> None:
    result = sample.adapters.same("POST", "/api/v1/widgets", headers=MEMBER)
    assert result.status == 422
    assert locs(result.json()) == [["body"]]


def test_query_is_validated_with_its_model(sample: Sample) -> None:
    result = sample.adapters.same(
        "GET", "/api/v1/widgets", headers=MEMBER, query={"limit": "0", "cursor": "x"}
    )
    assert result.status == 422
    assert locs(result.json()) == [["query", "limit"]]
    result = sample.adapters.same("GET", "/api/v1/widgets", headers=MEMBER, query="limit=abc")
    assert result.status == 422
    assert result.json()["errors"][0]["type"] == "int_parsing"


def test_repeated_query_parameters_become_lists(sample: Sample) -> None:
    result = sample.adapters.same(
        "GET", "/api/v1/widgets", headers=MEMBER, query="limit=1&tag=x&tag=y"
    )
    assert result.status == 200
    assert result.json()["items"][0]["name"] == "w0xy"


def test_cursor_pagination_round_trips_and_rejects_garbage(sample: Sample) -> None:
    first = sample.adapters.same("GET", "/api/v1/widgets", headers=MEMBER, query={"limit": 2})
    page = first.json()
    assert [item["name"] for item in page["items"]] == ["w0", "w1"]
    assert page["next_cursor"] == encode_cursor(T0.replace(minute=1), uuid.uuid5(NAMESPACE, "w1"))
    query = {"limit": 2, "cursor": page["next_cursor"]}
    second = sample.adapters.same("GET", "/api/v1/widgets", headers=MEMBER, query=query).json()
    assert [item["name"] for item in second["items"]] == ["w2", "w3"]
    last = {"limit": 2, "cursor": second["next_cursor"]}
    third = sample.adapters.same("GET", "/api/v1/widgets", headers=MEMBER, query=last).json()
    assert [item["name"] for item in third["items"]] == ["w4"]
    assert third["next_cursor"] is None
    bad = sample.adapters.same("GET", "/api/v1/widgets", headers=MEMBER, query={"cursor": "!!"})
    assert bad.status == 422
    assert locs(bad.json()) == [["query", "cursor"]]


def test_malformed_public_id_in_the_path_is_a_404(sample: Sample) -> None:
    result = sample.adapters.same("GET", "/api/v1/widgets/not-a-uuid", headers=MEMBER)
    assert result.status == 404
    assert result.json()["code"] == "not_found"
    good = uuid.uuid4()
    result = sample.adapters.same("GET", f"/api/v1/widgets/{good}", headers=MEMBER)
    assert result.status == 200
    assert result.json()["widgetId"] == str(good)


def test_handler_none_is_a_204_without_body(sample: Sample) -> None:
    result = sample.adapters.same("DELETE", f"/api/v1/widgets/{uuid.uuid4()}", headers=MEMBER)
    assert result.status == 204
    assert result.body == b""
    assert "content-type" not in result.headers


def test_raw_responses_and_extra_headers_pass_through(sample: Sample) -> None:
    result = sample.adapters.same("GET", "/api/v1/raw")
    assert result.status == 200
    assert result.body == b"raw bytes"
    assert result.headers["content-type"] == "text/plain"
    assert result.headers["cache-control"] == "no-store"


def test_webhook_gets_the_raw_body_and_no_authentication(sample: Sample) -> None:
    result = sample.adapters.same(
        "POST", "/api/v1/hooks/stripe", body=b"t=1,v1=abc", content_type="text/plain"
    )
    assert result.status == 200
    assert result.json() == {"value": ["stripe", 10, "system"]}
    assert sample.authenticator.transports == []


def test_unexpected_errors_are_a_500_without_internals(sample: Sample) -> None:
    result = sample.adapters.same("GET", "/api/v1/boom")
    assert result.status == 500
    problem = result.json()
    assert problem["code"] == "saas_core.error"
    assert problem["detail"] == "Internal error"
    assert b"secret" not in result.body
    assert b"10.0.0.5" not in result.body


def test_database_errors_are_wrapped(sample: Sample) -> None:
    result = sample.adapters.same("GET", "/api/v1/integrity")
    assert result.status == 409
    assert result.json()["code"] == "database.integrity"
    assert b"secret" not in result.body
