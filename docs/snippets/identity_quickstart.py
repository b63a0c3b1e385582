"""Sign up, verify, sign in and authenticate with ``IdentityService``, on SQLite.

Run it as it is: ``python docs/snippets/identity_quickstart.py`` (``SAAS_CORE_DATABASE_URL``
names the database; default: a temporary SQLite file).
"""

from __future__ import annotations

import os
import tempfile

from saas_core import migrations
from saas_core.clock import SystemClock
from saas_core.config import Settings
from saas_core.db.session import create_engine, session_factory
from saas_core.identity.ports import InMemoryOutbox
from saas_core.identity.service import COMMIT_ON_ERRORS, IdentityService

url = os.environ.get("SAAS_CORE_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/demo.sqlite3"
migrations.upgrade(url)
engine = create_engine(url)
Session = session_factory(engine)

# --8<-- [start:quickstart]
outbox = InMemoryOutbox()  # swap in your own EmailSender in production
identity = IdentityService(Settings(), SystemClock(), outbox)
password = "correct horse battery"  # noqa: S105 - a demo value

with Session() as session:
    identity.register(session, email="Ada@Example.com", password=password)
    session.commit()

    # The verification email carries a single-use token.
    token = outbox.last(kind="verify_email").token
    assert token is not None
    identity.verify_email(session, token)
    session.commit()

    try:
        issued = identity.login(
            session,
            email="ada@example.com",
            password=password,
            ip="203.0.113.7",
            user_agent="docs",
        )
    except COMMIT_ON_ERRORS:
        session.commit()  # keep the failure count and its security events
        raise
    session.commit()
    # issued.token goes to the client (cookie or bearer) and is never stored.

    # On every request: the raw token in, the session row and its user out.
    auth = identity.authenticate(session, issued.token)
    session.commit()
    print(auth.user.email, auth.auth_session.expires_at)
# --8<-- [end:quickstart]

engine.dispose()
