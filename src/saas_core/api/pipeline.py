"""The request pipeline every adapter calls: one function from :class:`HttpRequest` to response.

Per request, in order: request id; path, query and body validation; credentials and the CSRF
check (before any database work); one unit of work (authenticate, authorise, claim the
idempotency key, bind the tenant, run the handler, record the audit entry, store the idempotent
response, commit; roll back on any error, except that the errors a route lists in ``commit_on``
commit the handler's writes first); serialisation; errors mapped to problem details.

Platform routes (``platform(...)`` access) run without the caller's active tenant, and a platform
request authorised under a break-glass grant is recorded as a ``break_glass_used`` security
event, committed before the handler runs.

Everything that can be decided from the route alone (validators, which query fields repeat,
which path parameters are ids, the access rule) is prepared once in :class:`Endpoint`, when
:class:`Api` compiles the table, so the per-request path does no reflection.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from saas_core.api.contract import AccessKind, Call, HandlerResult, Route
from saas_core.api.endpoint import JSON, Endpoint
from saas_core.api.hooks import (
    AuditEntry,
    IdempotencyOutcome,
    IdempotencyRequest,
    StoredResponse,
)
from saas_core.api.http import HttpRequest, HttpResponse
from saas_core.api.problems import dump_json, problem_response
from saas_core.context import AuthMethod, RequestContext
from saas_core.core import Credentials, Transport
from saas_core.errors import (
    CsrfFailed,
    IdempotencyInFlight,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    MethodNotAllowed,
    PermissionDenied,
    TenantRequired,
    Unauthenticated,
)
from saas_core.iam.authorize import is_break_glass
from saas_core.iam.events import record_break_glass_use

if TYPE_CHECKING:
    from saas_core.api.contract import RouteTable
    from saas_core.core import Core

_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class PathGroup:
    """Every route that shares one path template, by method (adapters mount one per path)."""

    __slots__ = ("endpoints", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.endpoints: dict[str, Endpoint] = {}

    @property
    def params(self) -> tuple[str, ...]:
        """The template's parameter names."""
        return next(iter(self.endpoints.values())).route.path_params


