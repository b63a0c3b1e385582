"""Ports the request pipeline calls: the audit sink and the idempotency store.

The pipeline records an :class:`AuditEntry` for every route with an ``audit_action``, inside the
request's transaction, through :attr:`saas_core.core.Core.audit_sink`; the audit domain plugs its
table-backed sink in there. Idempotency keys go through an :class:`IdempotencyStore`
(:class:`saas_core.api.idempotency.SqlIdempotencyStore` by default).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from saas_core.context import TenantRef, UserRef


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited action, as the pipeline saw it.

    ``target`` is ``(type, public id)`` when the handler named one (or the route's last id path
    parameter otherwise). ``metadata`` holds references, never copies of personal data.
    """

    action: str
    occurred_at: datetime
    request_id: str
    actor: UserRef | None
    impersonator: UserRef | None
    tenant: TenantRef | None
    api_key_id: int | None
    target: tuple[str, str] | None
    client_ip: str | None
    user_agent: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


class AuditSink(Protocol):
    """Writes audit entries in the caller's transaction."""

    def record(self, session: Session, entry: AuditEntry) -> None:
        """Persist ``entry`` with ``session`` (flush at most; never commit)."""
        ...


class NullAuditSink:
    """Writes nothing; the default until an application plugs the audit log in."""

    def record(self, session: Session, entry: AuditEntry) -> None:
        """Drop ``entry``."""


class RecordingAuditSink:
    """Keeps entries in memory (tests, demos)."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, session: Session, entry: AuditEntry) -> None:
        """Remember ``entry``."""
        self.entries.append(entry)


class IdempotencyOutcome(enum.Enum):
    """What :meth:`IdempotencyStore.begin` decided."""

    #: First time (or a lease that ran out): run the request, then store its response.
    PROCEED = "proceed"
    #: Done before with the same payload: answer the stored response.
    REPLAY = "replay"
    #: The first request with this key is still running: 409.
    IN_FLIGHT = "in_flight"
    #: The key was used with a different payload: 422.
    MISMATCH = "mismatch"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A response kept for replay."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """The answer of :meth:`IdempotencyStore.begin`; ``response`` is set for ``REPLAY``."""

    outcome: IdempotencyOutcome
    response: StoredResponse | None = None


@dataclass(frozen=True, slots=True)
class IdempotencyRequest:
    """Identifies one keyed request: who, which key, and a fingerprint of what was asked."""

    caller: str
    key: str
    method: str
    path: str
    fingerprint: str


class IdempotencyStore(Protocol):
    """Remembers keyed requests and their first responses.

    ``begin`` runs in its own short transaction (so a concurrent duplicate sees the claim);
    ``complete`` runs in the request's own transaction (so the stored response commits with the
    effects); ``release`` runs after a failed request so a retry may run again.
    """

    def begin(self, request: IdempotencyRequest) -> IdempotencyClaim:
        """Claim the key, or say why not."""
        ...

    def complete(
        self, session: Session, request: IdempotencyRequest, response: StoredResponse
    ) -> None:
        """Store the response of a claimed request (in the request's transaction)."""
        ...

    def release(self, request: IdempotencyRequest) -> None:
        """Drop the claim of a request that failed."""
        ...
