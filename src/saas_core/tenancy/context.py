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

1. the session joined to its user (:meth:`SessionService.authenticate`);
2. PostgreSQL only: one ``SELECT set_config(...)`` binding ``app.user_id`` and the candidate
   ``app.tenant_id`` for Row Level Security;
3. the membership joined to its tenant and role (skipped when the session has no active tenant);
4. the permissions of that role and the user's live assignments, one ``UNION``
   (:func:`saas_core.iam.loader.load_permissions`).

Plus, at most once per ``Settings.session_touch_interval``, the ``last_seen_at`` update, and
during impersonation one read of the impersonator. So 4 on PostgreSQL and 3 on SQLite.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from saas_core.clock import Clock
from saas_core.config import Settings
from saas_core.context import AuthMethod, RequestContext, TenantRef, UserRef
from saas_core.core import Credentials, Transport
from saas_core.db.tenant import bind_context, bind_tenant
from saas_core.db.tenant_filter import explicitly_scoped
from saas_core.errors import ApiKeyInvalid, TenantNotFound, Unauthenticated
from saas_core.iam.loader import load_permissions
from saas_core.iam.models import IamScope, Role
from saas_core.identity.api_keys import ApiKeyService
from saas_core.identity.models import AuthSession, User
from saas_core.identity.sessions import SessionService
from saas_core.identity.tokens import looks_like_api_key
from saas_core.tenancy.models import Tenant, TenantMember, TenantStatus
from saas_core.tenancy.schemas import TenantOut

_members = TenantMember.__table__
_tenants = Tenant.__table__
_roles = Role.__table__
_users = User.__table__

# Core statements (not ORM): the hot path pays for no entity loading. They filter by tenant and
# user explicitly; on PostgreSQL Row Level Security applies as to any other statement.
_MEMBERSHIP: Any = (
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
    )
)

_USER: Any = select(_users.c.id, _users.c.public_id, _users.c.email).where(
    _users.c.id == bindparam("user_id")
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
    auth_session, user = SessionService(settings, clock).authenticate(session, raw_token)
    now = clock.now()
    tenant: TenantRef | None = None
    role_key: str | None = None
    role_id: int | None = None
    candidate = auth_session.active_tenant_id
    bind_tenant(session, candidate, user_id=user.id)
    if candidate is not None:
        tenant, role_id, role_key = _membership(session, candidate, user.id)
        if tenant is None:
            bind_tenant(session, None, user_id=user.id)
    # The permission query names its tenant and user itself: the automatic filter's
    # per-statement cost is skipped for it (Row Level Security still applies on PostgreSQL).
    with explicitly_scoped(session):
        tenant_permissions, platform_permissions = load_permissions(
            session,
            role_id=role_id,
            user_id=user.id,
            tenant_id=tenant.id if tenant is not None else None,
            now=now,
        )
    impersonator = None
    if auth_session.impersonator_user_id is not None:
        impersonator = _user_ref(session, auth_session.impersonator_user_id)
    return RequestContext(
        request_id=request_id,
        auth_method=AuthMethod.SESSION,
        user=UserRef(id=user.id, public_id=user.public_id, email=user.email),
        tenant=tenant,
        role=role_key,
        permissions=tenant_permissions,
        platform_permissions=platform_permissions,
        impersonator=impersonator,
        session_id=auth_session.id,
        client_ip=client_ip,
        user_agent=user_agent,
    )


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
    if key.bound_tenant_id is not None:
        tenant, role_id, _role_key = _membership(session, key.bound_tenant_id, creator)
        if tenant is None:
            raise ApiKeyInvalid()
    with explicitly_scoped(session):
        tenant_permissions, platform_permissions = load_permissions(
            session,
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
    session: Session, tenant_id: int, user_id: int
) -> tuple[TenantRef | None, int | None, str | None]:
    row = (
        session.connection()
        .execute(_MEMBERSHIP, {"tenant_id": tenant_id, "user_id": user_id})
        .first()
    )
    if row is None or row.status != TenantStatus.ACTIVE:
        return None, None, None
    tenant = TenantRef(id=tenant_id, public_id=row.public_id, slug=row.slug, status=str(row.status))
    return tenant, row.role_id, row.key


def _user_ref(session: Session, user_id: int) -> UserRef | None:
    row = session.connection().execute(_USER, {"user_id": user_id}).first()
    return UserRef(id=row.id, public_id=row.public_id, email=row.email) if row else None


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
