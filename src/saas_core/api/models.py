"""Tables of the HTTP layer: idempotency keys."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from saas_core.db.base import Base
from saas_core.db.mixins import CreatedAtMixin, IdMixin
from saas_core.db.types import enum_type


class IdempotencyState(enum.StrEnum):
    """Whether the first request with a key is still running or has its response stored."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class IdempotencyKey(IdMixin, CreatedAtMixin, Base):
    """An ``Idempotency-Key`` seen on a POST, and the first response given for it.

    Keys are scoped to the caller (``caller_key`` is ``"user:<public id>"`` or
    ``"api_key:<public id>"``), not to a tenant: the request pipeline looks them up before any
    handler (and before a tenant is bound), hence no ``tenant_id`` column and no RLS.

    The pipeline inserts the row ``in_progress`` with a lease in ``locked_until``; a retry during
    the lease is answered 409, and a lease that ran out (the first request crashed) may be taken
    over. Once ``completed``, a replay with the same ``request_hash`` (SHA-256 hex of method, path
    and body) returns the stored response, and a different payload under the same key is 422.
    ``expires_at`` is at least 24 h after ``created_at`` (set by the pipeline); expired rows are
    purged through the ``expires_at`` index.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("caller_key", "key"),
        Index(None, "expires_at"),
        CheckConstraint("length(key) > 0", name="key_not_empty"),
        CheckConstraint("length(request_hash) = 64", name="request_hash_sha256_hex"),
        CheckConstraint(
            "response_status IS NULL OR (response_status >= 100 AND response_status <= 599)",
            name="response_status_http",
        ),
        CheckConstraint(
            "state <> 'completed' OR response_status IS NOT NULL",
            name="completed_has_response",
        ),
        CheckConstraint(
            "state <> 'in_progress' OR locked_until IS NOT NULL", name="in_progress_has_lease"
        ),
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
    )

    caller_key: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2048))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[IdempotencyState] = mapped_column(
        enum_type(IdempotencyState, "idempotency_state"), default=IdempotencyState.IN_PROGRESS
    )
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    response_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    #: The in-flight lease: until then a retry is 409; after it a crashed attempt may be retaken.
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime] = mapped_column()
