"""The route contract: every HTTP operation declared once, as data.

A domain's ``routes.py`` builds a :class:`RouteTable` of :class:`Route` objects; the assembling
module :mod:`saas_core.api.routes` includes every domain's table; adapters mount the whole table
in one loop. A handler is a plain function ``handler(call) -> BaseModel | None`` that gets
everything it needs from :class:`Call`.

Path parameters are written ``{name}``. A parameter whose name ends in ``Id`` (``projectId``,
``userId``) is a public id: the pipeline parses it as a UUID and answers 404 when it is not one;
other parameters (``{provider}``) are plain strings.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from saas_core.api.http import Cookie, HttpRequest, HttpResponse, SameSite
from saas_core.errors import SaasCoreError
from saas_core.iam.authorize import require
from saas_core.iam.models import IamScope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from saas_core.context import RequestContext, UserRef
    from saas_core.core import Core

M = TypeVar("M", bound=BaseModel)

#: What a handler may return: a model (serialised as JSON), ``None`` (204), or a raw response.
HandlerResult = BaseModel | HttpResponse | None
Handler = Callable[["Call"], HandlerResult]

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Methods adapters hand to the pipeline: HEAD is served by GET routes, OPTIONS lists methods.
DISPATCHED_METHODS = METHODS | {"HEAD", "OPTIONS"}
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PATH = re.compile(r"^(/[A-Za-z0-9._~\-]*|/\{[A-Za-z_][A-Za-z0-9_]*\})+$")


def is_id_param(name: str) -> bool:
    """True for path parameters that carry a public id (a UUID)."""
    return name.endswith("Id")


class AccessKind(enum.StrEnum):
    """Who may call a route."""

    #: Anyone; no credentials are read.
    PUBLIC = "public"
    #: Any authenticated caller (session or API key).
    AUTHENTICATED = "authenticated"
    #: An authenticated caller holding a tenant permission in the active tenant.
    PERMISSION = "permission"
    #: An authenticated caller holding a platform permission.
    PLATFORM = "platform"
    #: An API key (service-to-service), optionally scoped to a permission.
    API_KEY = "api_key"
    #: A payment provider; no credentials, the handler verifies the signature on the raw body.
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class Access:
    """A route's access rule; build it with the module-level helpers."""

    kind: AccessKind
    permission: str | None = None

    @property
    def authenticates(self) -> bool:
        """True when the pipeline must authenticate the caller."""
        return self.kind not in (AccessKind.PUBLIC, AccessKind.WEBHOOK)


PUBLIC = Access(AccessKind.PUBLIC)
AUTHENTICATED = Access(AccessKind.AUTHENTICATED)
WEBHOOK = Access(AccessKind.WEBHOOK)


# The helpers below check names against the IAM catalog where routes are declared: a misspelt
# permission raises UnknownPermission when the routes module is imported, instead of silently
# denying every request.


def permission(name: str) -> Access:
    """Access for callers holding tenant permission ``name`` (``"projects:write"``).

    Raises :class:`~saas_core.errors.UnknownPermission` unless ``name`` is a tenant permission
    of the catalog.
    """
    return Access(AccessKind.PERMISSION, require(name, IamScope.TENANT))


def platform(name: str) -> Access:
    """Access for callers holding platform permission ``name`` (``"platform:audit:read"``).

    Raises :class:`~saas_core.errors.UnknownPermission` unless ``name`` is a platform permission
    of the catalog.
    """
    return Access(AccessKind.PLATFORM, require(name, IamScope.PLATFORM))


