"""Factories for identity objects in tests: cheap settings, a service, users."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from saas_core.clock import Clock, FakeClock
from saas_core.config import Settings
from saas_core.identity.models import User
from saas_core.identity.ports import EmailSender, InMemoryOutbox
from saas_core.identity.service import IdentityService

#: Password used by :func:`make_user` unless told otherwise.
DEFAULT_PASSWORD = "correct horse battery staple"  # noqa: S105 - a test fixture value


def fast_settings(**overrides: Any) -> Settings:
    """Settings with argon2 made cheap (64 KiB, one pass) so tests hash in microseconds.

    Never use these parameters in production: they are far below OWASP's floor.
    """
    values: dict[str, Any] = {
        "password_memory_cost_kib": 64,
        "password_time_cost": 1,
        "password_parallelism": 1,
        "database_url": "sqlite://",
    }
    values.update(overrides)
    return Settings(**values)


def identity_service(
    settings: Settings | None = None,
    clock: Clock | None = None,
    email_sender: EmailSender | None = None,
) -> IdentityService:
    """An :class:`IdentityService` with cheap hashing, a fake clock and an in-memory outbox."""
    return IdentityService(
        settings or fast_settings(),
        clock or FakeClock(),
        email_sender if email_sender is not None else InMemoryOutbox(),
    )


def make_user(
    session: Session,
    identity: IdentityService,
    *,
    email: str = "ada@example.com",
    password: str | None = DEFAULT_PASSWORD,
    verified: bool = True,
    display_name: str | None = None,
) -> User:
    """Create a user (email verified by default) without sending any email."""
    return identity.create_user(
        session,
        email=email,
        password=password,
        display_name=display_name,
        email_verified=verified,
    )
