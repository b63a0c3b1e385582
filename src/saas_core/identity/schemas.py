"""Request and response models of the ``/auth`` and ``/me`` routes. Only public ids appear here.

Request bodies forbid unknown fields. Fields a ``PATCH`` may leave out default to ``None`` and the
route tells "left out" from "set to null" with ``model_fields_set``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator

from saas_core.identity.models import AuthSession, User

#: Longest password a request may carry; the service refuses more than 1,024 characters itself
#: (counted as a failed sign-in), this only bounds the body.
_PASSWORD_FIELD_MAX = 4096
_LOCALE_PATTERN = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: A password in a request body (bounded; the policy is checked by the service).
Password = Annotated[str, Field(min_length=1, max_length=_PASSWORD_FIELD_MAX)]
#: No control characters in text that is stored or looked up (PostgreSQL refuses NUL in text).
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
#: An email address as typed (the service trims and normalises it).
Email = Annotated[str, Field(min_length=3, max_length=320, pattern=_PRINTABLE)]


@cache
def _time_zones() -> frozenset[str]:
    # The IANA names the system knows, read once: checking membership never touches the file
    # system with a client's string (ZoneInfo("America") is a directory, not a ValueError).
    return frozenset(available_timezones())


# --- responses -----------------------------------------------------------------------------------


class Accepted(BaseModel):
    """The request was taken; an email is on its way if there is anyone to send it to."""

    model_config = ConfigDict(frozen=True)

    status: Literal["accepted"] = "accepted"


class UserOut(BaseModel):
    """A user as they see themselves (``GET /me``); never internal ids."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    email: str
    email_verified: bool
    display_name: str | None
    locale: str | None
    timezone: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, user: User) -> UserOut:
        """The API form of ``user``."""
        return cls(
            id=user.public_id,
            email=user.email,
            email_verified=user.email_verified_at is not None,
            display_name=user.display_name,
            locale=user.locale,
            timezone=user.timezone,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


class TokenOut(BaseModel):
    """A new session: the bearer token, or (cookie transport) ``token`` null and cookies set."""

    model_config = ConfigDict(frozen=True)

    token: str | None = Field(description="The bearer token; null when sent as a cookie.")
    token_type: Literal["bearer", "cookie"]
    #: The absolute expiry; the session also ends after the idle timeout without requests.
    expires_at: datetime
    session_id: uuid.UUID
    #: The session's active tenant (the one last used, else the first by name), if any.
    tenant_id: uuid.UUID | None


class SessionOut(BaseModel):
    """One of the caller's live sessions (a signed-in browser or client)."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    current: bool = Field(description="True for the session this request came with.")
    created_at: datetime
    authenticated_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None

    @classmethod
    def from_row(cls, row: AuthSession, current_id: int | None) -> SessionOut:
        """The API form of ``row``; ``current_id`` is the request's session."""
        return cls(
            id=row.public_id,
            current=row.id == current_id,
            created_at=row.created_at,
            authenticated_at=row.authenticated_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            ip=row.ip,
            user_agent=row.user_agent,
        )


class RevokedSessionsOut(BaseModel):
    """The sessions a bulk revocation ended."""

    model_config = ConfigDict(frozen=True)

    revoked: list[uuid.UUID]


class EmailPreferencesOut(BaseModel):
    """Which optional emails the user receives; ``security_alerts`` is always on."""

    model_config = ConfigDict(frozen=True)

    product_updates: bool
    security_alerts: bool
    billing: bool
    marketing: bool


# --- requests ------------------------------------------------------------------------------------


class RegisterIn(_In):
    """Self sign-up."""

    email: Email
    #: Checked against the policy: at least ``Settings.password_min_length`` characters.
    password: Password
    display_name: str | None = Field(default=None, max_length=200, pattern=_PRINTABLE)


class LoginIn(_In):
    """Sign in with email and password; ``transport`` picks a bearer token or cookies."""

    email: Email
    password: Password
    transport: Literal["bearer", "cookie"] = Field(
        default="bearer",
        description="`bearer`: the token is in the response body. `cookie`: the session and "
        "CSRF cookies are set and the body carries no token.",
    )


class TokenIn(_In):
    """A single-use token from an email (verification, email change)."""

    token: str = Field(min_length=16, max_length=512)


class PasswordResetRequestIn(_In):
    """The address to send a reset token to, if it has an account."""

    email: Email


class PasswordResetConfirmIn(_In):
    """The reset token from the email and the new password."""

    token: str = Field(min_length=16, max_length=512)
    new_password: Password


class PasswordChangeIn(_In):
    """The current password (re-authentication) and the new one."""

    current_password: Password
    new_password: Password


class EmailChangeIn(_In):
    """The new address (a confirmation token is sent there) and the current password."""

    new_email: Email
    password: Password


class AccountDeleteIn(_In):
    """The current password; required when the account has one (send ``{}`` otherwise)."""

    password: Password | None = None


class ProfileUpdate(_In):
    """Profile changes; omitted fields stay as they are, ``null`` clears one."""

    display_name: str | None = Field(default=None, max_length=200, pattern=_PRINTABLE)
    locale: str | None = Field(
        default=None, max_length=35, pattern=_LOCALE_PATTERN, description="e.g. `en`, `pt-BR`."
    )
    timezone: str | None = Field(
        default=None, max_length=64, description="An IANA time zone, e.g. `Europe/Paris`."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and value not in _time_zones():
            raise ValueError("unknown time zone")
        return value


class EmailPreferencesUpdate(_In):
    """Preference changes; omitted (or null) fields stay as they are."""

    product_updates: bool | None = None
    security_alerts: Literal[True] | None = Field(
        default=None, description="Always on; only `true` is accepted."
    )
    billing: bool | None = None
    marketing: bool | None = None


class ActiveTenantIn(_In):
    """The tenant the session should act in from the next request on."""

    tenant_id: uuid.UUID
