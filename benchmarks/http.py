"""``GET /api/v1/projects`` through each adapter, against a hand-written endpoint, on PostgreSQL.

Run it by hand (not a test): ``.venv/bin/python benchmarks/http.py [--frameworks
fastapi,flask,django] [--rounds N]``. It needs PostgreSQL (``SAAS_CORE_TEST_DATABASE_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``), creates a scratch database and
a non-owner ``NOBYPASSRLS`` role, migrates, grants the role, seeds through the services one user,
one tenant the user owns, 20 projects and a session, and drops the database and the role at the
end, also on error. It takes about a minute.

In each of FastAPI, Flask and Django, two apps of that framework serve an authenticated,
tenant-scoped ``GET /api/v1/projects`` (``Authorization: Bearer``, one page of 20 projects):

* saas-core: the adapter mounted the documented way, with every route of the API;
* hand-written: one plain view at the same path (:mod:`_handwritten`). It reads the bearer token,
  sends the very SQL statements saas-core sends for this request (captured from a saas-core
  request with a ``before_cursor_execute`` listener: the session and user lookup that also binds
  Row Level Security, the membership, the permissions, the page of projects, whatever they are at
  the time) with the parameters derived per request as saas-core derives them, makes the same
  checks, and writes the same JSON bytes with ``json.dumps``.

Every side runs as the application role through one engine and pool (``pool_pre_ping`` off, so
a pool health check does not count as a round trip), one transaction per request. The
hand-written view is measured twice, in the same app: talking to the database through SQLAlchemy
Core's ``Connection.exec_driver_sql`` (``core``: what a hand-written SQLAlchemy endpoint does) and
straight through the psycopg cursor of a pooled connection (``psycopg``: the leanest possible).
Before timing, each must answer the same status, ``Content-Type`` and body bytes as the adapter and
send the same SQL with the same parameters: a changed library query fails the run rather than
being papered over. ``session_touch_interval`` is a day, so the periodic ``last_seen_at`` update
never falls due.

Requests are driven in-process through each framework's own callable, with no network and no test
client (:mod:`_support`): FastAPI as an ASGI app awaited in an asyncio loop (both views run in
Starlette's thread pool, as FastAPI runs any blocking endpoint), Flask and Django as WSGI apps
called with a prepared ``environ``. Per framework: a warm-up, then interleaved rounds of each side
(each round starting with the next side). Printed: the median requests/s of each side, the ratios
saas-core / hand-written (goal: >= 0.85) and the median process CPU time per request, which
varies less than wall time on a busy machine.
"""

from __future__ import annotations

import os
import sys

# This file is named http.py: with its directory first on sys.path it would shadow the standard
# library's ``http`` package for everything imported below. Move the directory to the end.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [_HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from importlib.metadata import version  # noqa: E402
from typing import Any  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from _handwritten import HandWritten, build_hand  # noqa: E402
from _support import (  # noqa: E402
    Answer,
    Get,
    Scratch,
    Side,
    Statement,
    asgi_side,
    capturing,
    seed_caller,
    wsgi_side,
)
from fastapi import Request, Response  # noqa: E402 - FastAPI resolves view annotations by name

from saas_core.api.http import Headers, HttpRequest  # noqa: E402
from saas_core.clock import SystemClock  # noqa: E402
from saas_core.config import Settings  # noqa: E402
from saas_core.core import Core  # noqa: E402
from saas_core.db.session import create_engine  # noqa: E402

PATH = "/api/v1/projects"
PROJECTS = 20
ROUNDS = 21
ROUND_SECONDS = 0.25  # each side's batch in a round lasts about this long
WARMUP_SECONDS = 1.0
GOAL = 0.85
LIBRARY, CORE, PSYCOPG = "saas-core", "core", "psycopg"  # the sides, as the table names them


# --- the two apps of each framework ------------------------------------------------------------

View = Callable[[str | None], Answer]
Build = Callable[[Core, View, Get], tuple[Side, Side]]


def fastapi_sides(core: Core, hand: View, request: Get) -> tuple[Side, Side]:
    """The adapter's app and a hand-written app (a blocking ``def`` view, in the thread pool)."""
    from fastapi import FastAPI

    from saas_core_fastapi import saas_router

    library = FastAPI()
    library.include_router(saas_router(core))

    written = FastAPI()

    @written.get(PATH)
    def list_projects(request: Request) -> Response:
        status, headers, body = hand(request.headers.get("authorization"))
        return Response(body, status_code=status, headers=dict(headers))

    loop = asyncio.new_event_loop()
    return asgi_side(library, request, loop), asgi_side(written, request, loop)


def flask_sides(core: Core, hand: View, request: Get) -> tuple[Side, Side]:
    """The extension's app and a hand-written app."""
    import flask

    from saas_core_flask import SaasCore

    library = flask.Flask("bench_saas_core")
    SaasCore(library, core=core)

    written = flask.Flask("bench_hand_written")

    @written.get(PATH)
    def list_projects() -> flask.Response:
        status, headers, body = hand(flask.request.headers.get("Authorization"))
        return flask.Response(body, status=status, headers=headers)

    return wsgi_side(library, request), wsgi_side(written, request)


