"""Mount saas-core's routes into a Flask application.

::

    from flask import Flask
    from saas_core.core import Core
    from saas_core_flask import SaasCore

    app = Flask(__name__)
    SaasCore(app, core=Core())

    # or, with an application factory:
    saas = SaasCore(core=Core())
    def create_app() -> Flask:
        app = Flask(__name__)
        saas.init_app(app)
        return app

``init_app`` registers a blueprint built from ``core.routes`` under ``settings.api_prefix``: one
URL rule per path, whose view hands the raw request to saas-core's pipeline (which validates,
authenticates, runs the handler in one unit of work and maps errors), so Flask answers the same
bytes as the FastAPI and Django adapters.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from saas_core.errors import missing_dependency

try:
    from flask import Blueprint, Flask, Response, request
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    raise missing_dependency("flask", "flask") from None

from saas_core.api.contract import DISPATCHED_METHODS
from saas_core.api.http import Headers, HttpRequest
from saas_core.api.pipeline import Api, PathGroup
from saas_core.core import Core

__all__ = ["SaasCore", "saas_blueprint"]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _RawResponse(Response):
    # saas-core sets Content-Type itself; a 204 must not get Flask's text/html default.
    default_mimetype = None


class SaasCore:
    """Flask extension: ``SaasCore(app, core=core)`` or ``SaasCore(core=core).init_app(app)``."""

    def __init__(self, app: Flask | None = None, *, core: Core | None = None) -> None:
        self.core = core
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, *, core: Core | None = None) -> None:
        """Register saas-core's blueprint on ``app`` (a default ``Core()`` if none was given)."""
        core = core or self.core or Core()
        self.core = core
        app.register_blueprint(saas_blueprint(core))
        app.extensions["saas_core"] = core


def saas_blueprint(core: Core, name: str = "saas_core") -> Blueprint:
    """A blueprint serving every route of ``core`` under its API prefix."""
    api = core.api
    blueprint = Blueprint(name, __name__, url_prefix=api.prefix)
    methods = sorted(DISPATCHED_METHODS)
    for group in api.paths:
        blueprint.add_url_rule(
            _PARAM.sub(r"<\1>", group.path),
            endpoint=next(iter(group.endpoints.values())).route.name,
            view_func=_view(api, group),
            methods=methods,
            provide_automatic_options=False,
        )
    return blueprint


def _view(api: Api, group: PathGroup) -> Callable[..., Response]:
    def view(**path_params: str) -> Response:
        native = HttpRequest(
            method=request.method,
            path=request.path,
            headers=Headers(request.headers.items()),
            query_string=request.query_string.decode("latin-1"),
            body=request.get_data(cache=False),
            client_ip=request.remote_addr,
        )
        result = api.dispatch(group, native, path_params)
        return _RawResponse(result.body, status=result.status, headers=result.raw_headers())

    return view
