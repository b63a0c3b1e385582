"""What the ``/auth`` and ``/me`` routes share: the caller's user, the two transports, cookies.

A session reaches the client either as a bearer token in the response body or as two cookies:

* the session cookie (``Core.session_cookie_name``): the token, ``HttpOnly``, ``Secure`` per
  ``Settings.cookie_secure`` (then ``__Host-`` prefixed), ``SameSite=Lax``, ``Path=/``, living as
  long as the session's absolute expiry;
* the CSRF cookie (``Core.csrf_cookie_name``): a random value that page scripts can read (not
  ``HttpOnly``) and must echo in the ``Settings.csrf_header_name`` header of every unsafe
  request. The pipeline compares the two (double submit): another site can make the browser
  send the cookies, but can neither read the value nor set the header.

A request authenticated by the cookie (no ``Authorization`` header: the pipeline prefers the
header when both are present) is answered in cookie mode: refresh re-sets the session cookie,
logout and account deletion clear both.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from typing import Literal

from sqlalchemy import select

from saas_core.api.contract import Call
from saas_core.context import AuthMethod, RequestContext, UserRef
from saas_core.errors import Forbidden
from saas_core.identity.models import AuthSession, User
from saas_core.identity.schemas import TokenOut
from saas_core.identity.sessions import IssuedSession
from saas_core.tenancy.context import switch_active_tenant
from saas_core.tenancy.models import Tenant, TenantStatus

Transport = Literal["bearer", "cookie"]


def session_user(call: Call) -> UserRef:
    """The signed-in user of a session request; API keys are refused (403).

    ``/auth`` and ``/me`` act for a person: an API key has no user, sessions or profile.
    """
    ctx = call.ctx
    if ctx.auth_method is not AuthMethod.SESSION or ctx.user is None:
        raise Forbidden("this operation needs a signed-in user, not an API key")
    return ctx.user


def request_transport(call: Call) -> Transport:
    """How the request's credentials came (the pipeline reads the header first)."""
    return "bearer" if call.request.headers.get("authorization") is not None else "cookie"


def user_ref(user: User) -> UserRef:
    """The reference the context and the audit entry use for ``user``."""
    return UserRef(id=user.id, public_id=user.public_id, email=user.email)


def signed_in_context(ctx: RequestContext, user: User, issued: IssuedSession) -> RequestContext:
    """``ctx`` as it would be on the first request made with ``issued`` (no tenant yet)."""
    return replace(
        ctx, auth_method=AuthMethod.SESSION, user=user_ref(user), session_id=issued.auth_session.id
    )


def open_default_tenant(call: Call, ctx: RequestContext) -> uuid.UUID | None:
    """Make a fresh session act in the tenant the user last used, else their first by name.

    Only active tenants the user still belongs to qualify; a user without one gets no tenant
    (``PUT /me/active-tenant`` picks one later). Returns the tenant's public id.
    """
    assert ctx.user is not None
    tenants = [
        t.id
        for t in call.core.tenancy.list_my_tenants(call.session, ctx)
        if t.status is TenantStatus.ACTIVE
    ]
    if not tenants:
        return None
    last_used = call.session.scalar(
        select(Tenant.public_id)
        .join(AuthSession, AuthSession.active_tenant_id == Tenant.id)
        .where(AuthSession.user_id == ctx.user.id, AuthSession.id != ctx.session_id)
        .order_by(AuthSession.last_seen_at.desc(), AuthSession.id.desc())
        .limit(1)
    )
    chosen = last_used if last_used in tenants else tenants[0]
    switch_active_tenant(call.session, ctx, chosen)
    return chosen


def deliver_session(
    call: Call,
    issued: IssuedSession,
    transport: Transport,
    *,
    tenant_id: uuid.UUID | None,
    new_csrf: bool,
) -> TokenOut:
    """The response for a new session: the token in the body, or in the session cookie.

    ``new_csrf`` also sets a fresh CSRF cookie (sign-in); a rotation keeps the one the page has.
    """
    row = issued.auth_session
    if transport == "cookie":
        max_age = max(0, int((row.expires_at - call.core.clock.now()).total_seconds()))
        call.set_cookie(call.core.session_cookie_name, issued.token, max_age=max_age)
        if new_csrf:
            call.set_cookie(
                call.core.csrf_cookie_name,
                secrets.token_urlsafe(32),
                max_age=max_age,
                http_only=False,
            )
    return TokenOut(
        token=issued.token if transport == "bearer" else None,
        token_type=transport,
        expires_at=row.expires_at,
        session_id=row.public_id,
        tenant_id=tenant_id,
    )


def clear_session_cookies(call: Call) -> None:
    """Remove the session and CSRF cookies (cookie-mode logout, deletion)."""
    call.delete_cookie(call.core.session_cookie_name)
    call.delete_cookie(call.core.csrf_cookie_name, http_only=False)
