"""Ports of the identity services: sending email, and mapping a host app's users.

``EmailSender``
    Sends the messages identity flows produce (email verification, password reset, email change).
    :class:`InMemoryOutbox` is the offline default (the demo and tests read it);
    :class:`LoggingEmailSender` logs that a message went out, never what it says. Production apps
    plug in their own sender (SMTP, a transactional email API) with the same one-method shape.

``IdentityBridge``
    For host apps that already have their own users and login: map the host's logged-in user to
    a saas-core :class:`~saas_core.identity.models.User` instead of using saas-core's login.
    :class:`EmailIdentityBridge` maps by normalised email; ``docs/identity.md`` shows it with
    Django's auth users.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saas_core.clock import Clock, SystemClock
from saas_core.errors import InvalidInput
from saas_core.identity.models import User

logger = logging.getLogger("saas_core.email")


@dataclass(frozen=True, slots=True)
class EmailMessage:
    """A plain-text email.

    ``kind`` names the flow (``verify_email``, ``reset_password``, ``change_email``) so a custom
    sender can pick its own template; ``token`` is the single-use token the message carries, for
    senders that build their own links. Neither ``text`` nor ``token`` appears in ``repr()``: a
    token must never end up in a log line or a traceback.
    """

    to: str
    subject: str
    text: str = field(repr=False)
    kind: str = "generic"
    token: str | None = field(default=None, repr=False)


class EmailSender(Protocol):
    """Sends email. Raise on failure; the calling service does not retry."""

    def send(self, message: EmailMessage) -> None:
        """Send ``message``."""
        ...


class InMemoryOutbox:
    """Keeps sent messages in memory: the offline default and the outbox of tests."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        """Append ``message`` to :attr:`messages`."""
        self.messages.append(message)

    def last(self, *, to: str | None = None, kind: str | None = None) -> EmailMessage:
        """The most recent message, optionally to one address and of one kind."""
        for message in reversed(self.messages):
            if (to is None or message.to == to) and (kind is None or message.kind == kind):
                return message
        raise LookupError(f"no message to={to!r} kind={kind!r} in the outbox")

    def clear(self) -> None:
        """Forget every message."""
        self.messages.clear()


class LoggingEmailSender:
    """Logs the recipient, kind and subject of each message at INFO; sends nothing.

    The body is never logged: it carries single-use tokens, and a token in a log is a token
    anyone with log access can use.
    """

    def __init__(self, log: logging.Logger | None = None) -> None:
        self._log = log or logger

    def send(self, message: EmailMessage) -> None:
        """Log that ``message`` would be sent."""
        self._log.info("email to=%s kind=%s subject=%s", message.to, message.kind, message.subject)


def normalize_email(email: str) -> str:
    """Trim and lower-case ``email``; refuse values that cannot be an address.

    Lower-casing the local part is a deliberate simplification: in practice no mailbox provider
    distinguishes ``Ada@`` from ``ada@``, and treating them as two accounts invites takeovers.
    """
    normalized = email.strip().lower()
    local, at, domain = normalized.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in normalized):
        raise InvalidInput("not a valid email address", field="email")
    if len(normalized) > 320:
        raise InvalidInput("email address too long", field="email")
    return normalized


class IdentityBridge(Protocol):
    """Maps a host application's logged-in user to a saas-core user.

    ``host_user`` is whatever the host app calls a user (a Django ``User``, a Flask-Login user, an
    id string). Implementations find the matching saas-core user, creating it on first sight.
    """

    def user_for(self, session: Session, host_user: Any) -> User:
        """The saas-core user of ``host_user`` (created if missing; flushed, not committed)."""
        ...


def _email_attribute(host_user: Any) -> str:
    email = host_user if isinstance(host_user, str) else getattr(host_user, "email", None)
    if not isinstance(email, str) or not email:
        raise InvalidInput("the host user has no email address", field="email")
    return email


class EmailIdentityBridge:
    """Maps host users to saas-core users by normalised email address.

    A user seen for the first time is created without a password (it can never log in through
    saas-core's own login, only through the host) and, when ``trust_host_verification`` is True
    (the default), with its email marked verified: the host app vouches for its users.

    ``email_of`` extracts the address from a host user (default: the ``email`` attribute, or the
    value itself when it is a string); ``display_name_of`` optionally supplies a display name.
    """

    def __init__(
        self,
        *,
        email_of: Callable[[Any], str] = _email_attribute,
        display_name_of: Callable[[Any], str | None] | None = None,
        trust_host_verification: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self._email_of = email_of
        self._display_name_of = display_name_of
        self._trust = trust_host_verification
        self._clock: Clock = clock or SystemClock()

    def user_for(self, session: Session, host_user: Any) -> User:
        """The live saas-core user with ``host_user``'s email, created on first sight.

        Two first requests of the same new user may race to create it: the insert runs in a
        savepoint, and the loser of the race reads the winner's row.
        """
        email = normalize_email(self._email_of(host_user))
        user = self._find(session, email)
        if user is not None:
            return user
        now: datetime = self._clock.now()
        display_name = self._display_name_of(host_user) if self._display_name_of else None
        user = User(
            email=email,
            display_name=(display_name or "").strip()[:200] or None,
            email_verified_at=now if self._trust else None,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(user)
        except IntegrityError:
            existing = self._find(session, email)
            if existing is None:
                raise
            return existing
        return user

    @staticmethod
    def _find(session: Session, email: str) -> User | None:
        return session.scalars(
            select(User).where(User.email == email, User.deleted_at.is_(None))
        ).one_or_none()