class Api:
    """A route table compiled against a :class:`~saas_core.core.Core`: what adapters mount."""

    def __init__(self, core: Core, table: RouteTable) -> None:
        self.core = core
        self.table = table
        self.prefix = core.settings.api_prefix.rstrip("/")
        self.endpoints = [Endpoint(route) for route in table]
        self._by_name = {e.route.name: e for e in self.endpoints}
        groups: dict[str, PathGroup] = {}
        for endpoint in self.endpoints:
            group = groups.setdefault(endpoint.route.path, PathGroup(endpoint.route.path))
            group.endpoints[endpoint.route.method] = endpoint
        # Mount static segments before parameters at the same depth ("/x/export" before "/x/{id}"):
        # Django and Starlette match in registration order, and a parameter would shadow them.
        self.paths = sorted(groups.values(), key=_specificity)
        self._session_cookie = core.session_cookie_name
        self._csrf_cookie = core.csrf_cookie_name
        self._csrf_header = core.settings.csrf_header_name
        self._openapi: bytes | None = None

    def endpoint(self, name: str) -> Endpoint:
        """The compiled route named ``name``."""
        return self._by_name[name]

    def openapi_bytes(self) -> bytes:
        """The OpenAPI document of this table, rendered once."""
        if self._openapi is None:
            from saas_core.api.openapi import openapi_document

            document = openapi_document(
                self.table, prefix=self.prefix, cookie_name=self._session_cookie
            )
            self._openapi = dump_json(document)
        return self._openapi

    def dispatch(
        self, group: PathGroup, request: HttpRequest, path_params: Mapping[str, str]
    ) -> HttpResponse:
        """Serve ``request`` with the route of ``group`` matching its method (405 if none)."""
        method = request.method
        endpoint = group.endpoints.get(method)
        if endpoint is not None:
            return self.handle(endpoint, request, path_params)
        if method == "HEAD" and "GET" in group.endpoints:
            response = self.handle(group.endpoints["GET"], request, path_params)
            response.body = b""
            return response
        request_id = _request_id(request)
        if method == "OPTIONS":
            allow = ", ".join(sorted({*group.endpoints, "OPTIONS"}))
            return HttpResponse(204, [("Allow", allow), ("X-Request-ID", request_id)])
        error = MethodNotAllowed(allow=sorted(group.endpoints))
        response = problem_response(error, instance=request.path, request_id=request_id)
        response.headers.append(("X-Request-ID", request_id))
        return response

    def handle(
        self, endpoint: Endpoint, request: HttpRequest, path_params: Mapping[str, str]
    ) -> HttpResponse:
        """Serve ``request`` with ``endpoint``; never raises."""
        request_id = _request_id(request)
        try:
            response = self._serve(endpoint, request, path_params, request_id)
        except Exception as exc:  # every failure, expected or not, becomes a problem response
            response = problem_response(exc, instance=request.path, request_id=request_id)
        response.headers.append(("X-Request-ID", request_id))
        return response

    def _serve(
        self,
        endpoint: Endpoint,
        request: HttpRequest,
        path_params: Mapping[str, str],
        request_id: str,
    ) -> HttpResponse:
        route = endpoint.route
        path = endpoint.parse_path(path_params)
        query = endpoint.parse_query(request)
        body = endpoint.parse_body(request)
        if endpoint.authenticates:
            credentials = self._credentials(request, request_id)
            if endpoint.unsafe and credentials.transport is Transport.COOKIE:
                self._check_csrf(request)
        else:
            credentials = Credentials(
                Transport.NONE, None, request_id, request.client_ip, request.user_agent
            )
        core = self.core
        session = core.sessionmaker()
        try:
            session.begin()
            ctx = self._context(session, endpoint, credentials)
            if endpoint.access.kind is AccessKind.PLATFORM and is_break_glass(ctx):
                self._record_break_glass_use(session, route, ctx)
            claim = None
            if route.idempotent:
                claim = self._idempotency_request(request, ctx, path, body, query)
            if claim is not None:
                # The claim is committed in a transaction of its own so a concurrent duplicate
                # sees it; end the authentication transaction first (SQLite has one writer).
                session.commit()
                outcome = core.idempotency_store.begin(claim)
                if outcome.outcome is IdempotencyOutcome.REPLAY and outcome.response is not None:
                    return _replay(outcome.response)
                if outcome.outcome is IdempotencyOutcome.IN_FLIGHT:
                    raise IdempotencyInFlight()
                if outcome.outcome is not IdempotencyOutcome.PROCEED:
                    raise IdempotencyKeyReused()
                session.begin()
            try:
                core.tenant_binder.bind(session, ctx)
                call = Call(
                    core=core,
                    session=session,
                    ctx=ctx,
                    request=request,
                    path=path,
                    body=body,
                    query=query,
                )
                response = _render(route, call, route.handler(call))
                if route.audit_action is not None:
                    core.audit_sink.record(session, self._audit_entry(endpoint, call))
                if claim is not None:
                    stored = StoredResponse(response.status, dict(response.headers), response.body)
                    core.idempotency_store.complete(session, claim, stored)
                session.commit()
            except BaseException as error:
                try:
                    _end_failed(session, error, route)
                finally:
                    if claim is not None:
                        core.idempotency_store.release(claim)
                raise
            return response
        finally:
            session.close()

    def _credentials(self, request: HttpRequest, request_id: str) -> Credentials:
        authorization = request.headers.get("authorization")
        ip, agent = request.client_ip, request.user_agent
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated("use the Bearer authorization scheme")
            return Credentials(Transport.BEARER, token, request_id, ip, agent)
        cookie = request.cookies.get(self._session_cookie)
        if cookie:
            return Credentials(Transport.COOKIE, cookie, request_id, ip, agent)
        return Credentials(Transport.NONE, None, request_id, ip, agent)

    def _check_csrf(self, request: HttpRequest) -> None:
        # Double submit: a cross-site form can send the cookies but can neither read the CSRF
        # cookie nor set a custom header, so only same-origin script can make them agree.
        cookie = request.cookies.get(self._csrf_cookie, "")
        header = request.headers.get(self._csrf_header, "") or ""
        if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
            raise CsrfFailed()

    def _context(self, session: Session, endpoint: Endpoint, creds: Credentials) -> RequestContext:
        access = endpoint.access
        if access.kind is AccessKind.PUBLIC:
            return creds.anonymous()
        if access.kind is AccessKind.WEBHOOK:
            return replace(creds.anonymous(), auth_method=AuthMethod.SYSTEM)
        ctx = self.core.authenticator.authenticate(session, creds)
        if not ctx.is_authenticated:
            raise Unauthenticated()
        needed = access.permission
        if endpoint.route.tenant_required and ctx.tenant is None:
            raise TenantRequired()
        if access.kind is AccessKind.PERMISSION:
            granted = ctx.permissions
        elif access.kind is AccessKind.PLATFORM:
            granted = ctx.platform_permissions
        elif access.kind is AccessKind.API_KEY:
            if ctx.auth_method is not AuthMethod.API_KEY:
                raise PermissionDenied("this operation takes an API key")
            granted = ctx.permissions
        else:
            return ctx
        if needed is not None and needed not in granted:
            raise PermissionDenied(permission=needed)
        if access.kind is AccessKind.PLATFORM and not endpoint.route.tenant_required:
            # A platform route acts for the platform, not in the caller's active tenant: its
            # audit row and events carry no tenant (the operator's own tenant must not see them
            # in its log) and its handler cannot lean on tenant permissions by accident.
            return replace(ctx, tenant=None, role=None, permissions=frozenset())
        return ctx

    def _record_break_glass_use(self, session: Session, route: Route, ctx: RequestContext) -> None:
        # Once per request, for every platform route alike, and committed before the handler
        # runs: an emergency grant's use stays on record even if the request then fails.
        record_break_glass_use(
            session,
            ctx,
            permission=route.access.permission or "",
            clock=self.core.clock,
            action=route.audit_action or route.name,
        )
        session.commit()
        session.begin()

    def _idempotency_request(
        self,
        request: HttpRequest,
        ctx: RequestContext,
        path: dict[str, Any],
        body: BaseModel | None,
        query: BaseModel | None,
    ) -> IdempotencyRequest | None:
        key = request.headers.get("idempotency-key")
        if key is None:
            return None
        if not _IDEMPOTENCY_KEY.fullmatch(key):
            raise IdempotencyKeyInvalid("use 1 to 255 visible ASCII characters")
        caller = ctx.caller_key
        if caller is None:
            # Without a caller to scope it, a key would let anyone replay someone else's answer.
            return None
        fingerprint = request_fingerprint(request.method, request.path, query, body)
        return IdempotencyRequest(caller, key, request.method, request.path, fingerprint)

    def _audit_entry(self, endpoint: Endpoint, call: Call) -> AuditEntry:
        ctx = call.ctx
        target = call.audit_target
        param = endpoint.audit_target_param
        if target is None and param is not None:
            target = (param[: -len("Id")], str(call.path[param]))
        return AuditEntry(
            action=endpoint.route.audit_action or "",
            occurred_at=self.core.clock.now(),
            request_id=ctx.request_id,
            actor=call.audit_actor or ctx.user,
            impersonator=ctx.impersonator,
            tenant=None if endpoint.route.personal else ctx.tenant,
            api_key_id=ctx.api_key_id,
            target=target,
            client_ip=ctx.client_ip,
            user_agent=ctx.user_agent,
            metadata=dict(call.audit_metadata),
        )


