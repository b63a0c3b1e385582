"""Building a ``RequestContext`` from a session token on PostgreSQL, against hand-written psycopg.

Run it by hand (not a test): ``.venv/bin/python benchmarks/context.py``. It needs PostgreSQL
(``SAAS_CORE_TEST_DATABASE_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``),
creates a scratch database and a non-owner NOBYPASSRLS role, migrates, seeds one user, one tenant,
one membership and one session, and drops them all at the end. It takes about half a minute.

Every side runs as the application role, one transaction per build:

* psycopg: the very same SQL strings as saas-core (captured from a saas-core build) with the same
  parameters and the same round trips (BEGIN, 3 statements, COMMIT), the same validity checks in
  Python, the same frozen ``RequestContext`` at the end;
* saas-core: ``build_context`` in a ``TenantSession`` from the library's ``session_factory``,
  opened, begun, committed and closed around each build as a request's unit of work is;
* floor: psycopg's hand-written build run inside that same unit of work, on its connection: what
  SQLAlchemy's Session and pool cost by themselves, with none of saas-core's code.

Two columns: *build* is building the context on a connection already held (psycopg holds its
connection throughout; the saas-core unit of work has checked its connection out of the pool),
from BEGIN to the frozen context; *unit of work* adds everything around it (saas-core: the
Session, the pool checkout, COMMIT and the close; psycopg: COMMIT). The goal applies to *build*.

The engine's ``pool_pre_ping`` is switched off so both sides make the same round trips (a ping
is a pool health check, not part of building a context). The sides alternate round after round
(ABC, CBA...), so drift on a shared machine hits them alike; each figure is the median of the
rounds, each ratio the median of the per-round ratios.
"""

from __future__ import annotations

import gc
import hashlib
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

import saas_core.models  # noqa: F401 - registers every table
from saas_core import migrations
from saas_core.clock import FakeClock
from saas_core.config import Settings
from saas_core.context import AuthMethod, RequestContext, TenantRef, UserRef
from saas_core.db.direct import observed
from saas_core.db.postgres import grant_app_role
from saas_core.db.session import create_engine, session_factory
from saas_core.iam.models import Role
from saas_core.iam.sync import sync_catalog
from saas_core.identity.models import User
from saas_core.identity.sessions import SessionService
from saas_core.tenancy.models import Tenant, TenantMember

ROUNDS = 20
BUILDS = 150
WARMUP = 150


