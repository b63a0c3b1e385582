"""The request context: who is calling, in which tenant, with which permissions.

A :class:`RequestContext` is built once per request (from a session token or an API key) and is
frozen: services read it, never change it. Authorisation checks against it are in-memory.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field


class AuthMethod(enum.StrEnum):
    """How the caller authenticated."""

    ANONYMOUS = "anonymous"
    SESSION = "session"
    API_KEY = "api_key"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class UserRef:
    """The few facts about a user that every request needs."""

    id: int
    public_id: uuid.UUID
    email: str


@dataclass(frozen=True, slots=True)
class TenantRef:
    """The active tenant of a request."""

    id: int
    public_id: uuid.UUID
    slug: str
    status: str


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Everything a service needs to know about the caller, built once per request."""

    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    auth_method: AuthMethod = AuthMethod.ANONYMOUS
    user: UserRef | None = None
    tenant: TenantRef | None = None
    #: Key of the caller's role in the active tenant (``owner``, ``admin``...), if any.
    role: str | None = None
    #: Tenant permissions granted in the active tenant.
    permissions: frozenset[str] = frozenset()
    #: Platform permissions from unexpired platform role assignments.
    platform_permissions: frozenset[str] = frozenset()
    #: The real user when an operator is impersonating ``user``.
    impersonator: UserRef | None = None
    #: Internal id of the auth session (session transport) or API key (key transport).
    session_id: int | None = None
    api_key_id: int | None = None
    client_ip: str | None = None
    user_agent: str | None = None

    @property
    def is_authenticated(self) -> bool:
        """True when a user or API key is behind the request."""
        return self.auth_method in (AuthMethod.SESSION, AuthMethod.API_KEY, AuthMethod.SYSTEM)

    @property
    def caller_key(self) -> str | None:
        """A stable key for the caller (used to scope idempotency keys and rate limits)."""
        if self.api_key_id is not None:
            return f"api_key:{self.api_key_id}"
        if self.user is not None:
            return f"user:{self.user.public_id}"
        return None

    @classmethod
    def system(
        cls, *, tenant: TenantRef | None = None, request_id: str | None = None
    ) -> RequestContext:
        """A context for background jobs and webhooks (no user, explicit system identity)."""
        return cls(
            request_id=request_id or uuid.uuid4().hex,
            auth_method=AuthMethod.SYSTEM,
            tenant=tenant,
        )
