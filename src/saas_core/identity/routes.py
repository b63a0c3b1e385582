"""The ``/auth`` routes: sign-up, sign-in and out, rotation, email verification, password reset,
and the caller's sessions. The ``/me`` routes (:mod:`saas_core.identity.me_routes`) are included
in :data:`routes` too, so the identity domain registers as one table.

Sign-in and the password-confirming routes list the errors after which the pipeline commits
(``commit_on``): a wrong password must count towards the lockout and leave its security events
even though the request fails. Such a failure writes no audit row; ``security_events`` has it.
"""

from __future__ import annotations

from sqlalchemy import select

from saas_core.api.contract import AUTHENTICATED, PUBLIC, Call, RouteTable
from saas_core.api.pagination import Page, PageQuery, keyset_after
from saas_core.errors import AccountDisabled, Conflict, RegistrationClosed
from saas_core.identity import me_routes
from saas_core.identity.models import AuthSession, User
from saas_core.identity.route_support import (
    clear_session_cookies,
    deliver_session,
    open_default_tenant,
    request_transport,
    session_user,
    signed_in_context,
    user_ref,
)
from saas_core.identity.schemas import (
    Accepted,
    LoginIn,
    PasswordResetConfirmIn,
    PasswordResetRequestIn,
    RegisterIn,
    RevokedSessionsOut,
    SessionOut,
    TokenIn,
    TokenOut,
    UserOut,
)
from saas_core.identity.service import COMMIT_ON_ERRORS

routes = RouteTable()

_TAGS = ("auth",)


# --- sign-up and sign-in -------------------------------------------------------------------------


@routes.route(
    "POST",
    "/auth/register",
    access=PUBLIC,
    request_model=RegisterIn,
    response_model=UserOut,
    status_code=201,
    audit_action="auth.register",
    personal=True,
    idempotent=True,
    errors=(RegistrationClosed,),
    tags=_TAGS,
    summary="Sign up",
    description="Creates the account and emails a verification token. Refused with 403 "
    "`auth.registration_closed` when self sign-up is switched off (invite-only apps); 409 "
    "`user.email_taken` for an address in use. A retry is safe: it cannot create a second "
    "account.",
)
def register(call: Call) -> UserOut:
    """Create the account (``Settings.registration_enabled`` must be on)."""
    body = call.body_as(RegisterIn)
    user = call.core.identity.register(
        call.session,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        ctx=call.ctx,
    )
    call.audit_actor = user_ref(user)
    call.audit("user", user.public_id)
    return UserOut.from_row(user)


@routes.route(
    "POST",
    "/auth/login",
    access=PUBLIC,
    request_model=LoginIn,
    response_model=TokenOut,
    audit_action="auth.login",
    personal=True,
    commit_on=(*COMMIT_ON_ERRORS, AccountDisabled),
    tags=_TAGS,
    summary="Sign in",
    description="`transport: bearer` (default) answers the token; `transport: cookie` sets the "
    "session cookie (HttpOnly) and the CSRF cookie (readable by scripts; echo it in the CSRF "
    "header of unsafe requests) and answers no token. The session acts in the tenant last "
    "used, else the first by name. 401 `auth.invalid_credentials` for a wrong email or "
    "password; after repeated failures 429 `auth.locked` with `Retry-After`, even for the "
    "right password.",
)
def login(call: Call) -> TokenOut:
    """Check the password, open a session and hand it out by the chosen transport."""
    body = call.body_as(LoginIn)
    ctx = call.ctx
    issued = call.core.identity.login(
        call.session,
        email=body.email,
        password=body.password,
        ip=ctx.client_ip,
        user_agent=ctx.user_agent,
        request_id=ctx.request_id,
    )
    user = call.session.get(User, issued.auth_session.user_id)
    assert user is not None  # login just read it
    signed_in = signed_in_context(ctx, user, issued)
    tenant_id = open_default_tenant(call, signed_in)
    call.audit_actor = signed_in.user
    call.audit("session", issued.auth_session.public_id)
    return deliver_session(call, issued, body.transport, tenant_id=tenant_id, new_csrf=True)


@routes.route(
    "POST",
    "/auth/logout",
    access=AUTHENTICATED,
    audit_action="auth.logout",
    personal=True,
    tags=_TAGS,
    summary="Sign out (revoke this session)",
    description="The token stops working at once; in cookie mode both cookies are cleared.",
)
def logout(call: Call) -> None:
    """Revoke the session the request came with."""
    session_user(call)
    row = call.session.get(AuthSession, call.ctx.session_id)
    call.core.identity.logout(call.session, call.ctx)
    if row is not None:
        call.audit("session", row.public_id)
    if request_transport(call) == "cookie":
        clear_session_cookies(call)


@routes.route(
    "POST",
    "/auth/refresh",
    access=AUTHENTICATED,
    response_model=TokenOut,
    audit_action="auth.refresh",
    personal=True,
    tags=_TAGS,
    summary="Rotate the session token",
    description="Issues a new token (bearer: in the body; cookie mode: the session cookie is "
    "re-set) and revokes the old one. The session keeps its absolute expiry and tenant.",
)
def refresh(call: Call) -> TokenOut:
    """Replace the request's session token."""
    session_user(call)
    issued = call.core.identity.refresh(call.session, call.ctx)
    call.audit("session", issued.auth_session.public_id)
    tenant = call.ctx.tenant
    return deliver_session(
        call,
        issued,
        request_transport(call),
        tenant_id=tenant.public_id if tenant is not None else None,
        new_csrf=False,
    )


# --- email verification and password reset ------------------------------------------------------


