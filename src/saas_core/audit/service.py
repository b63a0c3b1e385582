"""Writing and reading the platform audit log.

Writing
    :meth:`AuditService.record` writes one ``platform_audit_logs`` row from a
    :class:`~saas_core.context.RequestContext`; :class:`DatabaseAuditSink` is the request
    pipeline's :class:`~saas_core.api.hooks.AuditSink`, writing the entry of every route that
    declares an ``audit_action``. Either way the row is inserted at once, in the caller's
    transaction, so it commits exactly when the audited change does and rolls back with it.

    People are referenced, never copied: the row holds internal and public ids, never an email or
    a name, so erasing a user leaves the trail intact. ``metadata`` goes through
    :func:`scrub_metadata` first.

Row Level Security (PostgreSQL)
    ``platform_audit_logs`` has a ``tenant_id`` column, so a row is writable only under the bound
    tenant (``tenant_isolation``) or the platform scope. A row of a tenant is written under the
    request's own binding: the session must be bound to that tenant, as the pipeline does before
    the handler runs (a mismatch fails loudly rather than widening the scope). A row with
    ``tenant_id`` NULL (an anonymous or platform action) is written inside :func:`_platform_scope`,
    switched on for that one statement and restored right after.

Reading
    :meth:`AuditService.list_logs` pages newest first on ``(occurred_at, id)``. A tenant read sees
    only ``ctx.tenant``'s rows and needs ``audit:read``; a platform read sees every row, needs
    ``platform:audit:read`` and runs inside the explicit platform scope.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic_core import to_jsonable_python
from sqlalchemy.orm import Session, aliased

from saas_core.api.hooks import AuditEntry
from saas_core.api.pagination import Page
from saas_core.audit.models import ActorType, AuditLog, AuditOutcome
from saas_core.audit.schemas import AuditLogOut, AuditLogQuery
from saas_core.clock import Clock
from saas_core.context import AuthMethod, RequestContext, UserRef
from saas_core.db.tenant import platform_scope
from saas_core.errors import PermissionDenied, TenantRequired
from saas_core.identity.models import ApiKey, User
from saas_core.ids import uuid7
from saas_core.tenancy.models import Tenant

#: Permission a tenant read of the log needs (in ``ctx.permissions``).
TENANT_READ_PERMISSION = "audit:read"
#: Platform permission a platform-wide read needs (in ``ctx.platform_permissions``).
PLATFORM_READ_PERMISSION = "platform:audit:read"

#: Metadata keys dropped by :func:`scrub_metadata`, compared after lower-casing and splitting on
#: ``_``, ``-``, ``.``, spaces and camelCase humps: a key goes if any of its words is here
#: (``new_password``, ``userEmail``, ``access-token``).
DENIED_METADATA_WORDS = frozenset(
    {"email", "password", "passwd", "secret", "token", "phone", "address", "cookie", "otp"}
)
#: Whole keys dropped by :func:`scrub_metadata` (after the same normalisation, words joined by
#: ``_``): names of people and credentials whose words alone are too common to deny.
DENIED_METADATA_KEYS = frozenset(
    {
        "name",
        "full_name",
        "first_name",
        "last_name",
        "display_name",
        "username",
        "api_key",
        "authorization",
        "credentials",
    }
)

_WORD_BREAK = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PLATFORM_SETTING = "app.platform_scope"
_COLUMN_LIMITS = {"request_id": 64, "ip": 45, "user_agent": 512}


def scrub_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """``metadata`` made safe to keep: personal data and secrets dropped, values JSON-ready.

    Drops, at any depth, keys matching :data:`DENIED_METADATA_WORDS` or
    :data:`DENIED_METADATA_KEYS` and string values that look like an email address. This is a
    backstop, not a classifier: callers put public ids and codes in metadata, never free text
    about people. UUIDs, datetimes and enums become strings.
    """
    return _scrub_mapping(to_jsonable_python(dict(metadata or {})))


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return _scrub_mapping(value)
    if isinstance(value, list):
        return [_scrub(item) for item in value if not _is_email(item)]
    return value


def _scrub_mapping(mapping: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _scrub(value)
        for key, value in mapping.items()
        if not _denied_key(key) and not _is_email(value)
    }


def _denied_key(key: str) -> bool:
    words = [word.lower() for word in _WORD_BREAK.split(str(key)) if word]
    return "_".join(words) in DENIED_METADATA_KEYS or not DENIED_METADATA_WORDS.isdisjoint(words)


def _is_email(value: Any) -> bool:
    return isinstance(value, str) and _EMAIL.search(value) is not None


class AuditService:
    """Records audited actions and reads the audit log (stateless between calls)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def record(
        self,
        session: Session,
        ctx: RequestContext,
        *,
        action: str,
        target_type: str | None = None,
        target_public_id: uuid.UUID | str | None = None,
        outcome: AuditOutcome | str = AuditOutcome.SUCCESS,
        metadata: Mapping[str, Any] | None = None,
    ) -> uuid.UUID:
        """Write one audit row for ``ctx``'s caller now (in the caller's transaction); its id.

        The actor, impersonator, tenant, request id and client address and agent come from
        ``ctx``; ``occurred_at`` from the service's clock. An anonymous caller is recorded as
        actor type ``user`` without ids, a system context as ``system``.
        """
        api_key_id = ctx.api_key_id if ctx.auth_method is AuthMethod.API_KEY else None
        return write_audit_row(
            session,
            occurred_at=self.clock.now(),
            action=action,
            actor_type=_ACTOR_TYPES[ctx.auth_method],
            actor=ctx.user,
            api_key_id=api_key_id,
            impersonator=ctx.impersonator,
            tenant_id=ctx.tenant.id if ctx.tenant is not None else None,
            target_type=target_type,
            target_public_id=target_public_id,
            outcome=AuditOutcome(outcome),
            request_id=ctx.request_id,
            ip=ctx.client_ip,
            user_agent=ctx.user_agent,
            metadata=metadata,
        )

    def list_logs(
        self,
        session: Session,
        ctx: RequestContext,
        *,
        tenant_scoped: bool,
        query: AuditLogQuery | None = None,
    ) -> Page[AuditLogOut]:
        """One page of audit records, newest first, filtered by ``query``.

        ``tenant_scoped=True``: ``ctx.tenant``'s records (needs ``audit:read`` and an active
        tenant; on PostgreSQL the session must be bound to that tenant, as in a request).
        ``False``: every record, platform-level ones included (needs ``platform:audit:read``;
        runs in the explicit platform scope).
        """
        query = query or AuditLogQuery()
        if tenant_scoped:
            if ctx.tenant is None:
                raise TenantRequired()
            _authorize(TENANT_READ_PERMISSION in ctx.permissions, TENANT_READ_PERMISSION)
            return _read_page(session, query, tenant_id=ctx.tenant.id)
        allowed = PLATFORM_READ_PERMISSION in ctx.platform_permissions
        _authorize(allowed, PLATFORM_READ_PERMISSION)
        with _platform_scope(session, reason="platform audit log read"):
            return _read_page(session, query, tenant_id=None)


