"""A served world for the tenancy and projects route tests.

Two tenants: ``acme`` (owner ada, plus a viewer, a member and a billing manager, all active in
it) and ``globex`` (owner eve), and a real :class:`~saas_core.core.Core` (real authenticator,
tenant binder and audit sink) on the application engine, so Row Level Security is in force on
PostgreSQL, served by the three adapters. Callers send their session tokens as bearer tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

import saas_core_django
from saas_core.audit.models import AuditLog
from saas_core.config import Settings
from saas_core.core import Core
from saas_core.iam.models import Role, RoleAssignment
from saas_core.identity.models import User
from saas_core.tenancy.models import Tenant
from tests.contract.harness import Adapters, Result
from tests.support.databases import TestDatabase, read_everything
from tests.support.tenancy import Actor, World, app_engine, join, make_world

API = "/api/v1"


@dataclass(frozen=True)
class AuditRow:
    """What the tests check of an audit record."""

    action: str
    target_type: str | None
    target_id: uuid.UUID | None
    tenant_id: int | None
    actor_user_id: int | None


@dataclass
class Served:
    """The world, its core served by the three adapters, and who is in it."""

    db: TestDatabase
    world: World
    adapters: Adapters
    actors: dict[str, Actor]
    acme: uuid.UUID
    globex: uuid.UUID
    acme_id: int
    _seen_audit: set[uuid.UUID] = field(default_factory=set)

    def auth(self, name: str) -> dict[str, str]:
        """Bearer headers of ``name``."""
        return {"Authorization": f"Bearer {self.actors[name].token}"}

    def same(self, method: str, path: str, as_: str | None = None, **options: Any) -> Result:
        """One request through the three adapters (identical answers), as ``as_`` if given."""
        headers = {**(self.auth(as_) if as_ else {}), **options.pop("headers", {})}
        return self.adapters.same(method, API + path, headers=headers, **options)

    def statuses(self, method: str, path: str, as_: str, **options: Any) -> list[int]:
        """The status from each adapter, in order (for requests that change what follows)."""
        headers = {**self.auth(as_), **options.pop("headers", {})}
        results = self.adapters.each(method, API + path, headers=headers, **options)
        return [r.status for r in results]

    def tick(self) -> None:
        """Move the clock on a second.

        ``updated_at`` falls back to the wall clock when a change leaves it equal to its old
        value (the column's ``onupdate``), so a change at the instant of the last one would
        stamp real time: tests tick before changing what they created.
        """
        self.world.clock.advance(seconds=1)

    def user_id(self, name: str) -> uuid.UUID:
        """The public id of ``name``'s user."""
        with self.world.unit() as session:
            public_id = session.scalar(
                select(User.public_id).where(User.id == self.actors[name].user_id)
            )
        assert public_id is not None
        return public_id

    def add(self, name: str, email: str | None = None) -> Actor:
        """A new user without a tenant."""
        actor = self.world.user(email or f"{name}@example.com")
        self.actors[name] = actor
        return actor

    def grant_platform_role(self, name: str, role_key: str) -> None:
        """Give ``name`` a platform role (written as the schema owner, in the platform scope)."""
        with Session(self.db.engine) as session, session.begin():
            if self.db.is_postgres:
                session.execute(text("SELECT set_config('app.platform_scope', 'on', true)"))
            role_id = session.scalar(
                select(Role.id).where(Role.key == role_key, Role.tenant_id.is_(None))
            )
            assert role_id is not None
            session.add(
                RoleAssignment(
                    user_id=self.actors[name].user_id,
                    role_id=role_id,
                    created_at=self.world.clock.now(),
                )
            )

    def new_audit(self) -> list[AuditRow]:
        """Audit records written since the last call, oldest first."""
        rows = read_everything(
            self.db,
            select(
                AuditLog.id,
                AuditLog.action,
                AuditLog.target_type,
                AuditLog.target_public_id,
                AuditLog.tenant_id,
                AuditLog.actor_user_id,
            ).order_by(AuditLog.occurred_at, AuditLog.id),
        )
        fresh = [row for row in rows if row.id not in self._seen_audit]
        self._seen_audit.update(row.id for row in fresh)
        return [AuditRow(*row[1:]) for row in fresh]


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


def serve_world(db: TestDatabase) -> Iterator[Served]:
    """The two-tenant world served by FastAPI, Flask and Django (use it in a fixture)."""
    world = make_world(db)
    ada = world.user("ada@example.com")
    eve = world.user("eve@example.com")
    acme_id = world.tenant(ada, "acme")
    globex_id = world.tenant(eve, "globex")
    actors = {"ada": ada, "eve": eve}
    for name, role in (("vic", "viewer"), ("mo", "member"), ("bill", "billing")):
        actors[name] = join(world, ada, acme_id, f"{name}@example.com", role)
    with world.unit() as session:
        ids = {
            row.id: row.public_id for row in session.execute(select(Tenant.id, Tenant.public_id))
        }
    settings = Settings(database_url=db.url.render_as_string(False))
    core = Core(settings, engine=app_engine(db), clock=world.clock, email_sender=world.outbox)
    world.outbox.clear()
    try:
        yield Served(db, world, Adapters(core), actors, ids[acme_id], ids[globex_id], acme_id)
    finally:
        saas_core_django.configure(None)
