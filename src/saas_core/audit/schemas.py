"""Pydantic models the audit log hands out and the filters it takes. Only public ids appear."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from saas_core.api.pagination import PageQuery
from saas_core.audit.models import ActorType, AuditOutcome


class AuditLogQuery(PageQuery):
    """Filters of an audit log read, plus the page (``limit``, ``cursor``).

    Newest first. ``since`` is inclusive and ``until`` exclusive, so consecutive windows neither
    overlap nor leave gaps.
    """

    model_config = ConfigDict(extra="forbid")

    action: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Only actions starting with this prefix, e.g. `project.` or `tenant.member`.",
    )
    actor_id: uuid.UUID | None = Field(
        default=None, description="Only actions by this user or API key (public id)."
    )
    target_id: uuid.UUID | None = Field(
        default=None, description="Only actions on this object (public id)."
    )
    since: AwareDatetime | None = Field(default=None, description="At or after this instant.")
    until: AwareDatetime | None = Field(default=None, description="Before this instant.")


class AuditLogOut(BaseModel):
    """One audit record. Every ``*_id`` is a public id; internal ids never leave the library.

    ``actor_id`` is the user's public id, or the API key's when ``actor_type`` is ``api_key``;
    it is null for an unauthenticated caller (``actor_type`` ``user``) and for the system.
    ``impersonator_id`` is the operator acting as the actor, if any. ``tenant_id`` is null for
    platform-level actions.
    """

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    occurred_at: datetime
    tenant_id: uuid.UUID | None
    actor_type: ActorType
    actor_id: uuid.UUID | None
    impersonator_id: uuid.UUID | None
    action: str
    target_type: str | None
    target_id: uuid.UUID | None
    outcome: AuditOutcome
    request_id: str | None
    ip: str | None
    user_agent: str | None
    metadata: dict[str, Any]
