"""Mount saas-core's routes into a FastAPI application.

::

    from fastapi import FastAPI
    from saas_core.core import Core
    from saas_core_fastapi import saas_router

    core = Core()
    app = FastAPI()
    app.include_router(saas_router(core))

Every route of ``core.routes`` becomes a native route under ``settings.api_prefix``: FastAPI's own
``/docs`` lists them, with the request, response and problem schemas of saas-core's generator
(inlined, as FastAPI's document has no saas-core components). FastAPI does not parse or validate
anything here: the endpoint hands the raw request to saas-core's pipeline, which answers the
same bytes as the Flask and Django adapters.

Requests are routed by one undocumented route per path that takes every method (the pipeline
answers a 405 problem for a method the path does not declare); the documented per-operation
routes come after them in an included router, for ``/docs`` and ``url_path_for``. Starlette tries
routes in order, so this keeps the routes scanned per request to at most one per path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from saas_core.errors import missing_dependency

try:
    from fastapi import APIRouter, FastAPI, Request, Response
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    raise missing_dependency("fastapi", "fastapi") from None

from saas_core.api.contract import DISPATCHED_METHODS
from saas_core.api.http import Headers, HttpRequest
from saas_core.api.openapi import inline_operation, openapi_document
from saas_core.api.pipeline import Api, PathGroup
from saas_core.core import Core

__all__ = ["create_app", "saas_router"]

#: Members of saas-core's operation that FastAPI does not generate itself.
_EXTRA_KEYS = ("parameters", "requestBody", "responses")


def create_app(core: Core, *, title: str = "saas-core") -> FastAPI:
    """A FastAPI application serving nothing but saas-core's routes (demos, quick trials)."""
    app = FastAPI(title=title)
    app.include_router(saas_router(core))
    return app


def saas_router(core: Core) -> APIRouter:
    """An ``APIRouter`` serving every route of ``core`` under its API prefix."""
    api = core.api
    router = APIRouter(prefix=api.prefix)
    document = openapi_document(api.table, prefix=api.prefix)
    # Requests are served by one route per path taking every method (the pipeline answers 405 for
    # the ones the path does not declare): Starlette tries routes in order, so a request scans at
    # most one candidate per path. The documented operations live in a router included after
    # them: FastAPI's /docs lists those and ``url_path_for(route name)`` finds them, but no
    # request reaches them.
    operations = APIRouter()
    for group in api.paths:
        view = _view(api, group)
        router.add_api_route(
            group.path,
            view,
            methods=sorted(DISPATCHED_METHODS),
            name=f"{next(iter(group.endpoints.values())).route.name}__dispatch",
            response_model=None,
            include_in_schema=False,
        )
        for method, endpoint in group.endpoints.items():
            route = endpoint.route
            operation = inline_operation(document, api.prefix + route.path, method)
            operations.add_api_route(
                route.path,
                view,
                methods=[method],
                name=route.name,
                operation_id=route.name,
                summary=route.summary or None,
                description=route.description or "",
                tags=list(route.tags) or None,
                status_code=route.status_code if route.response_model else 204,
                response_model=None,
                response_class=JSONResponse,
                openapi_extra={key: operation[key] for key in _EXTRA_KEYS if key in operation},
            )
    router.include_router(operations)
    return router


def _view(api: Api, group: PathGroup) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        client = request.client
        native = HttpRequest(
            method=request.method,
            path=request.url.path,
            headers=Headers(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
            ),
            query_string=request.scope.get("query_string", b"").decode("latin-1"),
            body=body,
            client_ip=client.host if client else None,
        )
        # The pipeline is synchronous (SQLAlchemy sessions): run it off the event loop, as
        # FastAPI itself does for a plain ``def`` endpoint.
        result = await run_in_threadpool(api.dispatch, group, native, request.path_params)
        response = Response(content=result.body, status_code=result.status)
        response.raw_headers.extend(
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in result.raw_headers()
        )
        return response

    return endpoint
