"""The demo: seeding through the real services, ``saas-core seed``, and ``saas-core demo`` served.

The end-to-end test runs ``saas-core demo`` exactly as ``make demo`` does (a subprocess, a SQLite
file in a folder that does not exist yet, a free port), reads the login it prints, signs in over
HTTP with a bearer token and lists the demo tenant's projects.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from saas_core import cli, demo_cli
from saas_core.clock import SystemClock
from saas_core.config import Settings
from saas_core.demo import DEMO_EMAIL, DEMO_PROJECTS, DemoCredentials, seed_demo
from saas_core.errors import ConfigurationError
from saas_core.iam.models import Role
from saas_core.identity.models import User
from saas_core.identity.ports import InMemoryOutbox
from saas_core.identity.service import IdentityService
from saas_core.projects.models import Project
from saas_core.tenancy.models import Tenant, TenantMember
from tests.support.databases import TestDatabase

ROOT = Path(__file__).resolve().parents[2]


def app_url(db: TestDatabase) -> str:
    """The URL seeding uses: on PostgreSQL the non-owner role, so Row Level Security applies."""
    url = db.app_url if db.is_postgres else db.url
    assert url is not None
    return url.render_as_string(hide_password=False)


def counts(db: TestDatabase) -> dict[str, int]:
    with Session(db.engine) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (User, Tenant, TenantMember, Project)
        }


def can_log_in(db: TestDatabase, credentials: DemoCredentials) -> bool:
    identity = IdentityService(Settings(), SystemClock(), InMemoryOutbox())
    with Session(db.engine) as session, session.begin():
        user = identity.find_live_user(session, credentials.email)
        assert user is not None
        assert user.password_hash is not None
        return identity.passwords.verify(user.password_hash, credentials.password)


# --- seeding --------------------------------------------------------------------------------


def test_seed_creates_a_verified_owner_of_acme_with_projects(db: TestDatabase) -> None:
    credentials = seed_demo(app_url(db))

    assert credentials.email == DEMO_EMAIL
    assert credentials.projects == tuple(name for name, _ in DEMO_PROJECTS)
    assert counts(db) == {"users": 1, "tenants": 1, "tenant_members": 1, "projects": 3}
    with Session(db.engine) as session:
        user = session.scalars(select(User)).one()
        assert user.email_verified_at is not None
        tenant = session.scalars(select(Tenant)).one()
        assert (tenant.name, tenant.slug, tenant.public_id) == (
            "Acme",
            "acme",
            credentials.tenant_id,
        )
        role = session.scalar(select(Role.key).join(TenantMember, TenantMember.role_id == Role.id))
        assert role == "owner"
        projects = session.scalars(select(Project).order_by(Project.id)).all()
        assert [p.name for p in projects] == list(credentials.projects)
        assert {p.tenant_id for p in projects} == {tenant.id}
        assert {p.created_by_id for p in projects} == {user.id}
    assert can_log_in(db, credentials)


def test_seed_is_idempotent_and_prints_a_login_that_works(db: TestDatabase) -> None:
    first = seed_demo(app_url(db))
    second = seed_demo(app_url(db))
    pinned = seed_demo(app_url(db), password="pinned demo password")

    assert counts(db) == {"users": 1, "tenants": 1, "tenant_members": 1, "projects": 3}
    assert first.tenant_id == second.tenant_id == pinned.tenant_id
    assert first.password != second.password
    assert pinned.password == "pinned demo password"
    assert can_log_in(db, pinned)
    assert not can_log_in(db, first)


def test_seed_refuses_an_acme_tenant_it_does_not_own(db: TestDatabase) -> None:
    seed_demo(app_url(db))
    with Session(db.engine) as session, session.begin():
        session.execute(User.__table__.update().values(email="someone-else@example.com"))
    with pytest.raises(ConfigurationError, match="not a member"):
        seed_demo(app_url(db))


@pytest.mark.sqlite_only
def test_seed_command_migrates_and_prints_the_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new-folder' / 'demo.sqlite3'}"

    assert cli.main(["seed", "--database-url", url, "--password", "a demo password"]) == 0

    out = capsys.readouterr().out
    assert "demo@example.com" in out
    assert "Password:    a demo password" in out
    assert "Acme (acme)" in out
    assert "Website relaunch" in out


def test_demo_without_uvicorn_prints_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    real = demo_cli.importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "uvicorn" else real(name, *args)

    monkeypatch.setattr(demo_cli.importlib.util, "find_spec", find_spec)
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"

    assert cli.main(["demo", "--database-url", url]) == 2

    err = capsys.readouterr().err.strip()
    assert err == (
        "saas-core: error: uvicorn is not installed;"
        ' install it with: pip install "saas-core[fastapi]"'
    )
    assert not (tmp_path / "demo.sqlite3").exists()  # nothing done before the check


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert demo_cli.is_loopback(host) is loopback


def test_demo_serves_the_example_app_with_cookies_fit_for_plain_http(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    app, source = demo_cli.build_app(url, cookie_secure=False)
    try:
        assert source == str(ROOT / "examples" / "fastapi_app" / "app.py")
        core = app.state.saas_core
        assert core.settings.cookie_secure is False
        assert core.session_cookie_name == "session"  # no __Host- prefix without Secure
    finally:
        app.state.saas_core.dispose()


# --- end to end: `saas-core demo` as `make demo` runs it --------------------------------------

STARTUP_TIMEOUT = 90.0
REQUEST_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Banner:
    """What the demo printed before serving."""

    api: str
    docs: str
    email: str
    password: str
    token_field: str
    text: str


class DemoProcess:
    """``saas-core demo`` in a subprocess; its output read by a thread, line by line."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("SAAS_CORE_DATABASE_URL", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "saas_core.cli", "demo", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert self.process.stdout is not None
        threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def read_until(self, pattern: str, timeout: float) -> str:
        """Everything printed until a line matches ``pattern`` (fails on exit or timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.output}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the demo exited ({self.process.poll()}):\n{self.output}")
            self.seen.append(line)
            if re.search(pattern, line):
                return self.output

    @property
    def output(self) -> str:
        return "".join(self.seen)

    def stop(self) -> int | None:
        """Interrupt the server (as Ctrl+C does), then kill it if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def parse_banner(text: str) -> Banner:
    def field(label: str) -> str:
        match = re.search(rf"^\s*{label}:\s+(\S.*?)\s*$", text, re.MULTILINE)
        assert match, f"no {label!r} in:\n{text}"
        return match.group(1)

    email, password = field("Login").split(" / ")
    token_field = re.search(r'\["(\w+)"\]', text)
    assert token_field, text
    return Banner(
        api=field("API"),
        docs=field("API docs"),
        email=email,
        password=password,
        token_field=token_field.group(1),
        text=text,
    )


