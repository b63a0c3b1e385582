"""The OpenAPI document generated from a route table."""

from __future__ import annotations

import json
from typing import Any

from saas_core.api.openapi import inline_operation, openapi_document
from saas_core.api.routes import build_routes
from tests.contract.sample_api import Counter, build_table


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_document_covers_every_route_with_unique_operation_ids() -> None:
    table = build_table(Counter())
    document = openapi_document(table, prefix="/api/v1")
    assert document["openapi"] == "3.1.0"
    operations = [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    ]
    assert len(operations) == len(table)
    assert len({op["operationId"] for _, _, op in operations}) == len(table)
    assert all(path.startswith("/api/v1/") for path, _, _ in operations)
    for ref in _refs(document):
        assert _resolve(document, ref) is not None, ref
    json.dumps(document)  # serialisable as is


def test_operation_details() -> None:
    document = openapi_document(build_table(Counter()), prefix="/api/v1/")
    create = document["paths"]["/api/v1/widgets"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WidgetIn"
    }
    assert set(create["responses"]) >= {"201", "400", "401", "403", "409", "415", "422", "default"}
    assert create["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    header = create["parameters"][-1]
    assert (header["name"], header["in"]) == ("Idempotency-Key", "header")
    assert create["security"] == [{"bearerAuth": []}, {"cookieAuth": []}]
    out = document["components"]["schemas"]["WidgetOut"]
    assert "widgetId" in out["properties"]  # response schemas use the aliases

    listing = document["paths"]["/api/v1/widgets"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 100
    assert params["limit"]["required"] is False
    assert params["tag"]["schema"]["type"] == "array"

    item = document["paths"]["/api/v1/widgets/{widgetId}"]["get"]
    assert item["parameters"][0]["schema"] == {"type": "string", "format": "uuid"}
    assert "404" in item["responses"]

    hook = document["paths"]["/api/v1/hooks/{provider}"]["post"]
    assert hook["parameters"][0]["schema"] == {"type": "string"}
    assert hook["security"] == []
    assert "204" in document["paths"]["/api/v1/widgets/{widgetId}"]["delete"]["responses"]


def test_inlined_operations_hold_no_references() -> None:
    document = openapi_document(build_table(Counter()))
    for path, item in document["paths"].items():
        for method in item:
            operation = inline_operation(document, path, method)
            assert _refs(operation) == []
    listing = inline_operation(document, "/api/v1/widgets", "get")
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["properties"]["items"]["items"]["properties"]["widgetId"]["format"] == "uuid"


def test_the_default_table_documents_itself() -> None:
    document = openapi_document(build_routes())
    assert {"/api/v1/health", "/api/v1/openapi.json"} <= set(document["paths"])
