"""Pydantic models IAM takes in and hands out. Only public ids appear in them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from saas_core.iam.models import IamScope

#: A role key: lower-case letters, digits, ``_`` and ``-``, starting with a letter.
ROLE_KEY_PATTERN = r"^[a-z][a-z0-9_-]{1,63}$"


class PermissionOut(BaseModel):
    """A catalog entry."""

    model_config = ConfigDict(frozen=True)

    key: str
    description: str
    scope: IamScope


class RoleOut(BaseModel):
    """A role with the permission keys it grants (sorted)."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    key: str
    name: str
    description: str
    scope: IamScope
    #: Built in and managed by saas-core; cannot be edited.
    system: bool
    permissions: list[str]
    created_at: datetime
    updated_at: datetime


class RoleCreate(BaseModel):
    """A tenant's new custom role."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=ROLE_KEY_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    permissions: list[str] = Field(default_factory=list, max_length=200)


class RoleUpdate(BaseModel):
    """Changes to a custom role; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    permissions: list[str] | None = Field(default=None, max_length=200)


class AssignmentCreate(BaseModel):
    """Grant ``role_id`` to ``user_id``.

    A platform role gives a platform assignment; a tenant role gives an extra grant in the
    caller's active tenant. Break-glass roles need ``expires_at`` and ``reason``.
    """

    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID
    role_id: uuid.UUID
    expires_at: AwareDatetime | None = None
    reason: str | None = Field(default=None, max_length=2000)


class AssignmentOut(BaseModel):
    """A role assignment."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    user_id: uuid.UUID
    role_id: uuid.UUID
    role_key: str
    scope: IamScope
    break_glass: bool
    reason: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class PermissionQuery(BaseModel):
    """Query of ``GET /iam/permissions``: optionally one scope."""

    scope: IamScope | None = Field(
        default=None, description="Only the `tenant` or only the `platform` permissions."
    )


class PermissionList(BaseModel):
    """The whole permission catalog (a small, static list: not paginated)."""

    model_config = ConfigDict(frozen=True)

    items: list[PermissionOut]