def admin_url() -> URL:
    """The server to create the scratch database on."""
    url = make_url(
        os.environ.get(
            "SAAS_CORE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        )
    )
    return url.set(drivername="postgresql+psycopg")


def conninfo(url: URL) -> str:
    """A libpq connection string for ``url``."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Scratch:
    """A scratch database and application role, dropped by :meth:`drop`."""

    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.name, self.role = f"saas_core_bench_{suffix}", f"saas_core_bench_app_{suffix}"
        self.admin = sa.create_engine(admin_url(), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
            conn.exec_driver_sql(f'CREATE ROLE "{self.role}" LOGIN NOSUPERUSER NOBYPASSRLS')
        self.owner_url = admin_url().set(database=self.name)
        self.app_url = self.owner_url.set(username=self.role, password=None)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{self.role}"')
        self.admin.dispose()


def seed(scratch: Scratch, settings: Settings, clock: FakeClock) -> str:
    """Migrate, grant, and seed a user with a session in one tenant; return the token."""
    migrations.upgrade(scratch.owner_url.render_as_string(hide_password=False))
    owner = create_engine(scratch.owner_url)
    try:
        with owner.begin() as conn:
            grant_app_role(conn, scratch.role)
        with Session(owner) as session, session.begin():
            sync_catalog(session)  # idempotent: the built-in roles and their permissions
        with Session(owner) as session, session.begin():
            tenant = Tenant(slug="bench", name="Bench")
            user = User(email="bench@example.com")
            session.add_all([tenant, user])
            session.flush()
            role = session.scalar(sa.select(Role.id).where(Role.key == "admin"))
            assert role is not None
            session.add(TenantMember(tenant_id=tenant.id, user_id=user.id, role_id=role))
            issued = SessionService(settings, clock).create(
                session, user.id, active_tenant_id=tenant.id
            )
            return issued.token
    finally:
        owner.dispose()


def capture(engine: sa.Engine, build: Callable[[], RequestContext]) -> list[tuple[str, Any]]:
    """The (SQL, parameters) saas-core sends for one build, in order."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, dict(parameters or {})))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        build()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return seen


def psycopg_builder(
    statements: list[tuple[str, Any]], settings: Settings
) -> Callable[[Any, str, FakeClock], RequestContext]:
    """The same statements by hand on a psycopg connection: fetch and bind, check, fetch, fetch,
    build. The caller commits."""
    (session_sql, session_params), (member_sql, member_params), (perm_sql, perm_params) = statements
    idle, touch = settings.session_idle_timeout, settings.session_touch_interval

    def build(conn: Any, raw_token: str, clock: FakeClock) -> RequestContext:
        now = clock.now()
        with conn.cursor() as cur:
            # The session joined to its user; the statement binds app.user_id/app.tenant_id.
            cur.execute(
                session_sql,
                {
                    **session_params,
                    "token_hash": hashlib.sha256(raw_token.encode()).hexdigest(),
                    "now": now,
                    "idle_since": now - idle,
                },
            )
            row = cur.fetchone()
            if row is None:
                raise LookupError("unknown token")
            (
                session_id,
                user_id,
                tenant_id,
                _impersonator,
                revoked_at,
                expires_at,
                last_seen_at,
                user_public,
                email,
                user_status,
                deleted_at,
                _bound_user,
                _bound_tenant,
            ) = row
            if revoked_at is not None or now >= expires_at or now > last_seen_at + idle:
                raise LookupError("expired")
            if deleted_at is not None or user_status != "active":
                raise LookupError("account disabled")
            if now - last_seen_at >= touch:
                raise LookupError("the benchmark's touch interval keeps sessions untouched")
            cur.execute(member_sql, {**member_params, "tenant_id": tenant_id, "user_id": user_id})
            member = cur.fetchone()
            assert member is not None
            role_id, role_key, tenant_public, slug, status = member
            assert status == "active"
            cur.execute(
                perm_sql,
                {
                    **perm_params,
                    "role_id": role_id,
                    "user_id": user_id,
                    "tenant_id": tenant_id,
                    "now": now,
                },
            )
            keys = cur.fetchall()
        return RequestContext(
            request_id="bench",
            auth_method=AuthMethod.SESSION,
            user=UserRef(id=user_id, public_id=user_public, email=email),
            tenant=TenantRef(id=tenant_id, public_id=tenant_public, slug=slug, status=status),
            role=role_key,
            permissions=frozenset(k for k, scope in keys if scope == "tenant"),
            platform_permissions=frozenset(k for k, scope in keys if scope == "platform"),
            session_id=session_id,
            client_ip="203.0.113.7",
            user_agent="bench",
        )

    return build


#: A side of the comparison: one build, returning nanoseconds for (the build alone, the whole
#: unit of work around it).
Side = Callable[[], tuple[int, int]]


def timed_round(side: Side) -> tuple[float, float]:
    """Microseconds per build over one round of ``BUILDS`` builds: (build alone, whole unit)."""
    gc.collect()
    inner = outer = 0
    for _ in range(BUILDS):
        alone, whole = side()
        inner += alone
        outer += whole
    return inner / BUILDS / 1000, outer / BUILDS / 1000


def interleaved(sides: dict[str, Side]) -> dict[str, list[tuple[float, float]]]:
    """``ROUNDS`` rounds of every side, alternating the order (ABC, CBA, ...)."""
    for side in sides.values():
        for _ in range(WARMUP):
            side()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    order = list(sides)
    for round_ in range(ROUNDS):
        for name in order if round_ % 2 == 0 else reversed(order):
            results[name].append(timed_round(sides[name]))
    return results


def main() -> None:
    from saas_core.tenancy.context import build_context

    settings = Settings(session_touch_interval=timedelta(days=1))
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    scratch = Scratch()
    try:
        token = seed(scratch, settings, clock)
        kwargs: dict[str, Any] = {"pool_size": 1, "max_overflow": 0, "pool_pre_ping": False}

        def saas_core_build(session: Session) -> RequestContext:
            return build_context(
                session,
                raw_token=token,
                client_ip="203.0.113.7",
                user_agent="bench",
                request_id="bench",
                settings=settings,
                clock=clock,
            )

        # The SQL is captured on an engine of its own: the timed one never had a listener.
        capturing = create_engine(scratch.app_url, **kwargs)
        with session_factory(capturing)() as session, session.begin():
            expected = saas_core_build(session)

        def build_once() -> RequestContext:
            with session_factory(capturing)() as session, session.begin():
                return saas_core_build(session)

        statements = [
            (sql, params)
            for sql, params in capture(capturing, build_once)
            if not sql.lstrip().upper().startswith(("BEGIN", "COMMIT"))
        ]
        capturing.dispose()
        assert len(statements) == 3, [s for s, _ in statements]
        engine = create_engine(scratch.app_url, **kwargs)
        sessions = session_factory(engine)
        with engine.connect() as connection:
            assert not observed(connection)  # the library's usual, unobserved path
        raw = psycopg_builder(statements, settings)
        with psycopg.connect(conninfo(scratch.app_url), options="-c timezone=UTC") as conn:
            got = raw(conn, token, clock)
            conn.commit()
            fields = ("user", "tenant", "role", "permissions", "platform_permissions", "session_id")
            assert [getattr(got, f) for f in fields] == [getattr(expected, f) for f in fields], (
                got,
                expected,
            )

            def psycopg_side() -> tuple[int, int]:
                start = time.perf_counter_ns()
                raw(conn, token, clock)
                built = time.perf_counter_ns()
                conn.commit()
                return built - start, time.perf_counter_ns() - start

            # The build column starts once the unit of work holds its connection, as psycopg's
            # does throughout: the pool checkout belongs to the unit of work column. Both sides
            # then send BEGIN with their first statement.
            def saas_core_side() -> tuple[int, int]:
                start = time.perf_counter_ns()
                with sessions() as session, session.begin():
                    session.connection()
                    began = time.perf_counter_ns()
                    saas_core_build(session)
                    built = time.perf_counter_ns()
                return built - began, time.perf_counter_ns() - start

            def session_floor_side() -> tuple[int, int]:
                # psycopg's hand-written build in a saas-core unit of work, on its connection:
                # what the SQLAlchemy Session costs by itself, with none of saas-core's code.
                start = time.perf_counter_ns()
                with sessions() as session, session.begin():
                    dbapi_connection = session.connection().connection.dbapi_connection
                    began = time.perf_counter_ns()
                    raw(dbapi_connection, token, clock)
                    built = time.perf_counter_ns()
                return built - began, time.perf_counter_ns() - start

            results = interleaved(
                {
                    "psycopg": psycopg_side,
                    "saas-core": saas_core_side,
                    "floor": session_floor_side,
                }
            )
        engine.dispose()
    finally:
        scratch.drop()
    report(results, len(statements))


def report(results: dict[str, list[tuple[float, float]]], statements: int) -> None:
    """Print the medians of the rounds and the medians of the per-round ratios."""

    def median(name: str, part: int) -> float:
        return statistics.median(r[part] for r in results[name])

    def ratio(name: str, part: int) -> float:
        pairs = zip(results[name], results["psycopg"], strict=True)
        return statistics.median(a[part] / b[part] for a, b in pairs)

    print(
        f"python {sys.version.split()[0]}, {platform.machine()}, SQLAlchemy {sa.__version__},"
        f" psycopg {psycopg.__version__}"
    )
    print(f"statements per build: {statements} (+ BEGIN/COMMIT)")
    print(f"{ROUNDS} interleaved rounds of {BUILDS} builds per side; medians, us per build")
    print(f"{'':34}{'build':>8}{'unit of work':>14}")
    rows = (
        ("psycopg, hand-written", "psycopg"),
        ("saas-core build_context", "saas-core"),
        ("floor: Session + hand-written", "floor"),
    )
    for label, name in rows:
        print(f"{label:34}{median(name, 0):8.1f}{median(name, 1):14.1f}")
    for _label, name in rows[1:]:
        print(f"{'ratio ' + name + ' / psycopg':34}{ratio(name, 0):8.2f}{ratio(name, 1):14.2f}")
    print("goal: build_context <= 1.3 x psycopg (build column)")


if __name__ == "__main__":
    main()
