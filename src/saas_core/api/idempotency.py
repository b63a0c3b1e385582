"""``Idempotency-Key`` storage in the ``idempotency_keys`` table.

Semantics (IETF httpapi ``Idempotency-Key`` draft): keys are scoped to the caller and kept for at
least ``settings.idempotency_ttl`` (24 h by default); a replay with the same payload gets the first
response (status and bytes); the same key with a different payload is 422; a retry while the first
request runs is 409.

Concurrency: :meth:`SqlIdempotencyStore.begin` inserts the claim with ``ON CONFLICT DO NOTHING`` in
a short transaction of its own, so of two concurrent duplicates exactly one inserts and the other
(on PostgreSQL it waits for the first insert to commit) reads an in-flight claim. The claim holds a
lease (``locked_until``): if the first request died without releasing it, a retry after the lease
takes over. The response is stored in the request's own transaction, so it commits together with
the effects it describes, or not at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from saas_core.api.hooks import (
    IdempotencyClaim,
    IdempotencyOutcome,
    IdempotencyRequest,
    StoredResponse,
)
from saas_core.api.models import IdempotencyKey, IdempotencyState
from saas_core.clock import Clock

_PROCEED = IdempotencyClaim(IdempotencyOutcome.PROCEED)
_IN_FLIGHT = IdempotencyClaim(IdempotencyOutcome.IN_FLIGHT)
_MISMATCH = IdempotencyClaim(IdempotencyOutcome.MISMATCH)


class SqlIdempotencyStore:
    """The default :class:`~saas_core.api.hooks.IdempotencyStore`, backed by the database."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        *,
        ttl: timedelta = timedelta(hours=24),
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        if ttl < timedelta(hours=24):
            raise ValueError("idempotency keys must be kept at least 24 hours")
        self._sessions = sessions
        self._clock = clock
        self._ttl = ttl
        self._lease = lease

    def begin(self, request: IdempotencyRequest) -> IdempotencyClaim:
        """Claim ``request``'s key in a transaction of its own, or say why not."""
        now = self._clock.now()
        with self._sessions() as session, session.begin():
            if self._insert(session, request, now):
                return _PROCEED
            row = session.execute(
                select(IdempotencyKey)
                .where(IdempotencyKey.caller_key == request.caller)
                .where(IdempotencyKey.key == request.key)
                .with_for_update()
            ).scalar_one()
            if row.expires_at <= now:
                self._reset(row, request, now)
                return _PROCEED
            if row.request_hash != request.fingerprint:
                return _MISMATCH
            if row.state is IdempotencyState.COMPLETED:
                stored = StoredResponse(
                    status=row.response_status or 200,
                    headers=dict(row.response_headers),
                    body=row.response_body or b"",
                )
                return IdempotencyClaim(IdempotencyOutcome.REPLAY, stored)
            if row.locked_until is not None and row.locked_until > now:
                return _IN_FLIGHT
            # The first attempt's lease ran out (it crashed without releasing): take over.
            row.locked_until = now + self._lease
            return _PROCEED

    def complete(
        self, session: Session, request: IdempotencyRequest, response: StoredResponse
    ) -> None:
        """Store the first response, in the request's transaction."""
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.caller_key == request.caller)
            .where(IdempotencyKey.key == request.key)
            .where(IdempotencyKey.request_hash == request.fingerprint)
            .values(
                state=IdempotencyState.COMPLETED,
                response_status=response.status,
                response_headers=response.headers,
                response_body=response.body,
                completed_at=self._clock.now(),
                locked_until=None,
            )
        )

    def release(self, request: IdempotencyRequest) -> None:
        """Drop the in-flight claim of a failed request so that a retry runs again."""
        with self._sessions() as session, session.begin():
            session.execute(
                delete(IdempotencyKey)
                .where(IdempotencyKey.caller_key == request.caller)
                .where(IdempotencyKey.key == request.key)
                .where(IdempotencyKey.request_hash == request.fingerprint)
                .where(IdempotencyKey.state == IdempotencyState.IN_PROGRESS)
            )

    def purge_expired(self) -> int:
        """Delete expired keys; returns how many went. Run it from a periodic job."""
        with self._sessions() as session, session.begin():
            result = session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.expires_at <= self._clock.now())
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def _insert(self, session: Session, request: IdempotencyRequest, now: datetime) -> bool:
        values: dict[str, Any] = {
            "caller_key": request.caller,
            "key": request.key,
            "method": request.method,
            "path": request.path,
            "request_hash": request.fingerprint,
            "state": IdempotencyState.IN_PROGRESS,
            "response_headers": {},
            "locked_until": now + self._lease,
            "created_at": now,
            "expires_at": now + self._ttl,
        }
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(IdempotencyKey)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["caller_key", "key"])
            .returning(IdempotencyKey.id)
        )
        # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
        return session.execute(statement).first() is not None

    def _reset(self, row: IdempotencyKey, request: IdempotencyRequest, now: datetime) -> None:
        row.method = request.method
        row.path = request.path
        row.request_hash = request.fingerprint
        row.state = IdempotencyState.IN_PROGRESS
        row.response_status = None
        row.response_headers = {}
        row.response_body = None
        row.completed_at = None
        row.locked_until = now + self._lease
        row.created_at = now
        row.expires_at = now + self._ttl
