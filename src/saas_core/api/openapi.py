"""The OpenAPI 3.1 document, generated from the route table (served at ``/openapi.json``).

Request and response schemas come from the Pydantic models (``models_json_schema`` with refs into
``#/components/schemas``); query models become query parameters; ``...Id`` path parameters are
``format: uuid``. Every operation lists each 4xx status it can answer, all as
``application/problem+json`` with the one ``Problem`` schema: the pipeline's own answers follow
from the route's shape (body, query, ids, access, idempotency, writes), the handler's from
``Route.errors`` and ``Route.commit_on`` (their codes named in the description). A ``default``
problem response stands for server errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from saas_core import __version__
from saas_core.api.contract import UNSAFE_METHODS, AccessKind, Route, RouteTable, is_id_param
from saas_core.api.problems import PROBLEM_CONTENT_TYPE

REF_TEMPLATE = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; `code` is stable, `errors` lists invalid fields.",
    "required": ["type", "title", "status", "detail", "instance", "code", "request_id"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}

_PROBLEM_TEXT = {
    "400": "Malformed request (bad JSON, bad Idempotency-Key).",
    "401": "Authentication required or credentials invalid.",
    "402": "Payment required (a plan or seat limit).",
    "403": "Not allowed (permission, CSRF).",
    "404": "Not found.",
    "409": "Conflict with the current state.",
    "415": "The body must be application/json.",
    "422": "Validation failed.",
    "429": "Too many attempts; retry after the `Retry-After` seconds.",
    "default": "Server error.",
}
#: Headers the problem responses always carry (see ``problems.problem_response``).
_PROBLEM_HEADERS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {
            "description": "The scheme to authenticate with.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    "429": {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}
#: What an ``Idempotency-Key`` may hold (the pipeline answers 400 otherwise): visible ASCII.
IDEMPOTENCY_KEY_PATTERN = "^[!-~]{1,255}$"


def openapi_document(
    table: RouteTable, *, prefix: str = "/api/v1", cookie_name: str = "__Host-session"
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``table`` with every path under ``prefix``."""
    prefix = prefix.rstrip("/")
    keys: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for route in table:
        for model, mode in (
            (route.request_model, "validation"),
            (route.query_model, "validation"),
            (route.response_model, "serialization"),
        ):
            if model is not None and (model, mode) not in keys:
                keys.append((model, mode))  # type: ignore[arg-type]
    refs, top = models_json_schema(keys, ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA

    paths: dict[str, dict[str, Any]] = {}
    for route in table:
        operation = _operation(route, refs, schemas)
        paths.setdefault(prefix + route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "saas-core", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": cookie_name},
            },
        },
    }


def _operation(
    route: Route,
    refs: Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]],
    schemas: dict[str, Any],
) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.name}
    if route.summary:
        operation["summary"] = route.summary
    if route.description:
        operation["description"] = route.description
    if route.tags:
        operation["tags"] = list(route.tags)
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"}
            if is_id_param(name)
            else {"type": "string"},
        }
        for name in route.path_params
    ]
    if route.query_model is not None:
        parameters.extend(_query_parameters(refs[(route.query_model, "validation")], schemas))
    if route.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Makes a retry safe: the first response is replayed for 24 h.",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": IDEMPOTENCY_KEY_PATTERN,
                },
            }
        )
    if parameters:
        operation["parameters"] = parameters
    if route.request_model is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(route.request_model, "validation")]}},
        }
    responses: dict[str, Any] = {}
    if route.response_model is not None:
        responses[str(route.status_code)] = {
            "description": route.summary or "Success.",
            "content": {
                "application/json": {"schema": refs[(route.response_model, "serialization")]}
            },
        }
    else:
        responses["204"] = {"description": "No content."}
    for status, codes in _problem_statuses(route).items():
        responses[status] = {
            "description": _problem_text(status, codes),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_REF}},
        }
        if status in _PROBLEM_HEADERS:
            responses[status]["headers"] = _PROBLEM_HEADERS[status]
    operation["responses"] = responses
    if route.access.authenticates:
        operation["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
    else:
        operation["security"] = []
    return operation


def _query_parameters(ref: dict[str, Any], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = schemas[ref["$ref"].rsplit("/", 1)[-1]]
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if "description" in prop:
            parameter["description"] = prop["description"]
        parameters.append(parameter)
    return parameters


def _problem_statuses(route: Route) -> dict[str, list[str]]:
    """Each problem status ``route`` can answer, with the handler codes known for it."""
    statuses: set[str] = set()
    if route.request_model is not None:
        statuses |= {"400", "415", "422"}
    if route.query_model is not None:
        statuses.add("422")
    if any(is_id_param(name) for name in route.path_params):
        statuses.add("404")
    if route.access.authenticates:
        statuses |= {"401", "403"}
        if route.tenant_required:
            statuses.add("409")
    if route.access.kind is AccessKind.WEBHOOK:
        statuses.add("400")
    if route.idempotent:
        statuses |= {"400", "409", "422"}
    if route.method in UNSAFE_METHODS:
        statuses.add("409")  # any write can meet a unique constraint: database.integrity
    codes: dict[str, set[str]] = {}
    for error in (*route.errors, *route.commit_on):
        if error.status < 500:
            statuses.add(str(error.status))
            codes.setdefault(str(error.status), set()).add(error.code)
    ordered = {status: sorted(codes.get(status, ())) for status in sorted(statuses)}
    ordered["default"] = []
    return ordered


def _problem_text(status: str, codes: list[str]) -> str:
    text = _PROBLEM_TEXT.get(status) or f"{HTTPStatus(int(status)).phrase}."
    if codes:
        text += " Codes include " + ", ".join(f"`{code}`" for code in codes) + "."
    return text


def inline_operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    """One operation with every component reference replaced by the schema it names.

    For embedding into another framework's document (FastAPI's ``openapi_extra``), where this
    document's ``components`` are absent. A recursive model keeps its innermost self-reference
    as a plain object schema.
    """
    schemas = document["components"]["schemas"]
    operation = document["paths"][path][method.lower()]
    inlined = _inline(operation, schemas, ())
    assert isinstance(inlined, dict)
    return inlined


def _inline(node: Any, schemas: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[-1]
            if name in seen:
                return {"type": "object", "title": name}
            return _inline(schemas[name], schemas, (*seen, name))
        return {key: _inline(value, schemas, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, schemas, seen) for item in node]
    return node