@dataclass
class Running:
    """A demo serving, what it printed, and its SQLite file (None on PostgreSQL)."""

    demo: DemoProcess
    banner: Banner
    sqlite_file: Path | None


@pytest.fixture
def running_demo(db: TestDatabase, tmp_path: Path) -> Iterator[Running]:
    """``saas-core demo`` on a free port.

    SQLite: a new file in a folder that does not exist yet (as ``make demo`` on a fresh clone).
    PostgreSQL: migrated and seeded as the schema owner, served as the application role.
    """
    sqlite_file: Path | None = None
    if db.is_postgres:
        assert db.app_url is not None
        urls = [
            "--database-url",
            db.url.render_as_string(hide_password=False),
            "--app-database-url",
            db.app_url.render_as_string(hide_password=False),
        ]
    else:
        sqlite_file = tmp_path / "not-yet" / "demo.sqlite3"
        urls = ["--database-url", f"sqlite:///{sqlite_file}"]
    port = free_port()
    demo = DemoProcess([*urls, "--host", "127.0.0.1", "--port", str(port)], cwd=tmp_path)
    try:
        text = demo.read_until(r"Press Ctrl\+C", STARTUP_TIMEOUT)
        banner = parse_banner(text)
        assert banner.api == f"http://127.0.0.1:{port}/api/v1"
        wait_until_serving(banner.api, demo)
        yield Running(demo, banner, sqlite_file)
    finally:
        demo.stop()


