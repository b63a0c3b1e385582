"""Map Django's signed-in users to saas-core users with ``EmailIdentityBridge``.

Run it as it is (``python docs/snippets/django_identity_bridge.py``): it configures a throw-away
Django, migrates a SQLite database named by ``SAAS_CORE_DATABASE_URL`` (default: a temporary
file), and resolves the same Django user twice. In a Django project only the part between the
``bridge`` markers is needed.
"""

from __future__ import annotations

import os
import tempfile
from types import SimpleNamespace
from typing import Any

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"], DATABASES={}
    )
    django.setup()

# --8<-- [start:bridge]
from django.contrib.auth.models import User as DjangoUser
from sqlalchemy.orm import Session

from saas_core.identity.models import User
from saas_core.identity.ports import EmailIdentityBridge

#: Django vouches for its users: their saas-core accounts are created verified, without a
#: password (they never sign in through saas-core), on first sight.
bridge = EmailIdentityBridge(
    email_of=lambda user: user.email,
    display_name_of=lambda user: user.get_full_name() or None,
)


def saas_user_for(session: Session, request: Any) -> User:
    """The saas-core user behind ``request.user`` (a Django view's request)."""
    if not request.user.is_authenticated:
        raise PermissionError("sign in first")
    return bridge.user_for(session, request.user)


# --8<-- [end:bridge]


def main() -> None:
    """Resolve one Django user twice against a migrated SQLite database."""
    from saas_core import migrations
    from saas_core.db.session import create_engine, session_factory

    url = os.environ.get("SAAS_CORE_DATABASE_URL")
    if url is None:
        url = f"sqlite:///{tempfile.mkdtemp()}/bridge.sqlite3"
    migrations.upgrade(url)
    engine = create_engine(url)
    request = SimpleNamespace(
        user=DjangoUser(
            username="ada", email="Ada@Example.com", first_name="Ada", last_name="Lovelace"
        )
    )
    with session_factory(engine)() as session, session.begin():
        first = saas_user_for(session, request)
    with session_factory(engine)() as session, session.begin():
        again = saas_user_for(session, request)
    assert first.id == again.id
    print(f"django user {request.user.username} -> saas-core user {first.public_id}")
    print(f"email={first.email} name={first.display_name} verified={bool(first.email_verified_at)}")
    engine.dispose()


if __name__ == "__main__":
    main()
