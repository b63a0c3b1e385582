"""The lean session lookup of every request: one statement, plain values, no ORM objects.

:func:`session_lookup` reads the few columns of a session and its user that authenticating
needs; :meth:`saas_core.identity.sessions.SessionService.accept` checks them. The statements run
on the DBAPI cursor (:class:`~saas_core.db.direct.DirectStatement`). Neither ``auth_sessions``
nor ``users`` has a tenant, so neither is under Row Level Security.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple, cast

import sqlalchemy as sa

from saas_core.db.direct import DirectStatement
from saas_core.db.types import UTCDateTime
from saas_core.identity.models import AuthSession, User, UserStatus


class ValidSession(NamedTuple):
    """A session that authenticates, and what a request needs of it and its user."""

    id: int
    user_id: int
    user_public_id: uuid.UUID
    user_email: str
    active_tenant_id: int | None
    impersonator_user_id: int | None


_sessions = cast(sa.Table, AuthSession.__table__)
_users = cast(sa.Table, User.__table__)

#: What ``SessionService.accept`` reads, in this order: the session, then its user.
LOOKUP_COLUMNS = (
    _sessions.c.id,
    _sessions.c.user_id,
    _sessions.c.active_tenant_id,
    _sessions.c.impersonator_user_id,
    _sessions.c.revoked_at,
    _sessions.c.expires_at,
    _sessions.c.last_seen_at,
    _users.c.public_id,
    _users.c.email,
    _users.c.status,
    _users.c.deleted_at,
)
LOOKUP_WIDTH = len(LOOKUP_COLUMNS)


def session_lookup(*extra: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """The session whose token hash is ``:token_hash``, joined to its user.

    The columns are those ``SessionService.accept`` checks, then ``extra``. Neither table has
    a tenant, so neither is under Row Level Security.
    """
    return (
        sa.select(*LOOKUP_COLUMNS, *extra)
        .select_from(_sessions.join(_users, _users.c.id == _sessions.c.user_id))
        .where(_sessions.c.token_hash == sa.bindparam("token_hash"))
    )


def session_valid() -> sa.ColumnElement[bool]:
    """In SQL, what ``SessionService.accept`` requires of a :func:`session_lookup` row.

    Not revoked, ``:now`` before ``expires_at``, last seen at or after ``:idle_since`` (``now``
    minus the idle timeout), user neither deleted nor disabled: with the same ``now``, true
    exactly when ``accept`` lets the row through.
    """
    return sa.and_(
        _sessions.c.revoked_at.is_(None),
        _sessions.c.expires_at > sa.bindparam("now", type_=UTCDateTime()),
        _sessions.c.last_seen_at >= sa.bindparam("idle_since", type_=UTCDateTime()),
        _users.c.deleted_at.is_(None),
        _users.c.status == UserStatus.ACTIVE,
    )


#: :func:`session_lookup` as a statement of its own (no extra columns). The user's status stays
#: the driver's string (UserStatus is a StrEnum: it compares equal).
SESSION_LOOKUP = DirectStatement(session_lookup(), untyped=("status",))
#: Records activity: ``last_seen_at = :now`` for the session ``:session_id``.
SESSION_TOUCH = DirectStatement(
    sa.update(_sessions)
    .where(_sessions.c.id == sa.bindparam("session_id"))
    .values(last_seen_at=sa.bindparam("now", type_=UTCDateTime()))
)
