"""Shared pieces of the PostgreSQL benchmarks (not a benchmark itself).

* :class:`Scratch` creates a database and a non-owner ``NOBYPASSRLS`` login role on the server
  named by ``SAAS_CORE_TEST_DATABASE_URL`` (default
  ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) and drops both in
  :meth:`Scratch.drop`; :func:`seed_caller` migrates it, grants the role, and writes a user, a
  tenant the user owns, some projects and a session through saas-core's own services.
* :func:`capturing` records the SQL an engine sends.
* :func:`wsgi_side` and :func:`asgi_side` drive a WSGI or ASGI app in-process with one prepared
  ``GET`` request: no server, no socket, no test client.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

import saas_core.models  # noqa: F401 - registers every table
from saas_core import migrations
from saas_core.clock import Clock
from saas_core.config import Settings
from saas_core.context import AuthMethod, RequestContext, TenantRef, UserRef
from saas_core.db.postgres import grant_app_role
from saas_core.db.session import create_engine, session_factory
from saas_core.db.tenant import bind_context
from saas_core.iam.sync import sync_catalog
from saas_core.identity.ports import InMemoryOutbox
from saas_core.identity.service import IdentityService
from saas_core.projects.schemas import ProjectCreate
from saas_core.projects.service import ProjectsService
from saas_core.tenancy.models import Tenant
from saas_core.tenancy.schemas import TenantCreate
from saas_core.tenancy.service import TenancyService


def admin_url() -> URL:
    """The server to create the scratch database on (psycopg 3 driver)."""
    url = make_url(
        os.environ.get(
            "SAAS_CORE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        )
    )
    return url.set(drivername="postgresql+psycopg")


class Scratch:
    """A scratch database and application role, dropped by :meth:`drop`."""

    def __init__(self, prefix: str = "saas_core_bench") -> None:
        suffix = uuid.uuid4().hex[:10]
        self.name, self.role = f"{prefix}_{suffix}", f"{prefix}_app_{suffix}"
        self.admin = sa.create_engine(admin_url(), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
            try:
                conn.exec_driver_sql(f'CREATE ROLE "{self.role}" LOGIN NOSUPERUSER NOBYPASSRLS')
            except Exception:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
                raise
        self.owner_url = admin_url().set(database=self.name)
        self.app_url = self.owner_url.set(username=self.role, password=None)

    def drop(self) -> None:
        """Drop the database (closing its connections) and the role."""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{self.role}"')
        self.admin.dispose()


@dataclass(frozen=True)
class Caller:
    """The seeded caller: a bearer token whose session's active tenant holds the projects."""

    token: str
    user: UserRef
    tenant: TenantRef
    projects: int


def seed_caller(scratch: Scratch, settings: Settings, clock: Clock, *, projects: int) -> Caller:
    """Migrate and grant, then seed through the services (as the schema owner)."""
    migrations.upgrade(scratch.owner_url.render_as_string(hide_password=False))
    owner = create_engine(scratch.owner_url)
    try:
        with owner.begin() as conn:
            grant_app_role(conn, scratch.role)
        sessions = session_factory(owner)
        with sessions() as session, session.begin():
            sync_catalog(session)
        identity = IdentityService(settings, clock, InMemoryOutbox())
        with sessions() as session, session.begin():
            row = identity.create_user(
                session, email="bench@example.com", password=None, email_verified=True
            )
            user = UserRef(id=row.id, public_id=row.public_id, email=row.email)
        ctx = RequestContext(auth_method=AuthMethod.SESSION, user=user)
        with sessions() as session, session.begin():
            bind_context(session, ctx)
            TenancyService(settings, clock).create_tenant(
                session, ctx, TenantCreate(name="Bench", slug="bench")
            )
            found = session.scalar(sa.select(Tenant).where(Tenant.slug == "bench"))
            assert found is not None
            tenant = TenantRef(
                id=found.id, public_id=found.public_id, slug=found.slug, status=str(found.status)
            )
        ctx = RequestContext(auth_method=AuthMethod.SESSION, user=user, tenant=tenant, role="owner")
        with sessions() as session, session.begin():
            service = ProjectsService(clock)
            for n in range(projects):
                service.create_project(
                    session,
                    ctx,
                    ProjectCreate(
                        name=f"Project {n:02d}",
                        description=f"Benchmark project number {n}" if n % 2 else None,
                        metadata={"n": n, "team": "bench"} if n % 3 == 0 else {},
                    ),
                )
        with sessions() as session, session.begin():
            bind_context(session, ctx)
            issued = identity.sessions.create(
                session, user.id, active_tenant_id=tenant.id, user_agent="bench"
            )
        return Caller(token=issued.token, user=user, tenant=tenant, projects=projects)
    finally:
        owner.dispose()


# --- what an engine sends -----------------------------------------------------------------------

Statement = tuple[str, dict[str, Any]]


@contextmanager
def capturing(engine: sa.Engine) -> Iterator[list[Statement]]:
    """Record the (SQL, parameters) sent on ``engine`` inside the block, in order."""
    seen: list[Statement] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, dict(parameters or {})))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


# --- driving an app in-process ------------------------------------------------------------------

Answer = tuple[int, list[tuple[str, str]], bytes]  # status, headers, body


@dataclass(frozen=True)
class Get:
    """The one request a benchmark sends: ``GET path`` with these headers, from this client."""

    path: str
    headers: tuple[tuple[str, str], ...]
    client_ip: str = "203.0.113.7"


@dataclass(frozen=True)
class Side:
    """An app under test: ``one()`` answers the request once, ``run(n)`` serves it ``n`` times."""

    one: Callable[[], Answer]
    run: Callable[[int], None]


def wsgi_side(app: Any, request: Get) -> Side:
    """Call the WSGI ``app`` with a prepared ``environ`` (a fresh copy and input per request)."""
    base: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path,
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": request.client_ip,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers:
        base["HTTP_" + name.upper().replace("-", "_")] = value
    state: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        state["status"], state["headers"] = status, headers
        return None

    def one() -> Answer:
        result = app({**base, "wsgi.input": io.BytesIO(b"")}, start_response)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return int(state["status"].split()[0]), list(state["headers"]), body

    def run(n: int) -> None:
        for _ in range(n):
            one()

    return Side(one, run)


def asgi_side(app: Any, request: Get, loop: asyncio.AbstractEventLoop) -> Side:
    """Await the ASGI ``app`` in ``loop`` with a prepared scope and minimal receive/send."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": request.path,
        "raw_path": request.path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers],
        "client": (request.client_ip, 50000),
        "server": ("bench", 80),
    }

    async def once() -> Answer:
        sent: dict[str, Any] = {"body": []}
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            if received:
                return {"type": "http.disconnect"}
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                sent["headers"] = [
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]
                ]
            elif message["type"] == "http.response.body":
                sent["body"].append(message.get("body", b""))

        await app({**scope, "state": {}}, receive, send)
        return sent["status"], sent["headers"], b"".join(sent["body"])

    async def many(n: int) -> None:
        for _ in range(n):
            await once()

    return Side(
        one=lambda: loop.run_until_complete(once()),
        run=lambda n: loop.run_until_complete(many(n)),
    )
