"""Authentication, authorisation, CSRF and cookies through the three adapters."""

from __future__ import annotations

import uuid

from saas_core.core import Transport
from tests.contract.conftest import Sample
from tests.contract.sample_api import TENANT, USER

SESSION = "__Host-session"
CSRF = "__Host-csrftoken"
BODY = {"name": "a", "size": 1}


def test_no_credentials_is_a_401_with_a_challenge(sample: Sample) -> None:
    result = sample.adapters.same("GET", f"/api/v1/widgets/{uuid.uuid4()}")
    assert result.status == 401
    assert result.json()["code"] == "auth.unauthenticated"
    assert result.headers["www-authenticate"].startswith("Bearer")


def test_other_authorization_schemes_and_bad_tokens_are_401(sample: Sample) -> None:
    basic = sample.adapters.same("GET", "/api/v1/widgets", headers={"Authorization": "Basic eA=="})
    assert basic.status == 401
    unknown = sample.adapters.same("GET", "/api/v1/widgets", headers={"Authorization": "Bearer x"})
    assert unknown.status == 401
    assert unknown.json()["code"] == "auth.session_invalid"


def test_missing_permission_is_a_403(sample: Sample) -> None:
    headers = {"Authorization": "Bearer viewer"}
    result = sample.adapters.same("POST", "/api/v1/widgets", headers=headers, json_body=BODY)
    assert result.status == 403
    assert result.json()["code"] == "iam.forbidden"
    assert sample.counter.runs == 0


def test_tenant_routes_need_an_active_tenant(sample: Sample) -> None:
    headers = {"Authorization": "Bearer lonely"}
    result = sample.adapters.same("GET", "/api/v1/widgets", headers=headers)
    assert result.status == 409
    assert result.json()["code"] == "tenant.required"


def test_platform_routes_check_platform_permissions(sample: Sample) -> None:
    denied = sample.adapters.same(
        "GET", "/api/v1/audit", headers={"Authorization": "Bearer member"}
    )
    assert denied.status == 403
    allowed = sample.adapters.same(
        "GET", "/api/v1/audit", headers={"Authorization": "Bearer operator"}
    )
    assert allowed.status == 200


def test_api_key_routes_refuse_sessions(sample: Sample) -> None:
    denied = sample.adapters.same(
        "POST", "/api/v1/usage", headers={"Authorization": "Bearer member"}
    )
    assert denied.status == 403
    allowed = sample.adapters.same("POST", "/api/v1/usage", headers={"Authorization": "Bearer key"})
    assert allowed.status == 200
    assert allowed.json() == {"value": "api_key:9"}


def test_cookie_unsafe_request_without_csrf_token_is_refused(sample: Sample) -> None:
    cookies = {SESSION: "member", CSRF: "tok"}
    result = sample.adapters.same("POST", "/api/v1/widgets", cookies=cookies, json_body=BODY)
    assert result.status == 403
    assert result.json()["code"] == "auth.csrf_failed"
    wrong = sample.adapters.same(
        "POST", "/api/v1/widgets", cookies=cookies, headers={"X-CSRF-Token": "nope"}, json_body=BODY
    )
    assert wrong.status == 403
    no_cookie = sample.adapters.same(
        "POST",
        "/api/v1/widgets",
        cookies={SESSION: "member"},
        headers={"X-CSRF-Token": ""},
        json_body=BODY,
    )
    assert no_cookie.status == 403
    assert sample.counter.runs == 0
    assert sample.authenticator.transports == []  # refused before any database work


def test_cookie_unsafe_request_with_matching_token_passes(sample: Sample) -> None:
    cookies = {SESSION: "member", CSRF: "tok"}
    result = sample.adapters.same(
        "POST", "/api/v1/widgets", cookies=cookies, headers={"X-CSRF-Token": "tok"}, json_body=BODY
    )
    assert result.status == 201
    assert set(sample.authenticator.transports) == {Transport.COOKIE}


def test_cookie_safe_requests_and_bearer_requests_need_no_csrf_token(sample: Sample) -> None:
    read = sample.adapters.same("GET", "/api/v1/widgets", cookies={SESSION: "member"})
    assert read.status == 200
    bearer = sample.adapters.same(
        "POST",
        "/api/v1/widgets",
        headers={"Authorization": "Bearer member"},
        cookies={SESSION: "viewer"},
        json_body=BODY,
    )
    assert bearer.status == 201


def _attributes(set_cookie: str) -> tuple[str, set[str]]:
    pair, *rest = (part.strip() for part in set_cookie.split(";"))
    return pair, {part.lower() for part in rest}


def test_handlers_set_and_delete_cookies(sample: Sample) -> None:
    results = sample.adapters.each("POST", "/api/v1/session", json_body={"token": "member"})
    for result in results:
        assert result.status == 204, result
        pair, attributes = _attributes(result.cookie(SESSION))
        assert pair == f"{SESSION}=member"
        assert {"httponly", "secure", "samesite=lax", "path=/"} <= attributes, result.adapter
        pair, attributes = _attributes(result.cookie(CSRF))
        assert pair == f"{CSRF}=csrf-member"
        assert "httponly" not in attributes
        assert "secure" in attributes
    entry = sample.audit.entries[0]
    assert (entry.action, entry.actor, entry.tenant) == ("auth.login", USER, None)

    cookies = {SESSION: "member", CSRF: "t"}
    results = sample.adapters.each(
        "DELETE", "/api/v1/session", cookies=cookies, headers={"X-CSRF-Token": "t"}
    )
    for result in results:
        assert result.status == 204
        pair, attributes = _attributes(result.cookie(SESSION))
        assert pair in (f"{SESSION}=", f'{SESSION}=""')
        assert "max-age=0" in attributes, result.adapter
    logout = sample.audit.entries[-1]
    assert (logout.action, logout.actor, logout.tenant) == ("auth.logout", USER, TENANT)