def _specificity(group: PathGroup) -> tuple[bool, ...]:
    return tuple(segment.startswith("{") for segment in group.path.split("/"))


def request_fingerprint(
    method: str, path: str, query: BaseModel | None, body: BaseModel | None
) -> str:
    """SHA-256 hex of what a keyed request asks for (validated, so formatting does not count)."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    if query is not None:
        digest.update(query.__pydantic_serializer__.to_json(query))
    digest.update(b"\n")
    if body is not None:
        digest.update(body.__pydantic_serializer__.to_json(body))
    return digest.hexdigest()


def _request_id(request: HttpRequest) -> str:
    incoming = request.headers.get("x-request-id")
    if incoming is not None and _REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def _render(route: Route, call: Call, result: HandlerResult) -> HttpResponse:
    if isinstance(result, HttpResponse):
        response = result
    elif result is None:
        response = HttpResponse(status=call.status or 204)
    else:
        body = result.__pydantic_serializer__.to_json(result, by_alias=True)
        response = HttpResponse(
            status=call.status or route.status_code, headers=[("Content-Type", JSON)], body=body
        )
    if call.headers:
        response.headers.extend(call.headers)
    if call.cookies:
        response.cookies.extend(call.cookies)
    return response


def _end_failed(session: Session, error: BaseException, route: Route) -> None:
    """End the transaction of a failed request: roll back, or commit for ``route.commit_on``."""
    if not isinstance(error, route.commit_on):
        session.rollback()
        return
    # Handlers raise these after flushing what must outlive the failure (a failed sign-in's
    # counter and security events); the audit entry and idempotent response come after the
    # handler, so they were never written.
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _replay(stored: StoredResponse) -> HttpResponse:
    headers = [*stored.headers.items(), ("Idempotent-Replayed", "true")]
    return HttpResponse(status=stored.status, headers=headers, body=stored.body)


def execute(
    core: Core, route: Route, request: HttpRequest, path_params: Mapping[str, str]
) -> HttpResponse:
    """Serve ``request`` with ``route`` of ``core``'s table (the compiled form is reused)."""
    return core.api.handle(core.api.endpoint(route.name), request, path_params)
