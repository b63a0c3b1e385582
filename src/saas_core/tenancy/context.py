"""Building the request context: who is calling, in which tenant, with which permissions.

:func:`build_context` (session tokens) and :func:`build_api_key_context` (API keys) run once per
request, inside its transaction, and return a frozen :class:`~saas_core.context.RequestContext`.
Nothing is cached between requests: the session, the user, the membership, the role and its
permissions are read again every time, so a revoked session, a removed member, a changed role or
a suspended tenant takes effect on the very next request.

The active tenant is the session's ``auth_sessions.active_tenant_id`` (never a client-supplied
id), kept only while the user is still a member and the tenant is ``active``; otherwise the
request has no tenant. :func:`switch_active_tenant` changes it. The session token is not rotated
on a switch: the token grants no tenant by itself, every request re-derives the tenant and the
permissions from the database, so a stolen token is worth exactly as much before as after.

Statements per request (a session token; the test suite counts them):

1. the session joined to its user (:mod:`saas_core.identity.session_lookup`, checked by
   :meth:`SessionService.accept`); on PostgreSQL the same statement binds ``app.user_id`` and
   the candidate ``app.tenant_id`` for Row Level Security with ``set_config``, for a valid
   session only (see ``_LOOKUP_AND_BIND`` below);
2. the membership joined to its tenant and role (skipped when the session has no active tenant);
3. the permissions of that role and the user's live assignments, one ``UNION``
   (:func:`saas_core.iam.loader.resolve_permissions`).

Plus, at most once per ``Settings.session_touch_interval``, the ``last_seen_at`` update, and
during impersonation one read of the impersonator. So 3 on PostgreSQL and on SQLite.

All of them run through one DBAPI cursor of the session's connection
(:class:`~saas_core.db.direct.DirectCursor`): no ORM objects are loaded, and each statement is
compiled once per process, not once per request.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from saas_core.clock import Clock
from saas_core.config import Settings
from saas_core.context import AuthMethod, RequestContext, TenantRef, UserRef
from saas_core.core import Credentials, Transport
from saas_core.db.direct import DirectCursor, DirectStatement
from saas_core.db.tenant import applied_settings, bind_context, bind_tenant, current_binding
from saas_core.errors import (
    AccountDisabled,
    ApiKeyInvalid,
    SessionExpired,
    TenantNotFound,
    Unauthenticated,
)
from saas_core.iam.loader import resolve_permissions
from saas_core.iam.models import IamScope, Role
from saas_core.identity.api_keys import ApiKeyService
from saas_core.identity.models import AuthSession, User
from saas_core.identity.session_lookup import (
    SESSION_LOOKUP,
    ValidSession,
    session_lookup,
    session_valid,
)
from saas_core.identity.sessions import SessionService
from saas_core.identity.tokens import looks_like_api_key
from saas_core.tenancy.models import Tenant, TenantMember, TenantStatus
from saas_core.tenancy.schemas import TenantOut

_auth_sessions = AuthSession.__table__
_members = TenantMember.__table__
_tenants = Tenant.__table__
_roles = Role.__table__
_users = User.__table__

# Core statements (not ORM): the hot path pays for no entity loading. They filter by tenant and
# user explicitly; on PostgreSQL Row Level Security applies as to any other statement.
# The status stays the driver's string (TenantStatus is a StrEnum: it compares equal).
_MEMBERSHIP = DirectStatement(
    select(
        _members.c.role_id,
        _roles.c.key,
        _tenants.c.public_id,
        _tenants.c.slug,
        _tenants.c.status,
    )
    .select_from(
        _members.join(_tenants, _tenants.c.id == _members.c.tenant_id).join(
            _roles,
            and_(
                _roles.c.id == _members.c.role_id,
                _roles.c.scope == IamScope.TENANT,
                # A membership pointing at another tenant's custom role grants nothing.
                or_(_roles.c.tenant_id.is_(None), _roles.c.tenant_id == _members.c.tenant_id),
            ),
        )
    )
    .where(
        _members.c.tenant_id == bindparam("tenant_id"),
        _members.c.user_id == bindparam("user_id"),
    ),
    untyped=("status",),
)

_USER = DirectStatement(
    select(_users.c.id, _users.c.public_id, _users.c.email).where(
        _users.c.id == bindparam("user_id")
    )
)


_VALID = session_valid()


def _bind_if_valid(setting: str, value: Any) -> Any:
    # set_config returns what it set: the caller learns exactly what is in force.
    empty: ColumnElement[str] = literal_column("''")
    return func.set_config(
        literal_column(f"'{setting}'"),
        case((_VALID, func.coalesce(cast(value, Text), empty)), else_=empty),
        true(),
    )


# PostgreSQL: the session lookup also binds the session's user and candidate tenant, saving the
# separate set_config round trip. Neither auth_sessions nor users is under Row Level Security,
# so the lookup itself does not depend on the settings; the statements after it do. The CASE is
# the session's validity in SQL (the rules SessionService.accept applies in Python, with the
# same now): an unknown, revoked, expired or idle session, or a disabled user, binds nothing.
_LOOKUP_AND_BIND = DirectStatement(
    session_lookup(
        _bind_if_valid("app.user_id", _auth_sessions.c.user_id).label("bound_user_id"),
        _bind_if_valid("app.tenant_id", _auth_sessions.c.active_tenant_id).label("bound_tenant_id"),
    ),
    untyped=("status",),
)


def build_context(
    session: Session,
    *,
    raw_token: str,
    client_ip: str | None,
    user_agent: str | None,
    request_id: str,
    settings: Settings,
    clock: Clock,
) -> RequestContext:
    """The context of a request carrying the session token ``raw_token``.

    Raises :class:`~saas_core.errors.SessionExpired` (unknown, revoked or expired token) or
    :class:`~saas_core.errors.AccountDisabled`. Leaves ``session`` bound to the context's tenant
    and user (see :func:`saas_core.db.tenant.bind_context`).
    """
    service = SessionService(settings, clock)
    now = clock.now()
    params = service.lookup_params(raw_token, now)
    if session.autoflush:
        session.flush()  # as a query would: what the caller added is visible to the lookups
    # Beginning the transaction applies the session's binding, if any; then one DBAPI cursor
    # serves every statement of the context.
    with DirectCursor(session.connection()) as cursor:
        valid = _authenticate(session, cursor, service, params, now)
        tenant: TenantRef | None = None
        role_key: str | None = None
        role_id: int | None = None
        candidate = valid.active_tenant_id
        if candidate is not None:
            tenant, role_id, role_key = _membership(cursor, candidate, valid.user_id)
            if tenant is None:
                bind_tenant(session, None, user_id=valid.user_id)
        tenant_permissions, platform_permissions = resolve_permissions(
            cursor,
            role_id=role_id,
            user_id=valid.user_id,
            tenant_id=tenant.id if tenant is not None else None,
            now=now,
        )
        impersonator = None
        if valid.impersonator_user_id is not None:
            impersonator = _user_ref(cursor, valid.impersonator_user_id)
    return RequestContext(
        request_id=request_id,
        auth_method=AuthMethod.SESSION,
        user=UserRef(id=valid.user_id, public_id=valid.user_public_id, email=valid.user_email),
        tenant=tenant,
        role=role_key,
        permissions=tenant_permissions,
        platform_permissions=platform_permissions,
        impersonator=impersonator,
        session_id=valid.id,
        client_ip=client_ip,
        user_agent=user_agent,
    )


def _authenticate(
    session: Session,
    cursor: DirectCursor,
    service: SessionService,
    params: dict[str, Any],
    now: datetime,
) -> ValidSession:
    """The valid session looked up with ``params``; ``session`` left bound to its user and
    candidate tenant (the session's active tenant, before the membership is checked)."""
    applied = applied_settings(session)
    if applied is None or applied["user_id"] or applied["tenant_id"]:
        # SQLite, or a transaction that already holds a user or tenant: bind separately.
        valid = service.accept(session, cursor.first(SESSION_LOOKUP, params), now)
        bind_tenant(session, valid.active_tenant_id, user_id=valid.user_id)
        return valid
    row = cursor.first(_LOOKUP_AND_BIND, params)
    reported = None if row is None else {"user_id": row[-2], "tenant_id": row[-1]}
    try:
        valid = service.accept(session, row, now)
    except (SessionExpired, AccountDisabled):
        if reported is not None:
            # The SQL and the Python rules agree, so nothing was bound; should they ever
            # differ, this puts the settings back to the unchanged binding at once.
            unchanged = current_binding(session)
            bind_tenant(session, unchanged.tenant_id, user_id=unchanged.user_id, reported=reported)
        raise
    bind_tenant(session, valid.active_tenant_id, user_id=valid.user_id, reported=reported)
    return valid


def build_api_key_context(
    session: Session,
    *,
    raw_key: str,
    client_ip: str | None,
    user_agent: str | None,
    request_id: str,
    settings: Settings,
    clock: Clock,
) -> RequestContext:
    """The context of a request carrying the API key ``raw_key``.

    A key acts in the tenant it is bound to (a platform key in none) with its scopes, cut down
    to what its creator holds *now*: a creator who left the tenant or lost a permission takes it
    away from their keys on the next request. The context has no ``user``; ``api_key_id`` names
    the caller. Raises :class:`~saas_core.errors.ApiKeyInvalid`.
    """
    key = ApiKeyService(settings, clock).authenticate(session, raw_key, ip=client_ip)
    creator = key.created_by_id
    if creator is None:
        raise ApiKeyInvalid()
    tenant: TenantRef | None = None
    role_id: int | None = None
    bind_tenant(session, key.bound_tenant_id, user_id=creator)
    with DirectCursor(session.connection()) as cursor:
        if key.bound_tenant_id is not None:
            tenant, role_id, _role_key = _membership(cursor, key.bound_tenant_id, creator)
            if tenant is None:
                raise ApiKeyInvalid()
        tenant_permissions, platform_permissions = resolve_permissions(
            cursor,
            role_id=role_id,
            user_id=creator,
            tenant_id=key.bound_tenant_id,
            now=clock.now(),
        )
    scopes = frozenset(str(p) for p in key.permissions)
    bind_tenant(session, key.bound_tenant_id, user_id=None)
    return RequestContext(
        request_id=request_id,
        auth_method=AuthMethod.API_KEY,
        tenant=tenant,
        permissions=scopes & tenant_permissions if tenant is not None else frozenset(),
        platform_permissions=scopes & platform_permissions if tenant is None else frozenset(),
        api_key_id=key.id,
        client_ip=client_ip,
        user_agent=user_agent,
    )


def switch_active_tenant(session: Session, ctx: RequestContext, tenant_id: uuid.UUID) -> TenantOut:
    """Make ``tenant_id`` the active tenant of the caller's session, from the next request on.

    The caller must be a member and the tenant active; anything else is
    :class:`~saas_core.errors.TenantNotFound`. This request's context keeps its tenant.
    """
    from saas_core.tenancy.lookups import tenant_out

    if ctx.user is None or ctx.session_id is None:
        raise Unauthenticated("switching tenants needs a signed-in session")
    bind_context(session, ctx)
    tenant = session.scalar(
        select(Tenant)
        .join(TenantMember, TenantMember.tenant_id == Tenant.id)
        .where(
            Tenant.public_id == tenant_id,
            Tenant.status == TenantStatus.ACTIVE,
            TenantMember.user_id == ctx.user.id,
        )
    )
    if tenant is None:
        raise TenantNotFound()
    session.execute(
        update(AuthSession)
        .where(AuthSession.id == ctx.session_id, AuthSession.user_id == ctx.user.id)
        .values(active_tenant_id=tenant.id)
        .execution_options(synchronize_session=False)
    )
    return tenant_out(tenant)


def _membership(
    cursor: DirectCursor, tenant_id: int, user_id: int
) -> tuple[TenantRef | None, int | None, str | None]:
    row = cursor.first(_MEMBERSHIP, {"tenant_id": tenant_id, "user_id": user_id})
    if row is None:
        return None, None, None
    role_id, role_key, public_id, slug, status = row
    if status != TenantStatus.ACTIVE:
        return None, None, None
    tenant = TenantRef(id=tenant_id, public_id=public_id, slug=slug, status=str(status))
    return tenant, role_id, role_key


def _user_ref(cursor: DirectCursor, user_id: int) -> UserRef | None:
    row = cursor.first(_USER, {"user_id": user_id})
    return UserRef(id=row[0], public_id=row[1], email=row[2]) if row else None


class SessionAuthenticator:
    """Core's :class:`~saas_core.core.Authenticator`: session tokens and API keys.

    A bearer credential shaped like an API key (``sk_live_...``) is an API key; anything else
    is a session token. API keys are refused in the session cookie.
    """

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    def authenticate(self, session: Session, credentials: Credentials) -> RequestContext:
        """Resolve ``credentials`` into a context (anonymous when there are none)."""
        token = credentials.token
        if not token:
            return credentials.anonymous()
        common: dict[str, Any] = {
            "client_ip": credentials.client_ip,
            "user_agent": credentials.user_agent,
            "request_id": credentials.request_id or uuid.uuid4().hex,
            "settings": self.settings,
            "clock": self.clock,
        }
        if looks_like_api_key(token):
            if credentials.transport is Transport.COOKIE:
                raise ApiKeyInvalid("API keys go in the Authorization header")
            return build_api_key_context(session, raw_key=token, **common)
        return build_context(session, raw_token=token, **common)


class ContextTenantBinder:
    """Core's :class:`~saas_core.core.TenantBinder`: binds the context's tenant and user."""

    def bind(self, session: Session, ctx: RequestContext) -> None:
        """Scope ``session`` to ``ctx`` (ORM filter and PostgreSQL settings)."""
        bind_context(session, ctx)
