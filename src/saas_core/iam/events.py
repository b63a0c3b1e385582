"""Security events written by IAM: role changes, grants, revocations and break-glass use.

Rows go to ``security_events`` through :func:`saas_core.audit.security.record_security_event`, in
the caller's transaction, so an event exists exactly when the change it records commits. Events
reference people and objects by id only: the free-text reason of a break-glass grant stays on
the assignment row and is not copied into the event.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from saas_core.audit.models import SecurityEventType, Severity
from saas_core.audit.security import record_security_event
from saas_core.clock import Clock
from saas_core.context import RequestContext

#: Event types IAM records beyond :class:`~saas_core.audit.models.SecurityEventType`.
ASSIGNMENT_GRANTED = "iam_assignment_granted"
ASSIGNMENT_REVOKED = "iam_assignment_revoked"
BREAK_GLASS_GRANTED = "break_glass_granted"
ROLE_CHANGED = SecurityEventType.ROLE_CHANGED.value
BREAK_GLASS_USED = SecurityEventType.BREAK_GLASS_USED.value


def record_iam_event(
    session: Session,
    ctx: RequestContext,
    *,
    event_type: str,
    clock: Clock,
    severity: Severity = Severity.INFO,
    tenant_id: int | None = None,
    user_id: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Record one security event caused by the request ``ctx``; return the event id.

    ``user_id`` is the user the event is about (default: the caller). The acting user and any
    impersonator are added to ``metadata`` by internal id.
    """
    details = dict(metadata or {})
    if ctx.user is not None:
        details.setdefault("actor_user_id", ctx.user.id)
    if ctx.impersonator is not None:
        details.setdefault("impersonator_user_id", ctx.impersonator.id)
    return record_security_event(
        session,
        event_type=event_type,
        clock=clock,
        severity=severity,
        user_id=user_id if user_id is not None else (ctx.user.id if ctx.user else None),
        tenant_id=tenant_id,
        ip=ctx.client_ip,
        user_agent=ctx.user_agent,
        request_id=ctx.request_id,
        metadata=details,
    )


def record_break_glass_use(
    session: Session, ctx: RequestContext, *, permission: str, clock: Clock, action: str = ""
) -> uuid.UUID:
    """Record that a request made under a break-glass grant used ``permission``.

    The request pipeline calls it for every platform-permission request while
    :func:`saas_core.iam.authorize.is_break_glass` is true; the impersonation service calls it
    when impersonation starts.
    """
    return record_iam_event(
        session,
        ctx,
        event_type=BREAK_GLASS_USED,
        clock=clock,
        severity=Severity.HIGH,
        tenant_id=ctx.tenant.id if ctx.tenant else None,
        metadata={"permission": permission, "action": action},
    )
