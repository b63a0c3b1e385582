"""Pydantic models the tenancy service takes in and hands out. Only public ids appear in them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from saas_core.tenancy.models import InvitationStatus, MemberType, TenantStatus

#: A tenant slug: 3 to 63 lower-case letters, digits and inner hyphens (a DNS label).
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$"
#: A role key (built-in ``owner``, ``admin``... or a custom role of the tenant).
ROLE_KEY_PATTERN = r"^[a-z][a-z0-9_-]{1,63}$"


class TenantCreate(BaseModel):
    """A new tenant; its creator becomes its owner."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=SLUG_PATTERN, max_length=63)
    metadata: dict[str, Any] = Field(default_factory=dict)


class TenantUpdate(BaseModel):
    """Changes to a tenant; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    slug: str | None = Field(default=None, pattern=SLUG_PATTERN, max_length=63)
    metadata: dict[str, Any] | None = None


class TenantOut(BaseModel):
    """A tenant as the API shows it."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    slug: str
    name: str
    status: TenantStatus
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class MyTenantOut(TenantOut):
    """One of the caller's tenants, with the caller's place in it.

    ``role`` is the key of the caller's role; it is ``None`` for a custom role of a tenant other
    than the active one (custom roles are only readable inside their own tenant).
    """

    role: str | None
    member_type: MemberType
    #: True for the session's active tenant.
    active: bool


class MemberOut(BaseModel):
    """A member of the tenant."""

    model_config = ConfigDict(frozen=True)

    user_id: uuid.UUID
    email: str
    display_name: str | None
    role: str
    member_type: MemberType
    joined_at: datetime


class MemberUpdate(BaseModel):
    """A member's new role and/or member type."""

    model_config = ConfigDict(extra="forbid")

    role: str | None = Field(default=None, pattern=ROLE_KEY_PATTERN)
    member_type: MemberType | None = None


class InvitationCreate(BaseModel):
    """Invite an email address to join the tenant with a role."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    role: str = Field(default="member", pattern=ROLE_KEY_PATTERN)
    member_type: MemberType = MemberType.MEMBER


class InvitationAccept(BaseModel):
    """The token from the invitation email."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=16, max_length=512)


class InvitationOut(BaseModel):
    """An invitation (never its token)."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    email: str
    role: str
    member_type: MemberType
    status: InvitationStatus
    expires_at: datetime
    created_at: datetime
