"""The ``/me`` routes: the signed-in user's profile, password, email address, email preferences,
active tenant, and account deletion. Included in :data:`saas_core.identity.routes.routes`.

Routes that ask for the current password answer a wrong one with 403
``auth.reauthentication_failed`` (not 401: the session is fine) and commit it first, so it
counts towards the account's sign-in lockout like a failed sign-in does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from saas_core.api.contract import AUTHENTICATED, Call, RouteTable
from saas_core.errors import (
    AccountLocked,
    InvalidCredentials,
    InvalidToken,
    ReauthenticationFailed,
    TenantNotFound,
)
from saas_core.identity.route_support import clear_session_cookies, request_transport, session_user
from saas_core.identity.schemas import (
    Accepted,
    AccountDeleteIn,
    ActiveTenantIn,
    EmailChangeIn,
    EmailPreferencesOut,
    EmailPreferencesUpdate,
    PasswordChangeIn,
    ProfileUpdate,
    TokenIn,
    UserOut,
)
from saas_core.tenancy.context import switch_active_tenant
from saas_core.tenancy.schemas import TenantOut

routes = RouteTable()

_TAGS = ("me",)
#: What a wrong or throttled password confirmation raises; committed, see the module docstring.
_REAUTH_ERRORS = (ReauthenticationFailed, AccountLocked)


@contextmanager
def _confirming_password() -> Iterator[None]:
    """Turn the service's wrong-password error into the signed-in caller's 403."""
    try:
        yield
    except InvalidCredentials:
        raise ReauthenticationFailed("the password is not correct") from None


@routes.route(
    "GET", "/me", access=AUTHENTICATED, response_model=UserOut, tags=_TAGS, summary="My profile"
)
def get_me(call: Call) -> UserOut:
    """The signed-in user."""
    session_user(call)
    return UserOut.from_row(call.core.identity.current_user(call.session, call.ctx))


@routes.route(
    "PATCH",
    "/me",
    access=AUTHENTICATED,
    request_model=ProfileUpdate,
    response_model=UserOut,
    audit_action="me.update",
    personal=True,
    tags=_TAGS,
    summary="Change my display name, locale or time zone",
    description="Omitted fields stay as they are; `null` clears one.",
)
def update_me(call: Call) -> UserOut:
    """Apply the fields the body names."""
    user = session_user(call)
    body = call.body_as(ProfileUpdate)
    changes = {name: getattr(body, name) for name in sorted(body.model_fields_set)}
    row = call.core.identity.update_profile(call.session, call.ctx, **changes)
    call.audit("user", user.public_id, fields=sorted(changes))
    return UserOut.from_row(row)


@routes.route(
    "DELETE",
    "/me",
    access=AUTHENTICATED,
    request_model=AccountDeleteIn,
    audit_action="me.delete",
    personal=True,
    commit_on=_REAUTH_ERRORS,
    tags=_TAGS,
    summary="Delete my account",
    description="Soft delete: the account is disabled at once, every session and API key it "
    "made is revoked, and the erasure workflow starts. The body carries the current password "
    "when the account has one (send `{}` otherwise); a wrong one is 403 "
    "`auth.reauthentication_failed`.",
)
def delete_me(call: Call) -> None:
    """Soft-delete the caller's account."""
    user = session_user(call)
    with _confirming_password():
        call.core.identity.delete_account(
            call.session, call.ctx, password=call.body_as(AccountDeleteIn).password
        )
    call.audit("user", user.public_id)
    if request_transport(call) == "cookie":
        clear_session_cookies(call)


@routes.route(
    "POST",
    "/me/password",
    access=AUTHENTICATED,
    request_model=PasswordChangeIn,
    audit_action="me.password_change",
    personal=True,
    commit_on=_REAUTH_ERRORS,
    tags=_TAGS,
    summary="Change my password",
    description="Needs the current password (403 `auth.reauthentication_failed` when wrong). "
    "Every other session is signed out; this one stays.",
)
def change_password(call: Call) -> None:
    """Re-authenticate, set the new password, revoke the other sessions."""
    user = session_user(call)
    body = call.body_as(PasswordChangeIn)
    with _confirming_password():
        call.core.identity.change_password(
            call.session,
            call.ctx,
            current_password=body.current_password,
            new_password=body.new_password,
        )
    call.audit("user", user.public_id)


