"""Mount saas-core's routes into a Django project.

``settings.py``::

    INSTALLED_APPS = [..., "saas_core_django"]
    SAAS_CORE = {"DATABASE_URL": "postgresql+psycopg://app@db/saas"}  # any Settings field

``urls.py``::

    urlpatterns = [path("api/v1/", include("saas_core_django.urls")), ...]

The mount point must match ``settings.api_prefix`` (``/api/v1`` by default): the pipeline and the
OpenAPI document use it. Instead of ``SAAS_CORE``, a project may build its own
:class:`~saas_core.core.Core` (custom ports, an existing engine) and register it at start-up with
:func:`configure`.

Views are ``csrf_exempt`` at the Django level on purpose: saas-core checks CSRF itself, the same
way in every framework (double-submit cookie, only for cookie-authenticated unsafe requests; bearer
requests need none), so Django's ``CsrfViewMiddleware`` can stay enabled for the rest of the site
without rejecting API clients that never saw a Django CSRF cookie.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

from saas_core.errors import ConfigurationError, missing_dependency

try:
    from django.conf import settings as django_settings  # type: ignore[import-untyped]
    from django.http import HttpResponse as DjangoResponse  # type: ignore[import-untyped]
    from django.urls import path  # type: ignore[import-untyped]
    from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    raise missing_dependency("django", "django") from None

from saas_core.api.http import Headers, HttpRequest
from saas_core.api.pipeline import Api, PathGroup
from saas_core.config import Settings
from saas_core.core import Core

__all__ = ["configure", "get_core", "urlpatterns_for"]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_lock = threading.Lock()
_core: Core | None = None
_patterns: tuple[Core, list[Any]] | None = None


def configure(core: Core | None) -> None:
    """Register the :class:`Core` the project's saas-core URLs serve (None: back to settings)."""
    global _core, _patterns
    with _lock:
        _core = core
        _patterns = None


def get_core() -> Core:
    """The registered core, or one built once from ``settings.SAAS_CORE``."""
    global _core
    core = _core
    if core is not None:
        return core
    with _lock:
        if _core is None:
            options = getattr(django_settings, "SAAS_CORE", {})
            if not isinstance(options, dict):
                raise ConfigurationError("settings.SAAS_CORE must be a dict of Settings fields")
            _core = Core(Settings(**{key.lower(): value for key, value in options.items()}))
        return _core


def urlpatterns_for(core: Core) -> list[Any]:
    """Django URL patterns for every path of ``core``'s table (relative to the mount point)."""
    api = core.api
    patterns: list[Any] = []
    for group in api.paths:
        route = _PARAM.sub(r"<str:\1>", group.path).lstrip("/")
        name = next(iter(group.endpoints.values())).route.name
        patterns.append(path(route, _view(api, group), name=name))
    return patterns


class CurrentPatterns(Sequence[Any]):
    """The URL patterns of the currently registered core (looked up on every access).

    ``saas_core_django.urls`` exposes this instead of a fixed list so that :func:`configure`
    takes effect without re-importing URL modules (tests swap the core per test).
    """

    def _current(self) -> list[Any]:
        global _patterns
        core = get_core()
        cached = _patterns
        if cached is None or cached[0] is not core:
            cached = (core, urlpatterns_for(core))
            _patterns = cached
        return cached[1]

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._current()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


#: CGI variables that carry request headers without the ``HTTP_`` prefix (PEP 3333).
_UNPREFIXED = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})


def _headers(meta: dict[str, Any]) -> Headers:
    """The request headers in ``META``, as ``request.headers`` reads them (later names win).

    Read straight from ``META``: ``request.headers`` would first build a title-cased mapping
    that :class:`Headers` then lower-cases again.
    """
    found: dict[str, str] = {}
    for key, value in meta.items():
        if key.startswith("HTTP_"):
            found[key[5:].replace("_", "-").lower()] = value
        elif key in _UNPREFIXED:
            found[key.replace("_", "-").lower()] = value
    return Headers(found.items())


def _view(api: Api, group: PathGroup) -> Callable[..., Any]:
    def view(request: Any, **path_params: str) -> Any:
        meta = request.META
        native = HttpRequest(
            method=request.method,
            path=request.path,
            headers=_headers(meta),
            query_string=meta.get("QUERY_STRING", ""),
            body=request.body,
            client_ip=meta.get("REMOTE_ADDR"),
        )
        result = api.dispatch(group, native, path_params)
        response = DjangoResponse(content=result.body, status=result.status)
        has_type = False
        for name, value in result.headers:
            response[name] = value
            has_type = has_type or name.lower() == "content-type"
        if not has_type:
            del response["Content-Type"]
        for cookie in result.cookies:
            response.set_cookie(
                cookie.name,
                cookie.value,
                max_age=cookie.max_age,
                path=cookie.path,
                domain=cookie.domain,
                secure=cookie.secure,
                httponly=cookie.http_only,
                samesite=cookie.same_site,
            )
        return response

    exempt: Callable[..., Any] = csrf_exempt(view)
    return exempt
