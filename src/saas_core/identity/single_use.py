"""Single-use, expiring tokens sent by email: verify an address, reset a password, change email.

Issuing a token of a purpose revokes the user's older unused ones of that purpose, so only the
latest email works. Consuming marks the token used in the same statement that checks it is still
valid (an ``UPDATE ... WHERE used_at IS NULL ... RETURNING``), so two concurrent uses of the same
token cannot both succeed.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from saas_core.clock import Clock
from saas_core.errors import InvalidToken
from saas_core.identity.models import AuthToken, AuthTokenPurpose
from saas_core.identity.sessions import MAX_TOKEN_LENGTH
from saas_core.identity.tokens import hash_token, new_token


def issue_token(
    session: Session,
    *,
    user_id: int,
    purpose: AuthTokenPurpose,
    ttl: timedelta,
    clock: Clock,
    new_email: str | None = None,
) -> str:
    """Create a token for ``user_id`` and return it raw (to put in the email, never stored)."""
    now = clock.now()
    revoke_tokens(session, user_id=user_id, purpose=purpose, clock=clock)
    token = new_token()
    session.add(
        AuthToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=token.hash,
            new_email=new_email,
            expires_at=now + ttl,
            created_at=now,
        )
    )
    session.flush()
    return token.raw


def consume_token(
    session: Session, raw_token: str, *, purpose: AuthTokenPurpose, clock: Clock
) -> AuthToken:
    """Mark the valid token ``raw_token`` of ``purpose`` used and return it.

    Raises :class:`~saas_core.errors.InvalidToken` when it is unknown, of another purpose,
    already used, revoked or expired (``now >= expires_at``); the message does not say which.
    """
    if not raw_token or len(raw_token) > MAX_TOKEN_LENGTH:
        raise InvalidToken()
    now = clock.now()
    token_id = session.scalar(
        sa.update(AuthToken)
        .where(
            AuthToken.token_hash == hash_token(raw_token),
            AuthToken.purpose == purpose,
            AuthToken.used_at.is_(None),
            AuthToken.revoked_at.is_(None),
            AuthToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(AuthToken.id)
        .execution_options(synchronize_session=False)
    )
    if token_id is None:
        raise InvalidToken()
    token = session.get(AuthToken, token_id, populate_existing=True)
    assert token is not None  # just updated in this transaction
    return token


def revoke_tokens(
    session: Session,
    *,
    user_id: int,
    clock: Clock,
    purpose: AuthTokenPurpose | None = None,
) -> None:
    """Revoke the user's unused tokens (of ``purpose``, or of every purpose)."""
    statement = (
        sa.update(AuthToken)
        .where(
            AuthToken.user_id == user_id,
            AuthToken.used_at.is_(None),
            AuthToken.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if purpose is not None:
        statement = statement.where(AuthToken.purpose == purpose)
    session.execute(statement)
