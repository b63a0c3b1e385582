"""The example apps in ``examples/`` (which the docs include) run as documented.

Each one is imported from its file and served through its framework's own test client: it
migrates on first start, answers its own ``GET /hello`` and saas-core's routes (health, OpenAPI,
then sign-up, bearer sign-in, a tenant, a project and the project list), on a fresh SQLite file
and on PostgreSQL. On PostgreSQL the one variable names the application's login role (owns
nothing, ``NOBYPASSRLS``) of a database its owner migrated and granted (``saas-core db upgrade``,
``saas-core db grant``), as in production: the start-up migration is then a no-op, and the start-up
role check passes. The owner's URL alone is refused unless explicitly allowed.
The Django project runs in a subprocess: Django's settings are per process, and this one must be
the example's own ``settings.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from saas_core import migrations
from tests.support.databases import TestDatabase

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FASTAPI_APP = EXAMPLES / "fastapi_app" / "app.py"
FLASK_APP = EXAMPLES / "flask_app" / "app.py"
DJANGO_PROJECT = EXAMPLES / "django_project"

#: ``send(method, path, json_body, headers) -> (status, parsed JSON body or None)``
Send = Callable[[str, str, Any, dict[str, str]], tuple[int, Any]]


def load_example(path: Path) -> ModuleType:
    """Import an example file as a fresh module (examples/ is not a package)."""
    name = f"example_{path.parent.name}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered like an imported module, so Flask finds the file (and its instance folder).
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Target:
    """Where an example app runs: its URL, and any other Settings fields it gets."""

    url: str
    settings: dict[str, Any] = field(default_factory=dict)
    fresh_sqlite: Path | None = None

    def environment(self) -> dict[str, str]:
        """The same target as ``SAAS_CORE_*`` environment variables."""
        env = {"SAAS_CORE_DATABASE_URL": self.url}
        for name, value in self.settings.items():
            env[f"SAAS_CORE_{name.upper()}"] = str(value)
        return env


@pytest.fixture
def target(db: TestDatabase, tmp_path: Path) -> Target:
    """SQLite: a file that does not exist yet. PostgreSQL: the app role's URL, nothing else."""
    if db.is_postgres:
        assert db.app_url is not None
        return Target(url=db.app_url.render_as_string(hide_password=False))
    path = tmp_path / "example.sqlite3"
    return Target(url=f"sqlite:///{path}", fresh_sqlite=path)


def assert_migrated(target: Target) -> None:
    """The example migrated its database on start-up."""
    if target.fresh_sqlite is not None:
        assert target.fresh_sqlite.is_file()
        assert migrations.current(target.url) == migrations.heads()[0]


def api_flow(send: Send) -> dict[str, Any]:
    """Sign up, sign in (bearer), create a tenant, switch to it, create and list a project."""
    suffix = uuid.uuid4().hex[:8]
    credentials = {"email": f"ada-{suffix}@example.com", "password": "a long example password"}
    status, user = send("POST", "/api/v1/auth/register", credentials, {})
    assert status == 201, user
    assert user["email"] == credentials["email"]
    status, login = send("POST", "/api/v1/auth/login", credentials, {})
    assert status == 200, login
    assert login["token_type"] == "bearer"
    assert login["tenant_id"] is None  # a new user has no tenant yet
    auth = {"Authorization": f"Bearer {login['token']}"}
    tenant_in = {"name": "Initech", "slug": f"initech-{suffix}"}
    status, tenant = send("POST", "/api/v1/tenants", tenant_in, auth)
    assert status == 201, tenant
    status, switched = send("PUT", "/api/v1/me/active-tenant", {"tenant_id": tenant["id"]}, auth)
    assert (status, switched["id"]) == (200, tenant["id"]), switched
    status, project = send("POST", "/api/v1/projects", {"name": "TPS reports"}, auth)
    assert status == 201, project
    status, page = send("GET", "/api/v1/projects", None, auth)
    assert status == 200, page
    assert page == {"items": [project], "next_cursor": None}
    # Without credentials the same list is refused, as in any other host app.
    status, problem = send("GET", "/api/v1/projects", None, {})
    assert status == 401, problem
    return {"tenant": tenant["id"], "project": project["id"]}