def api_key(name: str | None = None) -> Access:
    """Access for API keys, scoped to tenant permission ``name`` when given (checked as above)."""
    return Access(AccessKind.API_KEY, require(name, IamScope.TENANT) if name else None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """One HTTP operation.

    ``path`` is relative to the API prefix (``"/projects/{projectId}"``); ``name`` doubles as the
    OpenAPI ``operationId``. Unsafe methods must name an ``audit_action`` (the pipeline records it
    in the request's transaction); ``idempotent`` routes honour an ``Idempotency-Key`` header.
    ``tenant_required`` defaults to True for tenant-permission routes.

    ``commit_on`` lists errors after which the request's unit of work is committed rather than
    rolled back before the problem is answered: for operations that must remember a failure
    (a wrong password counts towards a lockout and leaves a security event). No audit entry is
    written and no idempotent response is stored for such a request: it failed, and the audit
    log records what was done, not what was refused.

    ``errors`` lists the errors the handler may raise that the route's shape does not already
    imply (an id in the body that may name nothing, a state conflict on a read): the OpenAPI
    document lists their statuses and codes. The pipeline's own answers (validation, 401/403
    for authenticated routes, 404 for ``...Id`` parameters, 409 for writes) and the errors of
    ``commit_on`` are documented without being listed.

    ``personal`` routes act on the caller's own account (sign-in, profile, sessions, joining or
    creating a tenant): their audit row belongs to no tenant, so the administrators of whichever
    tenant happens to be active never read a member's account activity; it stays in the
    platform-level audit log.
    """

    method: str
    path: str
    name: str
    handler: Handler
    access: Access
    summary: str = ""
    description: str | None = None
    tags: tuple[str, ...] = ()
    request_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    status_code: int = 200
    audit_action: str | None = None
    idempotent: bool = False
    tenant_required: bool | None = None
    commit_on: tuple[type[SaasCoreError], ...] = ()
    errors: tuple[type[SaasCoreError], ...] = ()
    personal: bool = False
    path_params: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        method = self.method.upper()
        if method not in METHODS:
            raise ValueError(f"route {self.name!r}: unsupported method {self.method!r}")
        if not _PATH.match(self.path):
            raise ValueError(f"route {self.name!r}: malformed path {self.path!r}")
        params = tuple(_PARAM.findall(self.path))
        if len(set(params)) != len(params):
            raise ValueError(f"route {self.name!r}: repeated path parameter in {self.path!r}")
        unaudited = self.audit_action is None and self.access.kind is not AccessKind.WEBHOOK
        if method in UNSAFE_METHODS and unaudited:
            raise ValueError(f"route {self.name!r}: {method} routes need an audit_action")
        if self.idempotent and method not in UNSAFE_METHODS:
            raise ValueError(f"route {self.name!r}: only unsafe methods take an Idempotency-Key")
        if self.request_model is not None and method not in UNSAFE_METHODS:
            raise ValueError(f"route {self.name!r}: {method} routes take no body")
        if self.commit_on and method not in UNSAFE_METHODS:
            raise ValueError(f"route {self.name!r}: only unsafe methods commit on errors")
        if not all(isinstance(e, type) and issubclass(e, SaasCoreError) for e in self.commit_on):
            raise ValueError(f"route {self.name!r}: commit_on takes SaasCoreError subclasses")
        if not all(isinstance(e, type) and issubclass(e, SaasCoreError) for e in self.errors):
            raise ValueError(f"route {self.name!r}: errors takes SaasCoreError subclasses")
        tenant_required = self.tenant_required
        if tenant_required is None:
            tenant_required = self.access.kind is AccessKind.PERMISSION
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "tenant_required", tenant_required)
        object.__setattr__(self, "path_params", params)

    @property
    def key(self) -> tuple[str, str]:
        """``(method, path)``: unique within a table."""
        return (self.method, self.path)


class RouteTable:
    """An ordered collection of routes, unique by ``(method, path)`` and by name."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._routes: dict[tuple[str, str], Route] = {}
        self._by_name: dict[str, Route] = {}
        for route in routes:
            self.add(route)

    def add(self, route: Route) -> Route:
        """Append ``route``; a duplicate ``(method, path)`` or name is an error."""
        if route.key in self._routes:
            raise ValueError(f"duplicate route {route.method} {route.path}")
        if route.name in self._by_name:
            raise ValueError(f"duplicate route name {route.name!r}")
        self._routes[route.key] = route
        self._by_name[route.name] = route
        return route

    def route(
        self, method: str, path: str, *, name: str | None = None, **options: Any
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`: the function's name is the default route name."""

        def register(handler: Handler) -> Handler:
            route_name: str = name or str(getattr(handler, "__name__", ""))
            self.add(Route(method=method, path=path, name=route_name, handler=handler, **options))
            return handler

        return register

    def include(self, other: RouteTable) -> None:
        """Append every route of ``other``, in order."""
        for route in other:
            self.add(route)

    def get(self, name: str) -> Route:
        """The route named ``name``; ``KeyError`` if absent."""
        return self._by_name[name]

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes.values())

    def __len__(self) -> int:
        return len(self._routes)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