def django_sides(core: Core, hand: View, request: Get) -> tuple[Side, Side]:
    """The documented ``include("saas_core_django.urls")`` and a hand-written view.

    One process has one Django settings object: the two sides are one ``WSGIHandler`` with the
    same middleware, and differ only in ``ROOT_URLCONF``, set before each side's batch.
    """
    import django
    from django.conf import settings as django_settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpResponse
    from django.urls import include, path

    import saas_core_django

    django_settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only",
        ALLOWED_HOSTS=["bench"],
        ROOT_URLCONF="bench_saas_core_urls",
        INSTALLED_APPS=["saas_core_django"],
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        DATABASES={},
        USE_TZ=True,
    )
    django.setup()
    saas_core_django.configure(core)

    def list_projects(request: Any) -> Any:
        status, headers, body = hand(request.META.get("HTTP_AUTHORIZATION"))
        response = HttpResponse(body, status=status)
        for name, value in headers:
            response[name] = value
        return response

    urlconfs = {
        "bench_saas_core_urls": [path("api/v1/", include("saas_core_django.urls"))],
        "bench_hand_written_urls": [path(PATH.lstrip("/"), list_projects)],
    }
    for name, patterns in urlconfs.items():
        module = types.ModuleType(name)
        module.urlpatterns = patterns  # type: ignore[attr-defined]
        sys.modules[name] = module
    side = wsgi_side(WSGIHandler(), request)

    def on(urlconf: str) -> Side:
        def one() -> Answer:
            django_settings.ROOT_URLCONF = urlconf
            return side.one()

        def run(n: int) -> None:
            django_settings.ROOT_URLCONF = urlconf
            side.run(n)

        return Side(one, run)

    return on("bench_saas_core_urls"), on("bench_hand_written_urls")


BUILDERS: dict[str, Build] = {
    "fastapi": fastapi_sides,
    "flask": flask_sides,
    "django": django_sides,
}


# --- checking and measuring ---------------------------------------------------------------------


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


class Switch:
    """The hand-written view, calling whichever :class:`HandWritten` variant is current.

    Both variants are served by one app per framework, so they differ in nothing but how the
    view talks to the database.
    """

    def __init__(self, current: HandWritten) -> None:
        self.current = current

    def __call__(self, authorization: str | None) -> Answer:
        return self.current(authorization)

    def side(self, app: Side, variant: HandWritten) -> Side:
        """``app`` serving with ``variant``."""

        def one() -> Answer:
            self.current = variant
            return app.one()

        def run(n: int) -> None:
            self.current = variant
            app.run(n)

        return Side(one, run)


def check_same(
    framework: str, engine: sa.Engine, hand: HandWritten, library: Side, written: Side
) -> None:
    """Both sides answer the same status, Content-Type and body, and send the same SQL."""
    with capturing(engine) as theirs:
        ls, lh, lb = library.one()
    with capturing(engine) as ours:
        hand.sent = ours if hand.dbapi else None
        try:
            ws, wh, wb = written.one()
        finally:
            hand.sent = None
    assert ls == 200, (framework, ls, lb[:500])
    same = (ls, _header(lh, "content-type"), lb) == (ws, _header(wh, "content-type"), wb)
    assert same, (framework, (ls, lh, lb[:300]), (ws, wh, wb[:300]))
    assert _header(lh, "x-request-id"), lh
    assert _header(wh, "x-request-id"), wh

    def shape(statements: list[Statement]) -> list[Statement]:
        # Timestamps (``now``) differ between two requests; their presence and place must not.
        return [
            (sql, {k: type(v) if isinstance(v, datetime) else v for k, v in params.items()})
            for sql, params in statements
        ]

    assert shape(theirs) == shape(ours), (framework, shape(theirs), shape(ours))


@dataclass
class Result:
    """Median requests/s and CPU microseconds per request of each side, by side name."""

    framework: str
    rate: dict[str, float]
    cpu: dict[str, float]

    def ratio(self, baseline: str) -> float:
        return self.rate[LIBRARY] / self.rate[baseline]


