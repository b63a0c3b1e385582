"""Building a ``RequestContext`` from a session token on PostgreSQL, against hand-written psycopg.

Run it by hand (not a test): ``.venv/bin/python benchmarks/context.py``. It needs PostgreSQL
(``SAAS_CORE_TEST_DATABASE_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``),
creates a scratch database and a non-owner NOBYPASSRLS role, migrates, seeds one user, one tenant,
one membership and one session, and drops them all at the end. It takes about half a minute.

Both sides run as the application role, one transaction per build, on one kept-open connection:

* saas-core: ``build_context`` in a ``TenantSession`` from the library's ``session_factory``
  (session + user + ``set_config`` binding, membership + tenant + role, permissions), the
  session opened, begun, committed and closed around each build as a request would;
* psycopg: the very same SQL strings (captured from a saas-core build) with the same parameters
  and the same round trips, the same validity checks in Python, the same frozen
  ``RequestContext`` at the end.

The engine's ``pool_pre_ping`` is switched off so both sides make the same round trips (a ping
is a pool health check, not part of building a context). The two sides alternate, round after
round (ABBA order), so drift on the shared machine hits both alike; the result is the median of
the rounds for each side and the median of the per-round ratios (goal <= 1.3).
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
BUILDS = 200
WARMUP = 200


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
    conn: psycopg.Connection[Any], statements: list[tuple[str, Any]], settings: Settings
) -> Callable[[str, FakeClock], RequestContext]:
    """The same statements by hand: fetch and bind, check, fetch, fetch, build."""
    (session_sql, session_params), (member_sql, member_params), (perm_sql, perm_params) = statements
    idle, touch = settings.session_idle_timeout, settings.session_touch_interval

    def build(raw_token: str, clock: FakeClock) -> RequestContext:
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
        conn.commit()
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


def per_build(fn: Callable[[], object]) -> float:
    """Microseconds per call over one round of ``BUILDS`` calls."""
    gc.collect()
    start = time.perf_counter_ns()
    for _ in range(BUILDS):
        fn()
    return (time.perf_counter_ns() - start) / BUILDS / 1000


def interleaved(sides: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """``ROUNDS`` rounds of every side, alternating which goes first."""
    for fn in sides.values():
        for _ in range(WARMUP):
            fn()
    results: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    for round_ in range(ROUNDS):
        for name in order if round_ % 2 == 0 else reversed(order):
            results[name].append(per_build(sides[name]))
    return results


def main() -> None:
    from saas_core.tenancy.context import build_context

    settings = Settings(session_touch_interval=timedelta(days=1))
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    scratch = Scratch()
    try:
        token = seed(scratch, settings, clock)
        engine = create_engine(scratch.app_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
        sessions = session_factory(engine)

        def saas_core_build() -> RequestContext:
            with sessions() as session, session.begin():
                return build_context(
                    session,
                    raw_token=token,
                    client_ip="203.0.113.7",
                    user_agent="bench",
                    request_id="bench",
                    settings=settings,
                    clock=clock,
                )

        expected = saas_core_build()
        statements = [
            (sql, params)
            for sql, params in capture(engine, saas_core_build)
            if not sql.lstrip().upper().startswith(("BEGIN", "COMMIT"))
        ]
        assert len(statements) == 3, [s for s, _ in statements]
        with engine.connect() as connection:
            # Timed builds take the library's usual path, with no statement listener attached.
            assert not observed(connection)
        with psycopg.connect(conninfo(scratch.app_url), options="-c timezone=UTC") as conn:
            raw = psycopg_builder(conn, statements, settings)
            got = raw(token, clock)
            fields = ("user", "tenant", "role", "permissions", "platform_permissions", "session_id")
            assert [getattr(got, f) for f in fields] == [getattr(expected, f) for f in fields], (
                got,
                expected,
            )
            results = interleaved(
                {"psycopg": lambda: raw(token, clock), "saas-core": saas_core_build}
            )
        engine.dispose()
    finally:
        scratch.drop()
    ours, base = statistics.median(results["saas-core"]), statistics.median(results["psycopg"])
    ratios = [a / b for a, b in zip(results["saas-core"], results["psycopg"], strict=True)]
    print(
        f"python {sys.version.split()[0]}, {platform.machine()}, SQLAlchemy {sa.__version__},"
        f" psycopg {psycopg.__version__}"
    )
    print(f"statements per build: {len(statements)} (+ BEGIN/COMMIT)")
    print(f"{ROUNDS} interleaved rounds of {BUILDS} builds per side; medians of the rounds")
    print(f"psycopg, hand-written :  {base:8.1f} us per build")
    print(f"saas-core build_context: {ours:8.1f} us per build")
    print(
        f"ratio saas-core / psycopg: {statistics.median(ratios):.2f} (goal <= 1.3;"
        f" rounds {min(ratios):.2f} to {max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