def basic_checks(send: Send, greeting: str) -> None:
    """The example's own route and saas-core's health check and OpenAPI document."""
    assert send("GET", "/hello", None, {}) == (200, {"message": greeting})
    assert send("GET", "/api/v1/health", None, {}) == (200, {"status": "ok"})
    status, document = send("GET", "/api/v1/openapi.json", None, {})
    assert status == 200
    assert "/api/v1/health" in document["paths"]


# --- FastAPI ----------------------------------------------------------------------------------


@pytest.fixture
def fastapi_send(target: Target) -> Iterator[Send]:
    from fastapi.testclient import TestClient

    app = load_example(FASTAPI_APP).create_app(target.url, **target.settings)
    with TestClient(app) as client:  # runs the lifespan: the core is disposed at exit

        def send(method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
            response = client.request(method, path, json=body, headers=headers)
            return response.status_code, response.json() if response.content else None

        yield send


def test_fastapi_example_serves_its_route_and_saas_core(target: Target, fastapi_send: Send) -> None:
    assert_migrated(target)
    basic_checks(fastapi_send, "Hello from the FastAPI app")
    api_flow(fastapi_send)
    # FastAPI's own document (behind /docs) lists saas-core's routes beside the app's.
    status, document = fastapi_send("GET", "/openapi.json", None, {})
    assert status == 200
    assert {"/hello", "/api/v1/health"} <= set(document["paths"])


# --- Flask ------------------------------------------------------------------------------------


@pytest.fixture
def flask_send(target: Target) -> Iterator[Send]:
    app = load_example(FLASK_APP).create_app(target.url, **target.settings)
    client = app.test_client()

    def send(method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        response = client.open(path, method=method, json=body, headers=headers)
        return response.status_code, response.get_json(silent=True)

    try:
        yield send
    finally:
        app.extensions["saas_core"].dispose()


def test_flask_example_serves_its_route_and_saas_core(target: Target, flask_send: Send) -> None:
    assert_migrated(target)
    basic_checks(flask_send, "Hello from the Flask app")
    api_flow(flask_send)


# --- Django (in a subprocess) -----------------------------------------------------------------

DJANGO_DRIVER = """
import json, os, sys
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
import django
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()  # lets the test Client's "testserver" host in
from django.test import Client

client = Client(enforce_csrf_checks=True)  # Django's CSRF middleware is on in the example

def send(method, path, body, headers):
    data = json.dumps(body) if body is not None else ""
    response = client.generic(method, path, data, content_type="application/json", headers=headers)
    try:
        parsed = json.loads(response.content) if response.content else None
    except ValueError:
        parsed = {"raw": response.content.decode("latin-1")}
    return response.status_code, parsed

sys.path.insert(0, os.environ["SAAS_CORE_TEST_ROOT"])
from tests.integration import test_examples as t
results = {"basic": None, "flow": None}
try:
    t.basic_checks(send, "Hello from the Django project")
    results["basic"] = "ok"
    results["flow"] = t.api_flow(send)
except AssertionError as exc:
    import traceback
    results["error"] = traceback.format_exc()
print("RESULT " + json.dumps(results, default=str))
"""


def run_django(target: Target) -> dict[str, Any]:
    """Run the Django project's checks in a fresh interpreter; its JSON report."""
    env = {
        **os.environ,
        **target.environment(),
        "SAAS_CORE_TEST_ROOT": str(ROOT),
        "PYTHONWARNINGS": "error",
    }
    done = subprocess.run(
        [sys.executable, "-c", DJANGO_DRIVER],
        cwd=DJANGO_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, (done.stdout[-2000:], done.stderr[-4000:])
    report: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    assert "error" not in report, report["error"]
    return report


def test_django_example_serves_its_route_and_saas_core(target: Target) -> None:
    report = run_django(target)
    assert report["basic"] == "ok"
    assert set(report["flow"]) == {"tenant", "project"}
    assert_migrated(target)


def test_django_example_passes_the_system_checks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'django.sqlite3'}"
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=DJANGO_PROJECT,
        env={**os.environ, "SAAS_CORE_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "no issues" in done.stdout
    # The app migrated at start-up, creating the SQLite file's folder.
    assert migrations.current(url) == migrations.heads()[0]


# --- configuration ----------------------------------------------------------------------------


def test_one_environment_variable_picks_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "from-env.sqlite3"
    monkeypatch.setenv("SAAS_CORE_DATABASE_URL", f"sqlite:///{path}")
    for example in (FASTAPI_APP, FLASK_APP):
        app = load_example(example).create_app()
        core = app.state.saas_core if example is FASTAPI_APP else app.extensions["saas_core"]
        try:
            assert core.settings.database_url == f"sqlite:///{path}"
        finally:
            core.dispose()
    assert migrations.current(f"sqlite:///{path}") == migrations.heads()[0]


def test_without_configuration_the_database_is_a_sqlite_file_beside_the_example() -> None:
    from flask import Flask

    instance = FASTAPI_APP.parent / "instance"
    assert instance == load_example(FASTAPI_APP).INSTANCE
    flask_module = load_example(FLASK_APP)
    assert Path(Flask(flask_module.__name__).instance_path) == FLASK_APP.parent / "instance"


def test_django_settings_default_to_a_local_sqlite_file() -> None:
    script = "import json, settings; print(json.dumps(settings.SAAS_CORE))"
    env = {k: v for k, v in os.environ.items() if k != "SAAS_CORE_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=DJANGO_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    options = json.loads(done.stdout)
    expected = DJANGO_PROJECT / "instance" / "saas_core.sqlite3"
    assert options == {"DATABASE_URL": f"sqlite:///{expected}"}


# --- the README shows the examples' own lines -------------------------------------------------


def _code_lines(text: str) -> list[str]:
    lines = []
    for raw in text.splitlines():
        line = raw.split("  # ", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _readme_blocks(section: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    body = readme.split(f"### {section}\n", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    return "\n".join(part.split("```", 1)[0] for part in body.split("```python\n")[1:])


@pytest.mark.parametrize(
    ("section", "files"),
    [
        ("FastAPI", [FASTAPI_APP]),
        ("Flask", [FLASK_APP]),
        ("Django", [DJANGO_PROJECT / "settings.py", DJANGO_PROJECT / "urls.py"]),
    ],
)
def test_readme_quick_starts_are_lines_of_the_tested_examples(
    section: str, files: list[Path]
) -> None:
    shown = _code_lines(_readme_blocks(section))
    assert len(shown) >= 5
    real = {line for path in files for line in _code_lines(path.read_text(encoding="utf-8"))}
    assert [line for line in shown if line not in real] == []


def test_frameworks_page_includes_every_example_file() -> None:
    page = (ROOT / "docs" / "frameworks.md").read_text(encoding="utf-8")
    for path in (FASTAPI_APP, FLASK_APP, *(DJANGO_PROJECT / n for n in ("settings.py", "urls.py"))):
        assert f'--8<-- "{path.relative_to(ROOT)}"' in page


# --- PostgreSQL roles -------------------------------------------------------------------------


@pytest.mark.postgres_only
def test_the_owners_url_alone_is_refused_unless_allowed(db: TestDatabase) -> None:
    from saas_core.errors import ConfigurationError

    owner = db.url.render_as_string(hide_password=False)
    module = load_example(FASTAPI_APP)
    with pytest.raises(ConfigurationError, match="SAAS_CORE_ALLOW_PRIVILEGED_DATABASE_ROLE"):
        module.create_app(owner)
    app = module.create_app(owner, allow_privileged_database_role=True)
    app.state.saas_core.dispose()


@pytest.mark.postgres_only
def test_the_app_role_serves_while_the_owner_migrates(db: TestDatabase) -> None:
    from fastapi.testclient import TestClient

    assert db.app_url is not None
    app = load_example(FASTAPI_APP).create_app(
        db.app_url.render_as_string(hide_password=False),
        migration_database_url=db.url.render_as_string(hide_password=False),
    )
    with TestClient(app) as client:
        assert client.get("/api/v1/health").json() == {"status": "ok"}
