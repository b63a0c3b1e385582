"""Routes compiled for serving: path, query and body parsing prepared once per route.

:class:`Endpoint` resolves everything that depends on the route alone (which path parameters
are public ids, which query fields repeat, the validators) when the table is mounted, so the
per-request work is only the parsing itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, get_origin

from pydantic import BaseModel, ValidationError

from saas_core.api.contract import UNSAFE_METHODS, Route, is_id_param
from saas_core.api.http import HttpRequest
from saas_core.errors import MalformedJson, NotFound, UnsupportedMediaType, ValidationFailed

JSON = "application/json"
_COLLECTIONS = (list, tuple, set, frozenset)


def validation_errors(exc: ValidationError, where: str) -> list[dict[str, Any]]:
    """Pydantic's errors as problem ``errors`` items: ``loc`` starts with body/query/path."""
    return [
        {"loc": [where, *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


class Endpoint:
    """A route compiled for serving: validators and rules resolved once."""

    __slots__ = (
        "access",
        "audit_target_param",
        "authenticates",
        "id_params",
        "query_lists",
        "route",
        "unsafe",
    )

    def __init__(self, route: Route) -> None:
        self.route = route
        self.access = route.access
        self.authenticates = route.access.authenticates
        self.unsafe = route.method in UNSAFE_METHODS
        self.id_params = frozenset(p for p in route.path_params if is_id_param(p))
        ids = [p for p in route.path_params if p in self.id_params]
        self.audit_target_param = ids[-1] if ids else None
        lists: set[str] = set()
        if route.query_model is not None:
            for name, info in route.query_model.model_fields.items():
                if get_origin(info.annotation) in _COLLECTIONS or info.annotation in _COLLECTIONS:
                    lists.add(info.alias or name)
        self.query_lists = frozenset(lists)

    def parse_path(self, raw: Mapping[str, str]) -> dict[str, Any]:
        """Path parameters with public ids parsed; a malformed id is a 404 (nothing lives there)."""
        values: dict[str, Any] = dict(raw)
        for name in self.id_params:
            try:
                values[name] = uuid.UUID(raw[name])
            except ValueError:
                raise NotFound() from None
        return values

    def parse_query(self, request: HttpRequest) -> BaseModel | None:
        """The validated query model (repeated names become lists where the model says so)."""
        model = self.route.query_model
        if model is None:
            return None
        data: dict[str, Any] = {}
        for name, value in request.query.items():
            if name in self.query_lists:
                data.setdefault(name, []).append(value)
            else:
                data.setdefault(name, value)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed(errors=validation_errors(exc, "query")) from None

    def parse_body(self, request: HttpRequest) -> BaseModel | None:
        """The validated JSON body: 415 for another media type, 400 for bad JSON, 422 else."""
        model = self.route.request_model
        if model is None:
            return None
        if not request.body:
            missing = [{"loc": ["body"], "msg": "Field required", "type": "missing"}]
            raise ValidationFailed("a JSON body is required", errors=missing)
        media = request.content_type
        if media is None or not (media == JSON or media.endswith("+json")):
            raise UnsupportedMediaType("send the body as application/json")
        try:
            return model.model_validate_json(request.body)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors(include_url=False)):
                raise MalformedJson("the body is not valid JSON") from None
            raise ValidationFailed(errors=validation_errors(exc, "body")) from None
