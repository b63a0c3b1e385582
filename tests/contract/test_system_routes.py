"""The API's own routes through the three adapters, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from tests.contract.harness import REQUEST_ID, Adapters
from tests.support.databases import TestDatabase


def test_health_answers_ok_after_a_database_round_trip(serve: Callable[..., Adapters]) -> None:
    result = serve().same("GET", "/api/v1/health")
    assert result.status == 200
    assert result.body == b'{"status":"ok"}'
    assert result.headers["content-type"] == "application/json"
    assert result.headers["x-request-id"] == REQUEST_ID


def test_openapi_document_is_served_identically(serve: Callable[..., Adapters]) -> None:
    result = serve().same("GET", "/api/v1/openapi.json")
    assert result.status == 200
    document = result.json()
    assert document["openapi"] == "3.1.0"
    assert document["paths"]["/api/v1/health"]["get"]["operationId"] == "health"
    assert "Problem" in document["components"]["schemas"]


def test_undeclared_method_is_a_405_problem(serve: Callable[..., Adapters]) -> None:
    result = serve().same("DELETE", "/api/v1/health")
    assert result.status == 405
    assert result.headers["content-type"] == "application/problem+json"
    assert result.headers["allow"] == "GET"
    assert result.json()["code"] == "request.method_not_allowed"


def test_insane_request_id_is_replaced(serve: Callable[..., Adapters]) -> None:
    results = serve().each("GET", "/api/v1/health", headers={"X-Request-ID": "bad id <script>"})
    for result in results:
        assert result.status == 200
        assert result.headers["x-request-id"] != "bad id <script>"
        assert len(result.headers["x-request-id"]) == 32


def test_head_is_served_by_get_and_options_lists_methods(serve: Callable[..., Adapters]) -> None:
    adapters = serve()
    head = adapters.same("HEAD", "/api/v1/health")
    assert head.status == 200
    assert head.body == b""
    options = adapters.same("OPTIONS", "/api/v1/health")
    assert options.status == 204
    assert options.headers["allow"] == "GET, OPTIONS"


def test_django_builds_its_core_from_settings(db: TestDatabase) -> None:
    from django.test import Client, override_settings

    import saas_core_django

    options = {
        "DATABASE_URL": db.url.render_as_string(False),
        "ALLOW_PRIVILEGED_DATABASE_ROLE": True,
    }
    saas_core_django.configure(None)
    with override_settings(SAAS_CORE=options):
        try:
            response = Client().get("/api/v1/health")
            core = saas_core_django.get_core()
            assert core.settings.allow_privileged_database_role is True
            assert core is saas_core_django.get_core()
        finally:
            saas_core_django.get_core().dispose()
            saas_core_django.configure(None)
    assert response.status_code == 200
    assert response.content == b'{"status":"ok"}'