class DatabaseAuditSink:
    """The pipeline's :class:`~saas_core.api.hooks.AuditSink`: entries go to the audit table.

    ``Core`` uses it unless given another sink. The entry does not say how
    the caller authenticated, so the actor type is read from what it names: an API key, else a
    user (the authenticated caller, or the one a handler named, as at login), else an
    unauthenticated caller (type ``user``, no ids).
    """

    def record(self, session: Session, entry: AuditEntry) -> None:
        """Insert ``entry`` with ``session`` (in the request's transaction; never commits)."""
        target_type, target_id = entry.target if entry.target is not None else (None, None)
        actor_type = ActorType.API_KEY if entry.api_key_id is not None else ActorType.USER
        write_audit_row(
            session,
            occurred_at=entry.occurred_at,
            action=entry.action,
            actor_type=actor_type,
            actor=entry.actor,
            api_key_id=entry.api_key_id,
            impersonator=entry.impersonator,
            tenant_id=entry.tenant.id if entry.tenant is not None else None,
            target_type=target_type,
            target_public_id=target_id,
            outcome=AuditOutcome.SUCCESS,
            request_id=entry.request_id,
            ip=entry.client_ip,
            user_agent=entry.user_agent,
            metadata=entry.metadata,
        )


_ACTOR_TYPES = {
    AuthMethod.ANONYMOUS: ActorType.USER,
    AuthMethod.SESSION: ActorType.USER,
    AuthMethod.API_KEY: ActorType.API_KEY,
    AuthMethod.SYSTEM: ActorType.SYSTEM,
}


