"""``saas-core seed`` and ``saas-core demo``: demo data, and the FastAPI example serving it.

::

    saas-core seed [--database-url URL] [--password PW]        # migrate, seed, print the login
    saas-core demo [--database-url URL] [--app-database-url URL] [--host H] [--port P]
                                                               # the same, then serve the example

``demo`` migrates (creating a SQLite file's folder first), seeds (:func:`saas_core.demo.seed_demo`),
prints the app's URL, its API docs, the demo login and a ``curl`` session, then serves
``examples/fastapi_app`` with uvicorn until interrupted. Outside a clone of the repository (no
``examples/`` folder) it serves saas-core's routes in a bare FastAPI app instead.

``--database-url`` is the schema owner's, as for every ``saas-core`` command. The app serves with
it too unless ``--app-database-url`` names another role: on PostgreSQL, the application's login
role (owns nothing, ``NOBYPASSRLS``), since saas-core refuses to serve as a superuser or table
owner (unless ``SAAS_CORE_ALLOW_PRIVILEGED_DATABASE_ROLE=true``).

The demo serves plain HTTP. On a loopback host it therefore turns ``Secure`` cookies off
(``cookie_secure=False``, which also drops the ``__Host-`` prefix), or browsers would never send
the session cookie back; bearer tokens work either way. On any other host cookies stay
``Secure``: put TLS in front, or use bearer tokens.

Registered in :mod:`saas_core.cli` through :func:`add_seed_command` and :func:`add_demo_command`.
Nothing here imports a web framework at module level: FastAPI and uvicorn load only when ``demo``
runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from saas_core.demo import DemoCredentials

#: The example app ``demo`` serves, relative to the repository root.
EXAMPLE_APP = Path("examples") / "fastapi_app" / "app.py"


def add_seed_command(subparsers: Any) -> None:
    """Add ``saas-core seed`` to the top-level subparsers."""
    from saas_core.cli import add_database_url

    seed = subparsers.add_parser(
        "seed", help="migrate, then create the demo user, tenant and projects (idempotent)"
    )
    add_database_url(seed)
    seed.add_argument(
        "--password", help="the demo user's password (default: a new random one, printed)"
    )
    seed.set_defaults(handler=_seed)


def add_demo_command(subparsers: Any) -> None:
    """Add ``saas-core demo`` to the top-level subparsers."""
    from saas_core.cli import add_database_url

    demo = subparsers.add_parser(
        "demo", help="migrate, seed, and serve the FastAPI example app with uvicorn"
    )
    add_database_url(demo)
    demo.add_argument(
        "--app-database-url",
        metavar="URL",
        help="the URL the app serves with (default: --database-url); on PostgreSQL, the"
        " application's role",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo.add_argument("--port", type=int, default=8000, help="port to listen on")
    demo.add_argument("--password", help="the demo user's password (default: a new random one)")
    demo.set_defaults(handler=_demo)


def prepare(url: str, password: str | None = None) -> DemoCredentials:
    """Create a SQLite file's folder, migrate ``url`` to head and seed the demo data."""
    from saas_core import migrations
    from saas_core.demo import ensure_sqlite_folder, seed_demo

    ensure_sqlite_folder(url)
    migrations.upgrade(url)
    return seed_demo(url, password=password)


def _seed(args: argparse.Namespace) -> int:
    from saas_core.cli import database_url

    credentials = prepare(database_url(args), args.password)
    print(f"Demo user:   {credentials.email}")
    print(f"Password:    {credentials.password}")
    print(f"Tenant:      {credentials.tenant_name} ({credentials.tenant_slug})")
    print(f"Projects:    {', '.join(credentials.projects)}")
    return 0


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (where plain HTTP stays on the machine)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _demo(args: argparse.Namespace) -> int:
    from saas_core.cli import database_url
    from saas_core.errors import missing_dependency

    for module in ("fastapi", "uvicorn"):
        if importlib.util.find_spec(module) is None:
            raise missing_dependency(module, "fastapi")
    import uvicorn

    url = database_url(args)
    credentials = prepare(url, args.password)
    loopback = is_loopback(args.host)
    app, source = build_app(
        args.app_database_url or url, migration_url=url, cookie_secure=not loopback
    )
    print(banner(credentials, args.host, args.port, source=source, loopback=loopback), flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def find_example_app() -> Path | None:
    """``examples/fastapi_app/app.py`` of the repository saas-core runs from, if there is one."""
    import saas_core

    # An editable install runs from <repo>/src/saas_core; `make demo` runs in <repo>.
    candidates = [Path(saas_core.__file__).resolve().parents[2], Path.cwd()]
    for root in candidates:
        path = root / EXAMPLE_APP
        if path.is_file():
            return path
    return None


def build_app(
    url: str, *, migration_url: str | None = None, cookie_secure: bool
) -> tuple[Any, str]:
    """The ASGI app to serve and where it came from (the example file, or a bare app).

    It serves with ``url`` and migrates with ``migration_url`` (default: ``url``).
    """
    settings: dict[str, Any] = {
        "cookie_secure": cookie_secure,
        "migration_database_url": migration_url or url,
    }
    path = find_example_app()
    if path is not None:
        spec = importlib.util.spec_from_file_location("saas_core_demo_example", path)
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.create_app(url, **settings), str(path)
    from saas_core.config import Settings
    from saas_core.core import Core
    from saas_core_fastapi import create_app

    app = create_app(Core(Settings(database_url=url, **settings)), title="saas-core demo")
    return app, "a bare FastAPI app (examples/ is only in a clone of the repository)"


def banner(
    credentials: DemoCredentials, host: str, port: int, *, source: str, loopback: bool
) -> str:
    """What ``demo`` prints before serving: URLs, the login and a ``curl`` session."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - only displayed
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    base = f"http://{shown}:{port}"
    api = f"{base}/api/v1"
    login = shlex.quote(json.dumps({"email": credentials.email, "password": credentials.password}))
    cookies = (
        "Cookies are not Secure in this demo (plain HTTP on loopback); bearer tokens work too."
        if loopback
        else "Cookies are Secure (HTTPS only); over plain HTTP use the bearer token."
    )
    return "\n".join(
        [
            "",
            "saas-core demo",
            f"  Serving:   {source}",
            *([f"  App:       {base}/hello"] if source.endswith(".py") else []),
            f"  API:       {api}",
            f"  API docs:  {base}/docs",
            f"  Login:     {credentials.email} / {credentials.password}",
            f"  Tenant:    {credentials.tenant_name} ({credentials.tenant_slug}),"
            f" {len(credentials.projects)} projects",
            f"  {cookies}",
            "",
            "Log in and list the demo tenant's projects:",
            f"  TOKEN=$(curl -s -X POST {api}/auth/login -H 'Content-Type: application/json' \\",
            f"          -d {login} | python3 -c 'import json,sys; print(json.load(sys.stdin)"
            '["token"])\')',
            f'  curl -s {api}/projects -H "Authorization: Bearer $TOKEN"',
            "",
            "Press Ctrl+C to stop.",
            "",
        ]
    )
