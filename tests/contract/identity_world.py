"""A served world for the ``/auth`` and ``/me`` route tests.

A real :class:`~saas_core.core.Core` (real authenticator, tenant binder and audit sink, cheap
argon2) on the application engine, so Row Level Security is in force on PostgreSQL, served by
the three adapters. Requests that change what the next one sees (sign-in, logout, single-use
tokens) go to each adapter with its own user or session (:meth:`Identity.one`,
:meth:`Identity.per_adapter`); the rest go through :meth:`Identity.same`, which asserts the three
answers are byte-identical.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text

import saas_core_django
from saas_core.audit.models import AuditLog, SecurityEvent
from saas_core.core import Core
from saas_core.identity.models import AuthSession
from saas_core.identity.tokens import hash_token
from saas_core.testing import fast_settings
from saas_core.testing.factories import DEFAULT_PASSWORD
from tests.contract.harness import ADAPTERS, REQUEST_ID, Adapters, Result
from tests.support.databases import TestDatabase, read_everything
from tests.support.tenancy import Actor, World, app_engine, make_world

API = "/api/v1"
PASSWORD = DEFAULT_PASSWORD
SESSION_COOKIE = "__Host-session"
CSRF_COOKIE = "__Host-csrftoken"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Person:
    """A user who can sign in with ``password``."""

    id: int
    public_id: uuid.UUID
    email: str
    password: str = PASSWORD


@dataclass(frozen=True)
class AuditRow:
    """What the tests check of an audit record."""

    action: str
    actor_user_id: int | None
    target_type: str | None
    target_id: uuid.UUID | None


@dataclass
class Identity:
    """The world, its core served by the three adapters, and the audit rows seen so far."""

    db: TestDatabase
    world: World
    core: Core
    adapters: Adapters
    _seen_audit: set[uuid.UUID] = field(default_factory=set)

    # --- set-up ----------------------------------------------------------------------------------

    def person(
        self, email: str, *, password: str | None = PASSWORD, verified: bool = True
    ) -> Person:
        """A new user (created by the service, not over HTTP)."""
        with self.world.unit() as session:
            user = self.core.identity.create_user(
                session, email=email, password=password, email_verified=verified
            )
            return Person(user.id, user.public_id, user.email, password or "")

    def people(self, stem: str, **options: Any) -> list[Person]:
        """One new user per adapter, in adapter order."""
        return [self.person(f"{stem}-{name}@example.com", **options) for name in ADAPTERS]

    def token(self, person: Person, *, active_tenant_id: int | None = None) -> str:
        """A new session token of ``person``."""
        with self.world.unit() as session:
            issued = self.core.identity.sessions.create(
                session, person.id, active_tenant_id=active_tenant_id
            )
            return issued.token

    def actor(self, person: Person) -> Actor:
        """``person`` as the tenancy test helpers know users (with a fresh session)."""
        return Actor(person.id, person.email, self.token(person))

    # --- requests --------------------------------------------------------------------------------

    def same(self, method: str, path: str, token: str | None = None, **options: Any) -> Result:
        """One request through the three adapters (identical answers), bearing ``token``."""
        headers = dict(options.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.adapters.same(method, API + path, headers=headers, **options)

    def one(
        self,
        index: int,
        method: str,
        path: str,
        token: str | None = None,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
    ) -> Result:
        """One request through adapter ``index`` only."""
        sent = {"X-Request-ID": REQUEST_ID, **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        body = b""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        if cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        return self.adapters.clients[index].send(method, API + path, "", sent, body)

    def per_adapter(
        self, method: str, path: str, build: Callable[[int], dict[str, Any]]
    ) -> list[Result]:
        """Adapter ``i`` gets the request ``build(i)`` describes (token, json_body, ...)."""
        return [self.one(i, method, path, **build(i)) for i in range(len(ADAPTERS))]

    # --- what happened ---------------------------------------------------------------------------

    def new_audit(self) -> list[AuditRow]:
        """Audit records written since the last call, oldest first."""
        rows = read_everything(
            self.db,
            select(
                AuditLog.id,
                AuditLog.action,
                AuditLog.actor_user_id,
                AuditLog.target_type,
                AuditLog.target_public_id,
            ).order_by(AuditLog.occurred_at, AuditLog.id),
        )
        fresh = [row for row in rows if row.id not in self._seen_audit]
        self._seen_audit.update(row.id for row in fresh)
        return [AuditRow(*row[1:]) for row in fresh]

    def security_events(self, user_id: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        """``(event type, metadata)`` of the security events (of ``user_id``), oldest first."""
        with self.db.engine.connect() as connection, connection.begin():
            if self.db.is_postgres:
                connection.execute(text("SELECT set_config('app.platform_scope', 'on', true)"))
            statement = select(SecurityEvent.event_type, SecurityEvent.metadata_).order_by(
                SecurityEvent.occurred_at, SecurityEvent.id
            )
            if user_id is not None:
                statement = statement.where(SecurityEvent.user_id == user_id)
            return [(row[0], dict(row[1])) for row in connection.execute(statement)]

    def session_row(self, token: str) -> AuthSession:
        """The ``auth_sessions`` row of ``token``."""
        with self.world.unit() as session:
            row = session.scalar(
                select(AuthSession).where(AuthSession.token_hash == hash_token(token))
            )
            assert row is not None
            session.expunge(row)
            return row


def serve_identity(db: TestDatabase, **settings: Any) -> Iterator[Identity]:
    """A core on ``db`` (``settings`` override the cheap-hashing defaults), three adapters."""
    world = make_world(db)
    core = Core(
        fast_settings(database_url=db.url.render_as_string(False), **settings),
        engine=app_engine(db),
        clock=world.clock,
        email_sender=world.outbox,
    )
    try:
        yield Identity(db, world, core, Adapters(core))
    finally:
        saas_core_django.configure(None)


def cookie_parts(raw: str) -> tuple[str, str, dict[str, str]]:
    """``(name, value, attributes)`` of a ``Set-Cookie`` value; attribute names lower-cased."""
    first, *rest = [part.strip() for part in raw.split(";")]
    name, _, value = first.partition("=")
    attributes = {}
    for part in rest:
        key, _, attribute = part.partition("=")
        attributes[key.lower()] = attribute
    return name, value, attributes


def problem(result: Result, status: int, code: str) -> dict[str, Any]:
    """Assert ``result`` is the problem ``code`` with ``status``; return its body."""
    body: dict[str, Any] = result.json()
    assert (result.status, body.get("code")) == (status, code), body
    assert result.headers["content-type"] == "application/problem+json"
    return body


def error_locations(result: Result) -> list[list[str | int]]:
    """The ``loc`` of each error of a 422 validation problem."""
    body = problem(result, 422, "request.validation")
    return [error["loc"] for error in body["errors"]]
