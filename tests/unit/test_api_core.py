"""The Core object and the pipeline's defaults, without a web framework."""

from __future__ import annotations

from pathlib import Path

from saas_core.api.contract import Route
from saas_core.api.hooks import NullAuditSink
from saas_core.api.http import Headers, HttpRequest
from saas_core.api.pipeline import execute
from saas_core.audit.service import DatabaseAuditSink
from saas_core.config import Settings
from saas_core.context import AuthMethod
from saas_core.core import AnonymousAuthenticator, Core, Credentials, NoTenantBinder, Transport
from saas_core.tenancy.context import ContextTenantBinder, SessionAuthenticator


def make_core(tmp_path: Path, **settings: object) -> Core:
    url = f"sqlite:///{tmp_path / 'core.sqlite3'}"
    return Core(Settings(database_url=url, **settings))  # type: ignore[arg-type]


def test_defaults_are_the_real_identity_tenancy_and_audit_ports(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    try:
        assert isinstance(core.authenticator, SessionAuthenticator)
        assert isinstance(core.tenant_binder, ContextTenantBinder)
        assert isinstance(core.audit_sink, DatabaseAuditSink)
        ctx = core.authenticator.authenticate(
            core.sessionmaker(), Credentials(Transport.NONE, None, "rid", "1.2.3.4", "ua")
        )
        assert (ctx.auth_method, ctx.request_id, ctx.client_ip) == (
            AuthMethod.ANONYMOUS,
            "rid",
            "1.2.3.4",
        )
        names = [route.name for route in core.routes]
        assert {"health", "openapi"} <= set(names)
        assert core.api is core.api
        health: Route = core.routes.get("health")
        response = execute(core, health, HttpRequest("GET", "/api/v1/health", Headers()), {})
        assert (response.status, response.body) == (200, b'{"status":"ok"}')
    finally:
        core.dispose()


def test_fakes_replace_the_default_ports(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'core.sqlite3'}"
    core = Core(
        Settings(database_url=url),
        authenticator=AnonymousAuthenticator(),
        tenant_binder=NoTenantBinder(),
        audit_sink=NullAuditSink(),
    )
    try:
        assert isinstance(core.authenticator, AnonymousAuthenticator)
        assert isinstance(core.tenant_binder, NoTenantBinder)
        assert isinstance(core.audit_sink, NullAuditSink)
    finally:
        core.dispose()


def test_cookie_names_take_the_host_prefix_only_when_secure(tmp_path: Path) -> None:
    secure = make_core(tmp_path)
    assert (secure.session_cookie_name, secure.csrf_cookie_name) == (
        "__Host-session",
        "__Host-csrftoken",
    )
    plain = make_core(tmp_path, cookie_secure=False)
    assert (plain.session_cookie_name, plain.csrf_cookie_name) == ("session", "csrftoken")
    secure.dispose()
    plain.dispose()


def test_credentials_never_show_the_token() -> None:
    assert "s3cret" not in repr(Credentials(Transport.COOKIE, "s3cret"))