class Call:
    """What a handler gets: the request's unit of work, caller, validated input, response hooks.

    ``session`` is the request's SQLAlchemy session inside its transaction (commit and rollback
    belong to the pipeline: handlers and services only ``flush()``).
    """

    __slots__ = (
        "_body",
        "_query",
        "audit_actor",
        "audit_metadata",
        "audit_target",
        "cookies",
        "core",
        "ctx",
        "headers",
        "path",
        "request",
        "session",
        "status",
    )

    def __init__(
        self,
        *,
        core: Core,
        session: Session,
        ctx: RequestContext,
        request: HttpRequest,
        path: dict[str, Any],
        body: BaseModel | None,
        query: BaseModel | None,
    ) -> None:
        self.core = core
        self.session = session
        self.ctx = ctx
        self.request = request
        #: Path parameters: ``uuid.UUID`` for ``...Id`` names, ``str`` otherwise.
        self.path = path
        self._body = body
        self._query = query
        #: Extra response headers and cookies; an explicit status overrides the route's.
        self.headers: list[tuple[str, str]] = []
        self.cookies: list[Cookie] = []
        self.status: int | None = None
        #: Audit enrichment: ``(target type, target public id)``, metadata and, for routes that
        #: establish the caller themselves (login), the acting user.
        self.audit_target: tuple[str, str] | None = None
        self.audit_metadata: dict[str, Any] = {}
        self.audit_actor: UserRef | None = None

    @property
    def body(self) -> BaseModel | None:
        """The validated request model, or None for routes without a body."""
        return self._body

    @property
    def query(self) -> BaseModel | None:
        """The validated query model, or None for routes without one."""
        return self._query

    def body_as(self, model: type[M]) -> M:
        """The validated body, typed as ``model`` (the route's ``request_model``)."""
        if not isinstance(self._body, model):
            raise TypeError(f"body is {type(self._body).__name__}, not {model.__name__}")
        return self._body

    def query_as(self, model: type[M]) -> M:
        """The validated query, typed as ``model`` (the route's ``query_model``)."""
        if not isinstance(self._query, model):
            raise TypeError(f"query is {type(self._query).__name__}, not {model.__name__}")
        return self._query

    def path_id(self, name: str) -> uuid.UUID:
        """The public id in path parameter ``name``."""
        value = self.path[name]
        if not isinstance(value, uuid.UUID):
            raise TypeError(f"path parameter {name!r} is not an id")
        return value

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        path: str = "/",
        secure: bool | None = None,
        http_only: bool = True,
        same_site: SameSite | None = "Lax",
    ) -> None:
        """Set a cookie on the response; ``secure`` defaults to ``settings.cookie_secure``."""
        if secure is None:
            secure = self.core.settings.cookie_secure
        self.cookies.append(Cookie(name, value, max_age, path, None, secure, http_only, same_site))

    def delete_cookie(self, name: str, *, path: str = "/", http_only: bool = True) -> None:
        """Remove a cookie on the client."""
        self.set_cookie(name, "", max_age=0, path=path, http_only=http_only)

    def add_header(self, name: str, value: str) -> None:
        """Add a response header."""
        self.headers.append((name, value))

    def audit(
        self, target_type: str | None = None, target_id: object = None, **metadata: Any
    ) -> None:
        """Name the audit record's target and add metadata (references, never personal data)."""
        if target_type is not None:
            self.audit_target = (target_type, str(target_id) if target_id is not None else "")
        self.audit_metadata.update(metadata)
