"""Demo data: one signed-up user, their tenant "Acme" and a few projects.

:func:`seed_demo` writes them through the real services (:class:`IdentityService`,
:class:`TenancyService`, :class:`ProjectsService`), so the rows are exactly what sign-up, tenant
creation and ``POST /projects`` would have made. It is idempotent: a second run finds the user,
the tenant and the projects and adds nothing, except that the demo user gets a new password (the
one it returns) unless the same password is asked for again. Seeding never stores a password in
clear, so a fresh one is the only way to print a login that is sure to work.

``saas-core seed`` and ``saas-core demo`` (see :mod:`saas_core.demo_cli`) call it after migrating.
"""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from saas_core.clock import Clock, SystemClock
from saas_core.config import Settings
from saas_core.context import AuthMethod, RequestContext, TenantRef, UserRef
from saas_core.db.session import create_engine, session_factory
from saas_core.db.tenant import bind_context
from saas_core.errors import ConfigurationError
from saas_core.identity.models import User, UserStatus
from saas_core.identity.passwords import check_password_policy
from saas_core.identity.ports import InMemoryOutbox
from saas_core.identity.service import IdentityService
from saas_core.projects.schemas import ProjectCreate
from saas_core.projects.service import ProjectsService
from saas_core.tenancy.models import Tenant, TenantMember
from saas_core.tenancy.schemas import TenantCreate
from saas_core.tenancy.service import TenancyService

DEMO_EMAIL = "demo@example.com"
DEMO_NAME = "Demo User"
DEMO_TENANT_NAME = "Acme"
DEMO_TENANT_SLUG = "acme"
#: The example projects of the demo tenant: (name, description).
DEMO_PROJECTS: tuple[tuple[str, str], ...] = (
    ("Website relaunch", "New marketing site and pricing page."),
    ("Mobile app", "iOS and Android clients for the customer portal."),
    ("Data warehouse", "Nightly exports of product usage for the analytics team."),
)


_PASSWORD_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    """What the demo prints: how to sign in, and what the user will find there."""

    email: str
    password: str
    tenant_name: str
    tenant_slug: str
    tenant_id: uuid.UUID
    projects: tuple[str, ...]


def new_demo_password() -> str:
    """A random password for the demo user: 16 letters and digits (~95 bits), easy to copy."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(16))


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file if it is missing (no-op for other URLs)."""
    from pathlib import Path

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)


def seed_demo(
    database_url: str,
    *,
    password: str | None = None,
    settings: Settings | None = None,
    clock: Clock | None = None,
    engine: Engine | None = None,
) -> DemoCredentials:
    """Create the demo user, tenant and projects at ``database_url`` if they are missing.

    The schema must be migrated (``saas_core.migrations.upgrade``). ``password`` defaults to a
    new random one; the demo user's password is set to it whether the user is new or not, and
    its sign-in throttle is cleared, so the returned credentials work at once. On PostgreSQL
    the schema owner's URL (as for migrations) and the application role's both work: the writes
    run bound to the demo tenant, so Row Level Security admits them. Raises
    :class:`~saas_core.errors.ConfigurationError` when the slug ``acme`` already belongs to a
    tenant the demo user is not a member of.
    """
    settings = settings or Settings(database_url=database_url)
    clock = clock or SystemClock()
    password = password or new_demo_password()
    owned_engine = engine is None
    engine = engine or create_engine(database_url)
    try:
        sessions = session_factory(engine)
        identity = IdentityService(settings, clock, InMemoryOutbox())
        with sessions() as session, session.begin():
            user = _demo_user(session, identity, password)
            user_ref = UserRef(id=user.id, public_id=user.public_id, email=user.email)
        with sessions() as session, session.begin():
            tenant = _demo_tenant(session, settings, clock, user_ref)
        with sessions() as session, session.begin():
            names = _demo_projects(session, clock, user_ref, tenant)
    finally:
        if owned_engine:
            engine.dispose()
    return DemoCredentials(
        email=user_ref.email,
        password=password,
        tenant_name=DEMO_TENANT_NAME,
        tenant_slug=tenant.slug,
        tenant_id=tenant.public_id,
        projects=names,
    )


def _demo_user(session: Session, identity: IdentityService, password: str) -> User:
    user = identity.find_live_user(session, DEMO_EMAIL)
    if user is None:
        return identity.create_user(
            session,
            email=DEMO_EMAIL,
            password=password,
            display_name=DEMO_NAME,
            email_verified=True,
        )
    check_password_policy(
        password, email=user.email, min_length=identity.settings.password_min_length
    )
    now = identity.clock.now()
    if user.password_hash is None or not identity.passwords.verify(user.password_hash, password):
        user.password_hash = identity.passwords.hash(password)
        user.password_changed_at = now
    user.status = UserStatus.ACTIVE
    user.email_verified_at = user.email_verified_at or now
    user.updated_at = now
    # Failed attempts against the demo account must not lock out the login we are printing.
    identity.throttle.reset(session, identity.throttle.keys(user.email, None)[0])
    session.flush()
    return user


def _user_context(user: UserRef, tenant: TenantRef | None = None) -> RequestContext:
    # The demo user acting for themselves, as the request pipeline would build it (the seed
    # writes through the services, which check and bind the context like any request).
    return RequestContext(
        request_id=f"demo-seed-{uuid.uuid4().hex[:12]}",
        auth_method=AuthMethod.SESSION,
        user=user,
        tenant=tenant,
        role="owner" if tenant is not None else None,
    )


def _demo_tenant(session: Session, settings: Settings, clock: Clock, user: UserRef) -> TenantRef:
    ctx = _user_context(user)
    bind_context(session, ctx)
    tenant = session.scalar(select(Tenant).where(Tenant.slug == DEMO_TENANT_SLUG))
    if tenant is None:
        TenancyService(settings, clock).create_tenant(
            session, ctx, TenantCreate(name=DEMO_TENANT_NAME, slug=DEMO_TENANT_SLUG)
        )
        tenant = session.scalar(select(Tenant).where(Tenant.slug == DEMO_TENANT_SLUG))
        if tenant is None:  # pragma: no cover - create_tenant just wrote it
            raise ConfigurationError("the demo tenant was not created")
    # The demo user's own membership is readable before a tenant is bound (self_read).
    member = session.scalar(
        select(TenantMember.id).where(
            TenantMember.tenant_id == tenant.id, TenantMember.user_id == user.id
        )
    )
    if member is None:
        raise ConfigurationError(
            f"a tenant with slug {DEMO_TENANT_SLUG!r} exists and {DEMO_EMAIL} is not a member;"
            " seed the demo into an empty database"
        )
    return TenantRef(
        id=tenant.id, public_id=tenant.public_id, slug=tenant.slug, status=str(tenant.status)
    )


def _demo_projects(
    session: Session, clock: Clock, user: UserRef, tenant: TenantRef
) -> tuple[str, ...]:
    ctx = _user_context(user, tenant)
    projects = ProjectsService(clock)
    existing = {project.name for project in projects.list_projects(session, ctx).items}
    for name, description in DEMO_PROJECTS:
        if name not in existing:
            projects.create_project(session, ctx, ProjectCreate(name=name, description=description))
    return tuple(name for name, _ in DEMO_PROJECTS)
