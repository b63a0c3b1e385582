"""Routes compiled for serving: path, query and body parsing prepared once per route.

:class:`Endpoint` resolves everything that depends on the route alone (which path parameters
are public ids, which query fields repeat, the validators) when the table is mounted, so the
per-request work is only the parsing itself.

Text holding a NUL character (U+0000) is refused here, for every route and both databases alike:
PostgreSQL cannot store NUL in ``text`` or ``jsonb`` (it would fail as a 500 deep in a handler),
so a JSON string or a query value carrying one is a 422 validation problem naming the field, and
a plain path parameter carrying one is a 404.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, get_origin

from pydantic import BaseModel, ValidationError

from saas_core.api.contract import UNSAFE_METHODS, Route, is_id_param
from saas_core.api.http import HttpRequest
from saas_core.errors import MalformedJson, NotFound, UnsupportedMediaType, ValidationFailed

JSON = "application/json"
_COLLECTIONS = (list, tuple, set, frozenset)
NUL = "\x00"
#: The only spelling of NUL a valid JSON text can carry (a raw NUL byte is invalid JSON).
_NUL_ESCAPE = b"\\u0000"
NUL_ERROR_TYPE = "nul_character"
_NUL_MESSAGE = "Text must not contain the NUL character (U+0000)"


def validation_errors(exc: ValidationError, where: str) -> list[dict[str, Any]]:
    """Pydantic's errors as problem ``errors`` items: ``loc`` starts with body/query/path."""
    return [
        {"loc": [where, *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def nul_error(loc: list[str | int]) -> dict[str, Any]:
    """The problem ``errors`` item for a NUL character at ``loc``."""
    return {"loc": loc, "msg": _NUL_MESSAGE, "type": NUL_ERROR_TYPE}


def body_nul_errors(body: bytes) -> list[dict[str, Any]]:
    """One error per JSON string (value or member name) of ``body`` that holds NUL.

    Cheap when there is none (a byte search); an invalid JSON text yields no errors here, so
    the body's own parsing still answers it as malformed.
    """
    if _NUL_ESCAPE not in body:
        return []
    try:
        document = json.loads(body)
    except ValueError:  # also UnicodeDecodeError and JSONDecodeError
        return []
    errors: list[dict[str, Any]] = []
    _collect_nul(document, ["body"], errors)
    return errors


def _collect_nul(value: Any, loc: list[str | int], errors: list[dict[str, Any]]) -> None:
    if isinstance(value, str):
        if NUL in value:
            errors.append(nul_error(loc))
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                errors.append(nul_error([*loc, key]))
            else:
                _collect_nul(item, [*loc, key], errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _collect_nul(item, [*loc, index], errors)


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
        """Path parameters with public ids parsed; a malformed id is a 404 (nothing lives there).

        So is a plain parameter holding NUL: no stored name can contain one.
        """
        values: dict[str, Any] = dict(raw)
        if any(NUL in value for value in values.values()):
            raise NotFound()
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
        nul: list[dict[str, Any]] = []
        for name, value in request.query.items():
            if NUL in name or NUL in value:
                nul.append(nul_error(["query", name]))
            elif name in self.query_lists:
                data.setdefault(name, []).append(value)
            else:
                data.setdefault(name, value)
        if nul:
            raise ValidationFailed(errors=nul)
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
        nul = body_nul_errors(request.body)
        if nul:
            raise ValidationFailed(errors=nul)
        try:
            return model.model_validate_json(request.body)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors(include_url=False)):
                raise MalformedJson("the body is not valid JSON") from None
            raise ValidationFailed(errors=validation_errors(exc, "body")) from None
