"""API keys for service-to-service calls (the ``/internal/...`` routes).

A key is ``sk_live_<8 chars>.<secret>`` (:mod:`saas_core.identity.tokens`): the visible prefix
finds the row, the secret's SHA-256 is compared in constant time. The secret is returned once, by
:meth:`ApiKeyService.create`, and cannot be shown again.

A key is bound to the creator's active tenant (or, created without one, is a platform key) and
carries a list of permission scopes that must be a subset of what its creator holds there at
creation: a key never grants more than the person who made it had. Keys expire (optionally) and
can be revoked; ``last_used_at`` / ``last_used_ip`` are written at most once a minute.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from saas_core.audit.models import SecurityEventType, Severity
from saas_core.audit.security import record_security_event
from saas_core.clock import Clock
from saas_core.config import Settings
from saas_core.context import RequestContext
from saas_core.errors import (
    ApiKeyInvalid,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from saas_core.identity.models import ApiKey
from saas_core.identity.tokens import (
    constant_time_equals,
    hash_token,
    new_api_key,
    split_api_key,
)

#: ``last_used_at`` is written at most this often per key.
LAST_USED_INTERVAL = timedelta(minutes=1)

_PREFIX_ATTEMPTS = 5


class CreatedApiKey(NamedTuple):
    """A new key: ``key`` is the only copy of the secret; show it once."""

    key: str
    api_key: ApiKey


class ApiKeyService:
    """Create, list, revoke and authenticate API keys. Methods flush; callers commit."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    def create(
        self,
        session: Session,
        ctx: RequestContext,
        *,
        name: str,
        permissions: Iterable[str],
        expires_at: datetime | None = None,
    ) -> CreatedApiKey:
        """Create a key for ``ctx``'s active tenant (a platform key when there is none).

        ``permissions`` must be held by the caller: tenant permissions in the active tenant, or
        platform permissions for a platform key; otherwise
        :class:`~saas_core.errors.PermissionDenied` names the first one missing.
        """
        if ctx.user is None:
            raise Unauthenticated("only a signed-in user can create API keys")
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("name must be 1 to 200 characters", field="name")
        now = self.clock.now()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("expires_at must be in the future", field="expires_at")
        scopes = sorted(set(permissions))
        held = ctx.permissions if ctx.tenant is not None else ctx.platform_permissions
        for permission in scopes:
            if permission not in held:
                raise PermissionDenied(
                    f"you do not hold {permission!r}, so a key cannot have it",
                    permission=permission,
                )
        issued = new_api_key()
        for _ in range(_PREFIX_ATTEMPTS):
            if session.scalar(sa.select(ApiKey.id).where(ApiKey.prefix == issued.prefix)) is None:
                break
            issued = new_api_key()
        row = ApiKey(
            name=name,
            prefix=issued.prefix,
            secret_hash=issued.secret_hash,
            bound_tenant_id=ctx.tenant.id if ctx.tenant is not None else None,
            created_by_id=ctx.user.id,
            permissions=scopes,
            expires_at=expires_at,
            created_at=now,
        )
        session.add(row)
        session.flush()
        self._record(session, ctx, SecurityEventType.API_KEY_CREATED, row)
        return CreatedApiKey(issued.key, row)

    def list_keys(self, session: Session, ctx: RequestContext) -> list[ApiKey]:
        """Keys of ``ctx``'s active tenant, or the caller's platform keys when none is active."""
        statement = sa.select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        return list(session.scalars(self._scoped(statement, ctx)))

    def revoke(self, session: Session, ctx: RequestContext, public_id: uuid.UUID) -> ApiKey:
        """Revoke a key of ``ctx``'s scope; another scope's key is NotFound. Idempotent."""
        statement = sa.select(ApiKey).where(ApiKey.public_id == public_id)
        row = session.scalars(self._scoped(statement, ctx)).one_or_none()
        if row is None:
            raise NotFound("no such API key")
        if row.revoked_at is None:
            row.revoked_at = self.clock.now()
            session.flush()
            self._record(session, ctx, SecurityEventType.API_KEY_REVOKED, row)
        return row

    def revoke_created_by(self, session: Session, user_id: int) -> int:
        """Revoke every live key ``user_id`` created (account deletion); return how many."""
        result = session.execute(
            sa.update(ApiKey)
            .where(ApiKey.created_by_id == user_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=self.clock.now())
            .execution_options(synchronize_session="fetch")
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def authenticate(self, session: Session, raw_key: str, *, ip: str | None = None) -> ApiKey:
        """The live key ``raw_key`` names; :class:`~saas_core.errors.ApiKeyInvalid` otherwise.

        One query by prefix, a constant-time comparison of the secret's hash, and an UPDATE of
        the last-used time and address at most once a minute.
        """
        parts = split_api_key(raw_key)
        if parts is None or len(raw_key) > 512:
            raise ApiKeyInvalid()
        prefix, secret = parts
        row = session.scalars(sa.select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
        # Hash even when the prefix is unknown, so both failures cost the same.
        presented = hash_token(secret)
        if row is None or not constant_time_equals(presented, row.secret_hash):
            raise ApiKeyInvalid()
        now = self.clock.now()
        if row.revoked_at is not None or (row.expires_at is not None and now >= row.expires_at):
            raise ApiKeyInvalid()
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_INTERVAL:
            row.last_used_at = now
            row.last_used_ip = ip
            session.flush()
        return row

    def _scoped(self, statement: sa.Select[ApiKey], ctx: RequestContext) -> sa.Select[ApiKey]:
        if ctx.user is None:
            raise Unauthenticated()
        if ctx.tenant is not None:
            return statement.where(ApiKey.bound_tenant_id == ctx.tenant.id)
        return statement.where(
            ApiKey.bound_tenant_id.is_(None), ApiKey.created_by_id == ctx.user.id
        )

    def _record(self, session: Session, ctx: RequestContext, event_type: str, row: ApiKey) -> None:
        metadata: dict[str, object] = {
            "api_key": str(row.public_id),
            "prefix": row.prefix,
            "permissions": list(row.permissions),
        }
        if ctx.impersonator is not None:
            metadata["impersonator_user_id"] = ctx.impersonator.id
        record_security_event(
            session,
            event_type=event_type,
            severity=Severity.LOW,
            user_id=ctx.user.id if ctx.user else None,
            tenant_id=row.bound_tenant_id,
            ip=ctx.client_ip,
            user_agent=ctx.user_agent,
            request_id=ctx.request_id,
            metadata=metadata,
            clock=self.clock,
        )