@routes.route(
    "POST",
    "/auth/verify-email",
    access=PUBLIC,
    request_model=TokenIn,
    audit_action="auth.verify_email",
    personal=True,
    tags=_TAGS,
    summary="Confirm the email address with the emailed token",
    description="The token works once; 422 `auth.invalid_token` when unknown, used or expired.",
)
def verify_email(call: Call) -> None:
    """Mark the token's user's address verified."""
    user = call.core.identity.verify_email(call.session, call.body_as(TokenIn).token)
    call.audit_actor = user_ref(user)
    call.audit("user", user.public_id)


@routes.route(
    "POST",
    "/auth/verify-email/resend",
    access=AUTHENTICATED,
    response_model=Accepted,
    status_code=202,
    audit_action="auth.verify_email_resend",
    personal=True,
    tags=_TAGS,
    summary="Send a new verification email",
    description="Earlier tokens stop working. 409 when the address is already verified.",
)
def resend_verification(call: Call) -> Accepted:
    """Email the caller a fresh verification token."""
    session_user(call)
    user = call.core.identity.current_user(call.session, call.ctx)
    if user.email_verified_at is not None:
        raise Conflict("the email address is already verified")
    call.core.identity.send_verification_email(call.session, user)
    call.audit("user", user.public_id)
    return Accepted()


@routes.route(
    "POST",
    "/auth/reset-password",
    access=PUBLIC,
    request_model=PasswordResetRequestIn,
    response_model=Accepted,
    status_code=202,
    audit_action="auth.password_reset_request",
    personal=True,
    tags=_TAGS,
    summary="Email a password reset token",
    description="Always 202, whether or not the address has an account.",
)
def request_password_reset(call: Call) -> Accepted:
    """Send a reset token if the address has an active account; answer the same either way."""
    body = call.body_as(PasswordResetRequestIn)
    call.core.identity.request_password_reset(call.session, body.email, ctx=call.ctx)
    return Accepted()


@routes.route(
    "POST",
    "/auth/reset-password/confirm",
    access=PUBLIC,
    request_model=PasswordResetConfirmIn,
    audit_action="auth.password_reset",
    personal=True,
    tags=_TAGS,
    summary="Set a new password with the emailed token",
    description="Signs the account out everywhere (every session is revoked) and lifts a "
    "sign-in lockout. 422 `auth.invalid_token` or `auth.weak_password`.",
)
def reset_password(call: Call) -> None:
    """Set the new password and revoke every session of the account."""
    body = call.body_as(PasswordResetConfirmIn)
    user = call.core.identity.reset_password(
        call.session, body.token, body.new_password, ctx=call.ctx
    )
    call.audit_actor = user_ref(user)
    call.audit("user", user.public_id)


# --- the caller's sessions -----------------------------------------------------------------------


@routes.route(
    "GET",
    "/auth/sessions",
    access=AUTHENTICATED,
    query_model=PageQuery,
    response_model=Page[SessionOut],
    tags=_TAGS,
    summary="List my sessions (cursor-paginated, oldest first)",
    description="The caller's live sessions (not revoked, expired or idle), `current` marking "
    "this request's. Paginated with `limit` (1-100) and `cursor`; the response's "
    "`next_cursor` is null on the last page.",
)
def list_sessions(call: Call) -> Page[SessionOut]:
    """One page of the caller's live sessions."""
    user = session_user(call)
    page = call.query_as(PageQuery)
    now = call.core.clock.now()
    idle = call.core.settings.session_idle_timeout
    # The same "live" rule as SessionService.list_active, ordered by a column that never
    # changes so that cursors stay valid while sessions are used.
    statement = (
        select(AuthSession)
        .where(
            AuthSession.user_id == user.id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
            AuthSession.last_seen_at >= now - idle,
        )
        .order_by(AuthSession.created_at, AuthSession.public_id)
    )
    statement = keyset_after(statement, AuthSession.created_at, AuthSession.public_id, page.after())
    rows = call.session.scalars(statement.limit(page.limit + 1)).all()
    current = call.ctx.session_id
    return Page[SessionOut].build(
        rows,
        page.limit,
        lambda row: SessionOut.from_row(row, current),
        key=lambda row: (row.created_at, row.public_id),
    )


@routes.route(
    "POST",
    "/auth/sessions/revoke-others",
    access=AUTHENTICATED,
    response_model=RevokedSessionsOut,
    audit_action="session.revoke",
    personal=True,
    tags=_TAGS,
    summary="Sign out every other session",
    description="Revokes all of the caller's sessions except this one.",
)
def revoke_other_sessions(call: Call) -> RevokedSessionsOut:
    """Revoke every session of the caller but the current one."""
    session_user(call)
    revoked = call.core.identity.revoke_other_sessions(call.session, call.ctx)
    call.audit(revoked=len(revoked))
    return RevokedSessionsOut(revoked=revoked)


@routes.route(
    "DELETE",
    "/auth/sessions/{sessionId}",
    access=AUTHENTICATED,
    audit_action="session.revoke",
    personal=True,
    tags=_TAGS,
    summary="Revoke one of my sessions",
    description="Another user's session (or an unknown id) is 404. Revoking the current "
    "session signs this client out (cookie mode: the cookies are cleared).",
)
def revoke_session(call: Call) -> None:
    """Revoke the caller's session ``sessionId``."""
    session_user(call)
    row = call.core.identity.revoke_session(call.session, call.ctx, call.path_id("sessionId"))
    if row.id == call.ctx.session_id and request_transport(call) == "cookie":
        clear_session_cookies(call)


routes.include(me_routes.routes)