@routes.route(
    "POST",
    "/me/email",
    access=AUTHENTICATED,
    request_model=EmailChangeIn,
    response_model=Accepted,
    status_code=202,
    audit_action="me.email_change_request",
    personal=True,
    commit_on=_REAUTH_ERRORS,
    tags=_TAGS,
    summary="Ask to change my email address",
    description="Needs the current password. A confirmation token goes to the new address "
    "(confirm it with `POST /me/email/confirm`) and a notice to the old one.",
)
def request_email_change(call: Call) -> Accepted:
    """Send the confirmation token to the new address."""
    user = session_user(call)
    body = call.body_as(EmailChangeIn)
    with _confirming_password():
        call.core.identity.request_email_change(
            call.session, call.ctx, new_email=body.new_email, password=body.password
        )
    call.audit("user", user.public_id)
    return Accepted()


@routes.route(
    "POST",
    "/me/email/confirm",
    access=AUTHENTICATED,
    request_model=TokenIn,
    response_model=UserOut,
    audit_action="me.email_change",
    personal=True,
    tags=_TAGS,
    summary="Confirm my new email address with the emailed token",
    description="The token must be one of the caller's (422 `auth.invalid_token` otherwise).",
)
def confirm_email_change(call: Call) -> UserOut:
    """Swap in the new address."""
    caller = session_user(call)
    row = call.core.identity.confirm_email_change(
        call.session, call.body_as(TokenIn).token, ctx=call.ctx
    )
    if row.id != caller.id:
        # Someone else's token: the pipeline rolls its use back, it stays valid for its owner.
        raise InvalidToken()
    call.audit("user", caller.public_id)
    return UserOut.from_row(row)


@routes.route(
    "GET",
    "/me/preferences/email",
    access=AUTHENTICATED,
    response_model=EmailPreferencesOut,
    tags=_TAGS,
    summary="My email preferences",
)
def get_email_preferences(call: Call) -> EmailPreferencesOut:
    """Which optional emails the caller receives."""
    session_user(call)
    prefs = call.core.identity.get_email_preferences(call.session, call.ctx)
    return EmailPreferencesOut.model_validate(prefs, from_attributes=True)


@routes.route(
    "PATCH",
    "/me/preferences/email",
    access=AUTHENTICATED,
    request_model=EmailPreferencesUpdate,
    response_model=EmailPreferencesOut,
    audit_action="me.preferences_update",
    personal=True,
    tags=_TAGS,
    summary="Change my email preferences",
    description="Omitted fields stay as they are; `security_alerts` cannot be switched off.",
)
def update_email_preferences(call: Call) -> EmailPreferencesOut:
    """Apply the preferences the body names."""
    user = session_user(call)
    body = call.body_as(EmailPreferencesUpdate)
    changes = {k: bool(v) for k, v in body.model_dump(exclude_none=True).items()}
    prefs = call.core.identity.update_email_preferences(call.session, call.ctx, **changes)
    call.audit("user", user.public_id, fields=sorted(changes))
    return EmailPreferencesOut.model_validate(prefs, from_attributes=True)


@routes.route(
    "PUT",
    "/me/active-tenant",
    access=AUTHENTICATED,
    request_model=ActiveTenantIn,
    response_model=TenantOut,
    audit_action="me.active_tenant_switch",
    personal=True,
    errors=(TenantNotFound,),
    tags=_TAGS,
    summary="Switch the tenant my session acts in",
    description="From the next request on. The caller must be a member of the tenant and the "
    "tenant active; anything else is 404 `tenant.not_found`.",
)
def switch_tenant(call: Call) -> TenantOut:
    """Make ``tenant_id`` the session's active tenant."""
    session_user(call)
    tenant_id = call.body_as(ActiveTenantIn).tenant_id
    tenant = switch_active_tenant(call.session, call.ctx, tenant_id)
    call.audit("tenant", tenant.id)
    return tenant
