"""Routes of the API itself: a health check and the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from saas_core.api.contract import PUBLIC, Call, RouteTable
from saas_core.api.http import HttpResponse

routes = RouteTable()


class HealthOut(BaseModel):
    """The service answers and its database too."""

    status: Literal["ok"] = "ok"


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")

    openapi: str


@routes.route(
    "GET",
    "/health",
    access=PUBLIC,
    response_model=HealthOut,
    tags=("system",),
    summary="Health check (includes a database round trip)",
)
def health(call: Call) -> HealthOut:
    """``{"status": "ok"}`` once the database has answered a query."""
    call.session.execute(text("SELECT 1"))
    return HealthOut()


@routes.route(
    "GET",
    "/openapi.json",
    name="openapi",
    access=PUBLIC,
    response_model=OpenApiDocument,
    tags=("system",),
    summary="This API's OpenAPI 3.1 document",
)
def openapi(call: Call) -> HttpResponse:
    """The document generated from the route table being served."""
    body = call.core.api.openapi_bytes()
    return HttpResponse(status=200, headers=[("Content-Type", "application/json")], body=body)
