"""Login throttling per account and per client address, kept in ``login_throttles``.

Each key (the SHA-256 of a normalised email, or of a client address) has a failure counter over
a window (``Settings.login_failure_window``). The failure that brings the counter to its limit
(``login_max_failures`` per account, ``address_max_failures`` per address) locks the key for
``Settings.login_lockout``; while locked, sign-in is refused before the password is even checked,
so the next attempt fails with :class:`~saas_core.errors.AccountLocked` *even with the right
password*. Once the window or the lockout has passed, the next failure starts a new window. A
successful sign-in clears the account's counter, not the address's (one valid account must not
let an address keep guessing others' passwords).

State lives in the database so every process and host shares it. A failure is counted with one
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (PostgreSQL and SQLite alike): the row lock the
upsert takes serialises concurrent failures on the same key, so each one sees an exact count and
exactly one of them crosses the limit.

Keys are hashes and carry no foreign key, so unknown emails are throttled exactly like real ones
and the table cannot be used to enumerate accounts.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from saas_core.clock import Clock
from saas_core.config import Settings
from saas_core.errors import AccountLocked
from saas_core.identity.models import LoginThrottle, ThrottleKeyKind


def throttle_key_hash(value: str) -> str:
    """The stored form of a throttle key (a normalised email or a client address)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ThrottleKey:
    """One counter: an account (by normalised email) or a client address."""

    kind: ThrottleKeyKind
    hash: str

    @classmethod
    def account(cls, normalized_email: str) -> ThrottleKey:
        """The key of an account."""
        return cls(ThrottleKeyKind.ACCOUNT, throttle_key_hash(normalized_email))

    @classmethod
    def address(cls, ip: str) -> ThrottleKey:
        """The key of a client address."""
        return cls(ThrottleKeyKind.ADDRESS, throttle_key_hash(ip))


@dataclass(frozen=True, slots=True)
class FailureCount:
    """The state of one key after a failure was counted."""

    key: ThrottleKey
    failures: int
    #: True for the failure that crossed the limit (exactly one failure per lockout).
    locked_now: bool
    locked_until: datetime | None


class LoginThrottler:
    """Counts failed sign-ins and refuses attempts on locked keys."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    def keys(self, normalized_email: str, ip: str | None) -> list[ThrottleKey]:
        """The keys an attempt for ``normalized_email`` from ``ip`` counts against."""
        keys = [ThrottleKey.account(normalized_email)]
        if ip:
            keys.append(ThrottleKey.address(ip))
        return keys

    def _limit(self, kind: ThrottleKeyKind) -> int:
        if kind is ThrottleKeyKind.ACCOUNT:
            return self.settings.login_max_failures
        return self.settings.address_max_failures

    def check(self, session: Session, keys: list[ThrottleKey]) -> None:
        """Raise :class:`~saas_core.errors.AccountLocked` if any of ``keys`` is locked now.

        ``extra['retry_after']`` is the number of seconds until every lock has passed and
        ``extra['scope']`` says which kind of key is locked (``account`` or ``address``).
        """
        now = self.clock.now()
        conditions = [
            sa.and_(LoginThrottle.key_kind == key.kind, LoginThrottle.key_hash == key.hash)
            for key in keys
        ]
        rows = session.execute(
            sa.select(LoginThrottle.key_kind, LoginThrottle.locked_until).where(
                sa.or_(*conditions), LoginThrottle.locked_until > now
            )
        ).all()
        if not rows:
            return
        until = max(row.locked_until for row in rows)
        scopes = sorted(str(row.key_kind) for row in rows)
        raise AccountLocked(
            "too many failed sign-in attempts; try again later",
            retry_after=max(1, math.ceil((until - now).total_seconds())),
            scope=scopes[0] if len(scopes) == 1 else "account,address",
        )

    def record_failure(self, session: Session, keys: list[ThrottleKey]) -> list[FailureCount]:
        """Count one failed attempt against each of ``keys``; lock those that reach the limit."""
        return [self._count(session, key) for key in keys]

    def reset(self, session: Session, key: ThrottleKey) -> None:
        """Forget the failures of ``key`` (after a successful sign-in)."""
        session.execute(
            sa.delete(LoginThrottle).where(
                LoginThrottle.key_kind == key.kind, LoginThrottle.key_hash == key.hash
            )
        )

    def _count(self, session: Session, key: ThrottleKey) -> FailureCount:
        now = self.clock.now()
        table = cast(sa.Table, LoginThrottle.__table__)
        when = table.c.window_start.type
        # A new window starts once the old one has passed or its lockout has run out.
        restart = sa.or_(
            table.c.window_start <= now - self.settings.login_failure_window,
            sa.and_(table.c.locked_until.is_not(None), table.c.locked_until <= now),
        )
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(table)
            .values(
                key_kind=key.kind,
                key_hash=key.hash,
                window_start=now,
                failures=1,
                last_failure_at=now,
                updated_at=now,
            )
            .on_conflict_do_update(
                index_elements=[table.c.key_kind, table.c.key_hash],
                set_={
                    "failures": sa.case((restart, 1), else_=table.c.failures + 1),
                    "window_start": sa.case(
                        (restart, sa.literal(now, when)), else_=table.c.window_start
                    ),
                    "locked_until": sa.case((restart, sa.null()), else_=table.c.locked_until),
                    "last_failure_at": sa.literal(now, when),
                    "updated_at": sa.literal(now, when),
                },
            )
            .returning(table.c.id, table.c.failures, table.c.locked_until)
        )
        row = session.execute(statement).one()
        failures = int(row.failures)
        locked_until: datetime | None = row.locked_until
        limit = self._limit(key.kind)
        locked_now = failures >= limit and (locked_until is None or locked_until <= now)
        if failures >= limit:
            locked_until = now + self.settings.login_lockout
            session.execute(
                sa.update(table).where(table.c.id == row.id).values(locked_until=locked_until)
            )
        return FailureCount(key, failures, locked_now, locked_until)
