"""Writing security events (failed logins, lockouts, revocations, key changes...).

:func:`record_security_event` inserts one row into ``security_events`` in the caller's
transaction, so the event exists exactly when the change it records commits. People are
referenced by internal id; ``metadata`` must not copy personal data (no emails, no names: the
audit trail must survive an erasure untouched).

Row Level Security: ``security_events`` has a ``tenant_id`` column, so on PostgreSQL a row is
only writable under the bound tenant or the platform scope. Identity events mostly happen before
any tenant is bound (a failed login) and carry ``tenant_id`` NULL, so the insert runs under the
platform scope (``app.platform_scope``) switched on for exactly that one statement and restored
to its previous value right after: the write is explicit and narrow, and the rest of the
transaction keeps the scope it had.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from saas_core.audit.models import SecurityEvent, Severity
from saas_core.clock import Clock
from saas_core.ids import uuid7

_PLATFORM_SCOPE = "app.platform_scope"


def record_security_event(
    session: Session,
    *,
    event_type: str,
    clock: Clock,
    severity: Severity = Severity.INFO,
    user_id: int | None = None,
    tenant_id: int | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    request_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Insert one security event now (not at the next flush) and return its id.

    ``event_type`` is one of :class:`~saas_core.audit.models.SecurityEventType`'s values or a
    host app's own type. ``occurred_at`` comes from ``clock``.
    """
    event_id = uuid7()
    statement = sa.insert(SecurityEvent).values(
        id=event_id,
        occurred_at=clock.now(),
        tenant_id=tenant_id,
        user_id=user_id,
        event_type=event_type,
        severity=severity,
        request_id=request_id,
        ip=ip,
        user_agent=user_agent[:512] if user_agent else None,
        metadata_=dict(metadata or {}),
    )
    if session.get_bind().dialect.name != "postgresql":
        session.execute(statement)
        return event_id
    previous = session.scalar(sa.select(sa.func.current_setting(_PLATFORM_SCOPE, True)))
    if previous == "on":
        session.execute(statement)
        return event_id
    session.execute(sa.select(sa.func.set_config(_PLATFORM_SCOPE, "on", True)))
    # No try/finally: if the insert fails the transaction (or savepoint) is rolled back, and
    # the transaction-local setting goes with it.
    session.execute(statement)
    session.execute(sa.select(sa.func.set_config(_PLATFORM_SCOPE, previous or "", True)))
    return event_id