def write_audit_row(
    session: Session,
    *,
    occurred_at: datetime,
    action: str,
    actor_type: ActorType,
    actor: UserRef | None,
    api_key_id: int | None,
    impersonator: UserRef | None,
    tenant_id: int | None,
    target_type: str | None,
    target_public_id: uuid.UUID | str | None,
    outcome: AuditOutcome,
    request_id: str | None,
    ip: str | None,
    user_agent: str | None,
    metadata: Mapping[str, Any] | None,
) -> uuid.UUID:
    """Insert one audit row now and return its id (the one place rows are written).

    ``actor_public_id`` is the API key's public id when ``api_key_id`` is set, else the
    actor's. A ``target_public_id`` that is not a UUID is a programming error (``ValueError``):
    targets are named by public id. Over-long request ids, addresses and agents are cut to
    their columns' sizes rather than failing the audited request.
    """
    if not action or len(action) > 100:
        raise ValueError(f"an audit action is 1 to 100 characters, got {action!r}")
    actor_public_id = actor.public_id if actor is not None else None
    if api_key_id is not None:
        actor_public_id = session.scalar(sa.select(ApiKey.public_id).where(ApiKey.id == api_key_id))
    row_id = uuid7()
    statement = sa.insert(AuditLog).values(
        id=row_id,
        occurred_at=occurred_at,
        tenant_id=tenant_id,
        actor_type=actor_type,
        actor_user_id=actor.id if actor is not None else None,
        actor_public_id=actor_public_id,
        impersonator_user_id=impersonator.id if impersonator is not None else None,
        action=action,
        target_type=target_type or None,
        target_public_id=_public_id(target_public_id),
        request_id=_clip(request_id, "request_id"),
        ip=_clip(ip, "ip"),
        user_agent=_clip(user_agent, "user_agent"),
        outcome=outcome,
        metadata_=scrub_metadata(metadata),
    )
    if tenant_id is None:
        with _platform_scope(session, reason="audit row without a tenant"):
            session.execute(statement)
    else:
        session.execute(statement)
    return row_id


def _public_id(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _clip(value: str | None, column: str) -> str | None:
    return value[: _COLUMN_LIMITS[column]] if value else None


def _authorize(allowed: bool, permission: str) -> None:
    if not allowed:
        raise PermissionDenied(f"missing permission {permission!r}", permission=permission)


@contextmanager
def _platform_scope(session: Session, *, reason: str) -> Iterator[None]:
    """The explicit platform scope for one statement (or one read), restored afterwards.

    Enters :func:`saas_core.db.tenant.platform_scope` (which lifts the ORM tenant filter and, for
    a :class:`~saas_core.db.tenant.TenantSession`, sets ``app.platform_scope``), and on
    PostgreSQL makes sure ``app.platform_scope`` is ``on`` whatever the session class, putting
    back the previous value after the block. There is no ``finally`` for the setting: a failing
    statement aborts the transaction (or savepoint), and the transaction-local value is rolled
    back with it.
    """
    with platform_scope(session, reason=reason):
        if session.get_bind().dialect.name != "postgresql":
            yield
            return
        current = sa.select(sa.func.current_setting(_PLATFORM_SETTING, True))
        previous = session.scalar(current)
        if previous == "on":
            yield
            return
        session.execute(sa.select(sa.func.set_config(_PLATFORM_SETTING, "on", True)))
        yield
        session.execute(sa.select(sa.func.set_config(_PLATFORM_SETTING, previous or "", True)))


_Impersonator = aliased(User)


def _read_page(
    session: Session, query: AuditLogQuery, *, tenant_id: int | None
) -> Page[AuditLogOut]:
    statement = (
        sa.select(AuditLog, Tenant.public_id, _Impersonator.public_id)
        .outerjoin(Tenant, Tenant.id == AuditLog.tenant_id)
        .outerjoin(_Impersonator, _Impersonator.id == AuditLog.impersonator_user_id)
        .order_by(AuditLog.occurred_at.desc(), AuditLog.id.desc())
        .limit(query.limit + 1)
    )
    if tenant_id is not None:
        statement = statement.where(AuditLog.tenant_id == tenant_id)
    if query.action is not None:
        statement = statement.where(AuditLog.action.startswith(query.action, autoescape=True))
    if query.actor_id is not None:
        statement = statement.where(AuditLog.actor_public_id == query.actor_id)
    if query.target_id is not None:
        statement = statement.where(AuditLog.target_public_id == query.target_id)
    if query.since is not None:
        statement = statement.where(AuditLog.occurred_at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditLog.occurred_at < query.until)
    after = query.after()
    if after is not None:
        # Newest first, so the next page holds the keys below the cursor's.
        at, last = after
        statement = statement.where(
            sa.or_(
                AuditLog.occurred_at < at,
                sa.and_(AuditLog.occurred_at == at, AuditLog.id < last),
            )
        )
    rows = session.execute(statement).all()
    return Page[AuditLogOut].build(
        rows, query.limit, _out, key=lambda row: (row[0].occurred_at, row[0].id)
    )


def _out(row: sa.Row[AuditLog, uuid.UUID | None, uuid.UUID | None]) -> AuditLogOut:
    log, tenant_public_id, impersonator_public_id = row
    return AuditLogOut(
        id=log.id,
        occurred_at=log.occurred_at,
        tenant_id=tenant_public_id,
        actor_type=log.actor_type,
        actor_id=log.actor_public_id,
        impersonator_id=impersonator_public_id,
        action=log.action,
        target_type=log.target_type,
        target_id=log.target_public_id,
        outcome=log.outcome,
        request_id=log.request_id,
        ip=log.ip,
        user_agent=log.user_agent,
        metadata=dict(log.metadata_ or {}),
    )