def measure(framework: str, sides: dict[str, Side], rounds: int) -> Result:
    """Warm up, then interleaved rounds of every side (each round starts with the next one)."""
    sizes: dict[str, int] = {}
    for name, side in sides.items():
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < WARMUP_SECONDS:
            side.run(10)
            count += 10
        sizes[name] = max(10, int(count / (time.perf_counter() - start) * ROUND_SECONDS))
    rates: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides.items())
    for round_ in range(rounds):
        shift = round_ % len(order)
        for name, side in order[shift:] + order[:shift]:
            n = sizes[name]
            wall, used = time.perf_counter(), time.process_time()
            side.run(n)
            wall, used = time.perf_counter() - wall, time.process_time() - used
            rates[name].append(n / wall)
            cpu[name].append(used / n * 1e6)
    result = Result(
        framework,
        {name: statistics.median(values) for name, values in rates.items()},
        {name: statistics.median(values) for name, values in cpu.items()},
    )
    for name in sides:
        spread = sorted(rates[name])
        print(
            f"  {framework:8} {name:24} req/s per round: min {spread[0]:5.0f}"
            f"  median {result.rate[name]:5.0f}  max {spread[-1]:5.0f}",
            flush=True,
        )
    return result


# --- the run ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--frameworks", default=",".join(BUILDERS), help="comma-separated")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"default {ROUNDS}")
    args = parser.parse_args()
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]

    # Long enough that the periodic last_seen_at update never falls due during the run.
    settings = Settings(session_touch_interval=timedelta(days=1))
    clock = SystemClock()
    started = time.perf_counter()
    results: list[Result] = []
    statements: list[Statement] = []
    scratch = Scratch("saas_core_http_bench")
    engine: sa.Engine | None = None
    try:
        caller = seed_caller(scratch, settings, clock, projects=PROJECTS)
        engine = create_engine(scratch.app_url, pool_size=2, max_overflow=2, pool_pre_ping=False)
        app_settings = Settings(
            database_url=scratch.app_url.render_as_string(hide_password=False),
            session_touch_interval=settings.session_touch_interval,
        )
        core = Core(app_settings, engine=engine, clock=clock)
        request = Get(
            PATH,
            (("Host", "bench"), ("Authorization", f"Bearer {caller.token}"), ("User-Agent", "b")),
        )
        # The statements of one saas-core request, served by the pipeline every adapter calls.
        native = HttpRequest(
            method="GET",
            path=PATH,
            headers=Headers(request.headers),
            client_ip=request.client_ip,
        )
        endpoint = core.api.endpoint("list_projects")
        assert core.api.handle(endpoint, native, {}).status == 200
        with capturing(engine) as statements:
            core.api.handle(endpoint, native, {})
        hands = {
            name: build_hand(engine, statements, caller, settings, dbapi=dbapi)
            for name, dbapi in ((CORE, False), (PSYCOPG, True))
        }
        for framework in frameworks:
            switch = Switch(hands[CORE])
            library, written = BUILDERS[framework](core, switch, request)
            sides = {LIBRARY: library}
            for name, hand in hands.items():
                sides[name] = switch.side(written, hand)
                check_same(framework, engine, hand, library, sides[name])
            results.append(measure(framework, sides, args.rounds))
    finally:
        if engine is not None:
            engine.dispose()
        scratch.drop()
    report(results, statements, args.rounds, time.perf_counter() - started)


def report(results: list[Result], statements: list[Statement], rounds: int, took: float) -> None:
    """The table and the ratios."""
    print()
    print(
        f"python {sys.version.split()[0]}, {platform.machine()}, {os.cpu_count()} CPUs;"
        f" SQLAlchemy {sa.__version__}, psycopg {version('psycopg')},"
        f" pydantic {version('pydantic')}; FastAPI {version('fastapi')},"
        f" Flask {version('flask')}, Django {version('django')}"
    )
    print(
        f"GET {PATH} ({PROJECTS} projects) with a bearer session token, PostgreSQL as a"
        f" NOBYPASSRLS role: {len(statements)} statements + COMMIT per request on every side"
    )
    print(
        f"hand-written views send them through SQLAlchemy Core's exec_driver_sql ({CORE}) or the"
        f" psycopg cursor of a pooled connection ({PSYCOPG}), and answer with json.dumps"
    )
    print(f"medians of {rounds} interleaved rounds of ~{ROUND_SECONDS} s per side")
    print()
    sides = (LIBRARY, CORE, PSYCOPG)
    print(f"{'':10}{'requests/s':^30}  {'saas-core / hand-written':^24}  {'CPU us/request':^30}")
    header = "".join(f"{c:>10}" for c in sides)
    print(f"{'framework':10}{header}  {CORE:>12}{PSYCOPG:>12}  {header}")
    for r in results:
        rates = "".join(f"{r.rate[c]:10.0f}" for c in sides)
        cpu = "".join(f"{r.cpu[c]:10.0f}" for c in sides)
        print(f"{r.framework:10}{rates}  {r.ratio(CORE):12.2f}{r.ratio(PSYCOPG):12.2f}  {cpu}")
    print()
    for r in results:
        verdicts = ", ".join(
            f"{'>=' if r.ratio(name) >= GOAL else '<'} {GOAL} against {name}"
            for name in (CORE, PSYCOPG)
        )
        print(f"{r.framework}: saas-core {verdicts}")
    print(f"\ntook {took:.0f} s")


if __name__ == "__main__":
    main()
