"""IdentityBridge: mapping a host app's users to saas-core users (and the Django docs snippet)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from saas_core.clock import FakeClock
from saas_core.db.session import session_factory
from saas_core.errors import InvalidInput
from saas_core.identity.models import User
from saas_core.identity.ports import EmailIdentityBridge, IdentityBridge
from saas_core.testing import identity_service, make_user
from tests.support.databases import TestDatabase


@dataclass
class HostUser:
    """What a host framework calls a user."""

    external_id: str
    email: str
    name: str = ""


class ExternalIdBridge:
    """A second bridge, keyed by the host's own id (kept in memory, as a test fake)."""

    def __init__(self) -> None:
        self.links: dict[str, int] = {}

    def user_for(self, session: Session, host_user: Any) -> User:
        linked = self.links.get(host_user.external_id)
        if linked is not None:
            found = session.get(User, linked)
            assert found is not None
            return found
        user = User(email=host_user.email.lower())
        session.add(user)
        session.flush()
        self.links[host_user.external_id] = user.id
        return user


@pytest.fixture
def session(db: TestDatabase) -> Iterator[Session]:
    with session_factory(db.engine)() as s:
        yield s


@pytest.mark.parametrize("make_bridge", [EmailIdentityBridge, ExternalIdBridge])
def test_a_bridge_maps_one_host_user_to_one_saas_user(session: Session, make_bridge: Any) -> None:
    bridge: IdentityBridge = make_bridge()
    host = HostUser("h-1", "Ada@Example.com", "Ada")
    first = bridge.user_for(session, host)
    session.commit()
    assert bridge.user_for(session, host).id == first.id
    assert first.email == "ada@example.com"
    assert first.password_hash is None
    other = bridge.user_for(session, HostUser("h-2", "bob@example.com"))
    assert other.id != first.id


def test_email_bridge_details(session: Session) -> None:
    clock = FakeClock()
    identity = identity_service(clock=clock)
    existing = make_user(session, identity, email="ada@example.com")
    session.commit()
    bridge = EmailIdentityBridge(display_name_of=lambda u: u.name, clock=clock)
    # An account that signed up through saas-core is the same person.
    assert bridge.user_for(session, HostUser("x", " ADA@example.com ")).id == existing.id
    created = bridge.user_for(session, HostUser("y", "bob@example.com", " Bob "))
    assert created.display_name == "Bob"
    assert created.email_verified_at == clock.now()
    assert bridge.user_for(session, "bob@example.com").id == created.id  # a bare address works
    untrusted = EmailIdentityBridge(trust_host_verification=False)
    assert untrusted.user_for(session, "carol@example.com").email_verified_at is None
    with pytest.raises(InvalidInput):
        bridge.user_for(session, HostUser("z", ""))
    with pytest.raises(InvalidInput):
        EmailIdentityBridge().user_for(session, object())
    # A deleted account is not resurrected: the next sight creates a new one.
    created.deleted_at = clock.now()
    session.flush()
    assert EmailIdentityBridge().user_for(session, "bob@example.com").id != created.id


def test_email_bridge_loses_a_creation_race_gracefully(
    session: Session, db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = User(email="ada@example.com")
    with session_factory(db.engine)() as other:
        other.add(winner)
        other.commit()
    bridge = EmailIdentityBridge()
    real_find = EmailIdentityBridge._find
    calls: list[str] = []

    def stale_first_read(s: Session, email: str) -> User | None:
        calls.append(email)
        return None if len(calls) == 1 else real_find(s, email)

    monkeypatch.setattr(EmailIdentityBridge, "_find", staticmethod(stale_first_read))
    user = bridge.user_for(session, "ada@example.com")
    assert user.id == winner.id
    assert len(calls) == 2
    session.commit()