def wait_until_serving(api: str, demo: DemoProcess) -> None:
    import httpx

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        assert demo.process.poll() is None, demo.output
        try:
            if httpx.get(f"{api}/health", timeout=REQUEST_TIMEOUT).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the demo did not answer within {STARTUP_TIMEOUT}s:\n{demo.output}")


def test_demo_prints_the_urls_and_the_login_then_serves(
    running_demo: Running,
) -> None:
    import httpx

    banner = running_demo.banner
    if running_demo.sqlite_file is not None:
        assert running_demo.sqlite_file.is_file()  # the folder was made, the file migrated
    assert banner.email == DEMO_EMAIL
    assert re.fullmatch(r"[A-Za-z0-9]{16}", banner.password)
    assert str(ROOT / "examples" / "fastapi_app" / "app.py") in banner.text
    assert "Cookies are not Secure in this demo" in banner.text
    base = banner.api.removesuffix("/api/v1")
    assert banner.docs == f"{base}/docs"
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        assert client.get(f"{base}/hello").json() == {"message": "Hello from the FastAPI app"}
        assert client.get(banner.docs).status_code == 200
        paths = client.get(f"{base}/openapi.json").json()["paths"]
        assert "/api/v1/health" in paths


def test_demo_login_lists_the_demo_tenants_projects(
    running_demo: Running,
) -> None:
    import httpx

    banner = running_demo.banner
    login = {"email": banner.email, "password": banner.password}
    with httpx.Client(base_url=banner.api, timeout=REQUEST_TIMEOUT) as client:
        signed_in = client.post("/auth/login", json=login)
        assert signed_in.status_code == 200, signed_in.text
        body = signed_in.json()
        token = body[banner.token_field]  # the field the printed curl example reads
        auth = {"Authorization": f"Bearer {token}"}

        tenants = client.get("/tenants", headers=auth).json()["items"]
        acme = next(t for t in tenants if t["slug"] == "acme")
        assert (acme["name"], acme["role"]) == ("Acme", "owner")
        # Sign-in opens the demo user's only tenant, so the printed curl session (sign in, then
        # list) needs no tenant switch.
        assert body["tenant_id"] == acme["id"]

        listed = client.get("/projects", headers=auth)
        assert listed.status_code == 200, listed.text
        names = [project["name"] for project in listed.json()["items"]]
        assert names == [name for name, _ in DEMO_PROJECTS]


@pytest.mark.skipif(shutil.which("curl") is None, reason="the printed session uses curl")
def test_the_printed_curl_session_works_as_printed(
    running_demo: Running,
) -> None:
    banner = running_demo.banner
    script = banner.text.split("list the demo tenant's projects:\n", 1)[1]
    script = script.split("Press Ctrl+C", 1)[0]
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (script, done.stdout, done.stderr)
    page = json.loads(done.stdout)
    assert [project["name"] for project in page["items"]] == [name for name, _ in DEMO_PROJECTS]


def test_the_printed_login_body_is_json_whatever_the_password() -> None:
    credentials = DemoCredentials(
        email=DEMO_EMAIL,
        password='it\'s "quoted" $HOME',
        tenant_name="Acme",
        tenant_slug="acme",
        tenant_id=uuid.uuid4(),
        projects=("a",),
    )
    text = demo_cli.banner(credentials, "0.0.0.0", 8000, source="bare", loopback=False)
    assert "http://127.0.0.1:8000/api/v1" in text
    assert "/hello" not in text  # a bare app has no route of its own
    assert "Cookies are Secure (HTTPS only)" in text
    quoted = re.search(r"-d (.+?) \| python3", text)
    assert quoted
    (body,) = shlex.split(quoted.group(1))
    assert json.loads(body) == {"email": DEMO_EMAIL, "password": credentials.password}
