"""A small world for tenancy and isolation tests: users, tenants, sessions and contexts.

On PostgreSQL everything runs as the application role (``db.app_engine``: owns nothing,
NOBYPASSRLS), so Row Level Security is really in force; only the catalog sync runs as the schema
owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from saas_core.clock import FakeClock
from saas_core.config import Settings
from saas_core.context import RequestContext
from saas_core.db.session import session_factory
from saas_core.iam.sync import sync_catalog
from saas_core.identity.models import User
from saas_core.identity.ports import InMemoryOutbox
from saas_core.identity.sessions import SessionService
from saas_core.projects.service import ProjectsService
from saas_core.tenancy.context import build_context
from saas_core.tenancy.schemas import TenantCreate
from saas_core.tenancy.service import TenancyService
from tests.support.databases import TestDatabase


def app_engine(db: TestDatabase) -> Engine:
    """The engine requests use: the application role on PostgreSQL, the file on SQLite."""
    return db.app_engine if db.is_postgres else db.engine


def sync_roles(db: TestDatabase) -> None:
    """Write the permission catalog and the built-in roles (as the schema owner)."""
    with Session(db.engine) as session, session.begin():
        sync_catalog(session)


@dataclass
class Actor:
    """A user with a signed-in session."""

    user_id: int
    email: str
    token: str


@dataclass
class World:
    """Services, a fake clock and a session factory on one test database."""

    db: TestDatabase
    engine: Engine
    sessions: sessionmaker[Session]
    clock: FakeClock = field(default_factory=FakeClock)
    settings: Settings = field(default_factory=Settings)
    outbox: InMemoryOutbox = field(default_factory=InMemoryOutbox)

    @property
    def tenancy(self) -> TenancyService:
        """A tenancy service on this world's clock and outbox."""
        return TenancyService(self.settings, self.clock, email_sender=self.outbox)

    @property
    def projects(self) -> ProjectsService:
        """A projects service on this world's clock."""
        return ProjectsService(self.clock)

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """One committed unit of work (rolled back on error)."""
        with self.sessions() as session, session.begin():
            yield session

    def user(self, email: str, *, active_tenant_id: int | None = None) -> Actor:
        """A new user with a session."""
        with self.unit() as session:
            user = User(email=email, created_at=self.clock.now(), updated_at=self.clock.now())
            session.add(user)
            session.flush()
            issued = SessionService(self.settings, self.clock).create(
                session, user.id, active_tenant_id=active_tenant_id
            )
            return Actor(user.id, email, issued.token)

    def context(self, session: Session, actor: Actor) -> RequestContext:
        """Build ``actor``'s request context in ``session``."""
        return build_context(
            session,
            raw_token=actor.token,
            client_ip="203.0.113.7",
            user_agent="tests",
            request_id="req-test",
            settings=self.settings,
            clock=self.clock,
        )

    def ctx(self, actor: Actor) -> RequestContext:
        """``actor``'s context, built in a transaction of its own."""
        with self.unit() as session:
            return self.context(session, actor)

    def tenant(self, owner: Actor, slug: str, *, activate: bool = True) -> int:
        """A new tenant owned by ``owner`` (made the owner's active tenant); its internal id."""
        from sqlalchemy import select, update

        from saas_core.identity.models import AuthSession
        from saas_core.identity.tokens import hash_token
        from saas_core.tenancy.models import Tenant

        with self.unit() as session:
            ctx = self.context(session, owner)
            self.tenancy.create_tenant(session, ctx, TenantCreate(name=slug.title(), slug=slug))
            tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
            assert tenant_id is not None
            if activate:
                session.execute(
                    update(AuthSession)
                    .where(AuthSession.token_hash == hash_token(owner.token))
                    .values(active_tenant_id=tenant_id)
                )
            return tenant_id


def join(world: World, owner: Actor, tenant_id: int, email: str, role: str = "member") -> Actor:
    """A new user ``email`` invited into ``owner``'s tenant, accepting, and switching to it."""
    from sqlalchemy import select

    from saas_core.tenancy.context import switch_active_tenant
    from saas_core.tenancy.models import Tenant
    from saas_core.tenancy.schemas import InvitationCreate

    member = world.user(email)
    with world.unit() as session:
        public_id = session.scalar(select(Tenant.public_id).where(Tenant.id == tenant_id))
        assert public_id is not None
        ctx = world.context(session, owner)
        data = InvitationCreate(email=email, role=role)
        world.tenancy.invite_member(session, ctx, public_id, data)
    token = world.outbox.last(to=email).token
    assert token is not None
    with world.unit() as session:
        world.tenancy.accept_invitation(session, world.context(session, member), token)
    with world.unit() as session:
        switch_active_tenant(session, world.context(session, member), public_id)
    return member


def make_world(db: TestDatabase) -> World:
    """A world on ``db`` with the catalog synced."""
    sync_roles(db)
    engine = app_engine(db)
    return World(db=db, engine=engine, sessions=session_factory(engine))
