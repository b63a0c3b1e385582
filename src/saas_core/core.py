"""The object an application builds once: settings, database, clock and the pluggable ports.

``Core`` is what adapters mount (``saas_router(core)``, ``SaasCore(app, core=core)``,
``saas_core_django.configure(core)``) and what services receive. It stays small: it owns the
engine and session factory, and holds the ports the request pipeline calls:

* :class:`Authenticator`: turns the request's credentials into a :class:`RequestContext`;
* :class:`TenantBinder`: binds the active tenant to a session (ORM filter, PostgreSQL setting);
* :class:`~saas_core.api.hooks.AuditSink` and :class:`~saas_core.api.hooks.IdempotencyStore`.

The defaults are the real ones: session tokens and API keys authenticate through
:class:`saas_core.tenancy.context.SessionAuthenticator`, the tenant is bound by
:class:`saas_core.tenancy.context.ContextTenantBinder`, and audit entries are written to
``platform_audit_logs`` by :class:`saas_core.audit.service.DatabaseAuditSink`. Each can be
replaced (tests pass fakes). On PostgreSQL, building a ``Core`` runs the start-up role check:
it refuses to serve as a superuser, a BYPASSRLS role or a table owner unless
``Settings.allow_privileged_database_role`` says otherwise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from saas_core.api.hooks import AuditSink, IdempotencyStore
from saas_core.clock import Clock, SystemClock
from saas_core.config import Settings
from saas_core.context import RequestContext
from saas_core.db.session import create_engine, session_factory

if TYPE_CHECKING:
    from saas_core.api.contract import RouteTable
    from saas_core.api.pipeline import Api
    from saas_core.audit.service import AuditService
    from saas_core.iam.service import IamService
    from saas_core.identity.ports import EmailSender
    from saas_core.identity.service import IdentityService
    from saas_core.projects.service import ProjectsService
    from saas_core.tenancy.service import TenancyService


class Transport(enum.StrEnum):
    """How the credentials came: ``Authorization: Bearer``, the session cookie, or not at all."""

    NONE = "none"
    BEARER = "bearer"
    COOKIE = "cookie"


@dataclass(frozen=True, slots=True)
class Credentials:
    """The credentials of one request, plus the facts a context records.

    ``token`` is the bearer token (a session token or an API key: the authenticator tells them
    apart) or the session cookie's value. It is never logged.
    """

    transport: Transport
    token: str | None = field(default=None, repr=False)
    request_id: str = ""
    client_ip: str | None = None
    user_agent: str | None = None

    def anonymous(self) -> RequestContext:
        """The context of an unauthenticated caller making this request."""
        return RequestContext(
            request_id=self.request_id, client_ip=self.client_ip, user_agent=self.user_agent
        )


class Authenticator(Protocol):
    """Builds the request's context from its credentials (identity services implement this).

    Return an anonymous context when there are no credentials; raise
    :class:`~saas_core.errors.Unauthenticated` (or a leaf) when credentials are present but bad.
    """

    def authenticate(self, session: Session, credentials: Credentials) -> RequestContext:
        """Resolve ``credentials`` into a context, reading what it needs through ``session``."""
        ...


class TenantBinder(Protocol):
    """Binds the context's tenant to the session's current transaction.

    Called once per request transaction, before the handler: installs the automatic ORM tenant
    filter and, on PostgreSQL, ``set_config('app.tenant_id', ..., true)``.
    """

    def bind(self, session: Session, ctx: RequestContext) -> None:
        """Scope ``session`` to ``ctx.tenant`` (or to no tenant)."""
        ...


class AnonymousAuthenticator:
    """Treats every request as anonymous (until the identity services plug in)."""

    def authenticate(self, session: Session, credentials: Credentials) -> RequestContext:
        """Return an anonymous context."""
        return credentials.anonymous()


class NoTenantBinder:
    """Binds nothing (until the tenancy services plug in)."""

    def bind(self, session: Session, ctx: RequestContext) -> None:
        """Do nothing."""


class Core:
    """saas-core's application object: build one per process and hand it to an adapter."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        engine: Engine | None = None,
        clock: Clock | None = None,
        email_sender: EmailSender | None = None,
        authenticator: Authenticator | None = None,
        tenant_binder: TenantBinder | None = None,
        audit_sink: AuditSink | None = None,
        idempotency_store: IdempotencyStore | None = None,
        routes: RouteTable | None = None,
        check_database_role: bool = True,
    ) -> None:
        self.settings = settings or Settings()
        self._owns_engine = engine is None
        self.engine = engine or create_engine(self.settings.database_url)
        self.clock: Clock = clock or SystemClock()
        self.sessionmaker: sessionmaker[Session] = session_factory(self.engine, self.clock)
        self._email_sender = email_sender
        if authenticator is None or tenant_binder is None:
            from saas_core.tenancy.context import ContextTenantBinder, SessionAuthenticator

            authenticator = authenticator or SessionAuthenticator(self.settings, self.clock)
            tenant_binder = tenant_binder or ContextTenantBinder()
        if audit_sink is None:
            from saas_core.audit.service import DatabaseAuditSink

            audit_sink = DatabaseAuditSink()
        self.authenticator: Authenticator = authenticator
        self.tenant_binder: TenantBinder = tenant_binder
        self.audit_sink: AuditSink = audit_sink
        if check_database_role:
            from saas_core.db.tenant import check_database_role as check_role

            try:
                check_role(self.engine, self.settings)
            except Exception:
                # A refused core is never disposed by its caller: close the pool it opened.
                self.dispose()
                raise
        if idempotency_store is None:
            from saas_core.api.idempotency import SqlIdempotencyStore

            idempotency_store = SqlIdempotencyStore(
                self.sessionmaker,
                self.clock,
                ttl=self.settings.idempotency_ttl,
                lease=self.settings.idempotency_lease,
            )
        self.idempotency_store: IdempotencyStore = idempotency_store
        self._routes = routes
        self._api: Api | None = None

    @property
    def email_sender(self) -> EmailSender:
        """The email port (an in-memory outbox unless given)."""
        if self._email_sender is None:
            from saas_core.identity.ports import InMemoryOutbox

            self._email_sender = InMemoryOutbox()
        return self._email_sender

    @cached_property
    def identity(self) -> IdentityService:
        """Users, passwords, sessions and API keys."""
        from saas_core.identity.service import IdentityService

        return IdentityService(self.settings, self.clock, self.email_sender)

    @cached_property
    def tenancy(self) -> TenancyService:
        """Tenants, members and invitations."""
        from saas_core.tenancy.service import TenancyService

        return TenancyService(self.settings, self.clock, email_sender=self.email_sender)

    @cached_property
    def iam(self) -> IamService:
        """Roles, permissions and assignments."""
        from saas_core.iam.service import IamService

        return IamService(self.settings, self.clock)

    @cached_property
    def projects(self) -> ProjectsService:
        """The example tenant-scoped domain."""
        from saas_core.projects.service import ProjectsService

        return ProjectsService(self.clock)

    @cached_property
    def audit(self) -> AuditService:
        """The audit log reader and writer."""
        from saas_core.audit.service import AuditService

        return AuditService(self.clock)

    @property
    def routes(self) -> RouteTable:
        """The route table this core serves (every domain's routes unless given)."""
        if self._routes is None:
            from saas_core.api.routes import build_routes

            self._routes = build_routes()
        return self._routes

    @property
    def api(self) -> Api:
        """The compiled routes: validators and access checks prepared once, used per request."""
        if self._api is None:
            from saas_core.api.pipeline import Api

            self._api = Api(self, self.routes)
        return self._api

    @property
    def session_cookie_name(self) -> str:
        """The session cookie's name; ``__Host-`` prefixed when cookies are Secure."""
        return _host_prefixed(self.settings.cookie_name, self.settings.cookie_secure)

    @property
    def csrf_cookie_name(self) -> str:
        """The CSRF cookie's name; ``__Host-`` prefixed when cookies are Secure."""
        return _host_prefixed(self.settings.csrf_cookie_name, self.settings.cookie_secure)

    def dispose(self) -> None:
        """Close pooled connections of an engine this core created."""
        if self._owns_engine:
            self.engine.dispose()


def _host_prefixed(name: str, secure: bool) -> str:
    # The __Host- prefix pins a cookie to this exact host over HTTPS with Path=/ and no Domain,
    # so a sibling subdomain cannot plant a session or CSRF cookie; browsers refuse it without
    # Secure, hence only then.
    if secure and not name.startswith("__Host-"):
        return f"__Host-{name}"
    return name
