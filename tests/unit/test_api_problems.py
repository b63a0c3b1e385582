"""One mapping from errors to problem details, with deterministic bytes."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from saas_core.api.problems import problem_for, problem_response
from saas_core.errors import (
    AccountLocked,
    ConfigurationError,
    InvalidCredentials,
    MethodNotAllowed,
    ProjectNotFound,
    SaasCoreError,
    ValidationFailed,
)


def test_problem_members_and_bytes_are_fixed() -> None:
    response = problem_response(
        ProjectNotFound("no project 42"), instance="/api/v1/projects/x", request_id="r1"
    )
    assert response.status == 404
    assert response.headers == [("Content-Type", "application/problem+json")]
    assert response.body == (
        b'{"type":"https://saas-core.dev/problems/project.not_found","title":"Project not found",'
        b'"status":404,"detail":"no project 42","instance":"/api/v1/projects/x",'
        b'"code":"project.not_found","request_id":"r1"}'
    )


def test_validation_problems_list_errors() -> None:
    errors = [{"loc": ["body", "name"], "msg": "Field required", "type": "missing"}]
    body = problem_for(ValidationFailed(errors=errors), instance="/x", request_id="r")
    assert body["errors"] == errors
    assert list(body)[-1] == "errors"


def test_non_ascii_is_kept_verbatim() -> None:
    response = problem_response(ProjectNotFound("projet « é »"), instance="/x", request_id="r")
    assert "« é »".encode() in response.body


def test_server_errors_hide_their_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="saas_core.api")
    response = problem_response(
        ConfigurationError("password=hunter2 in URL"), instance="/x", request_id="r9"
    )
    assert response.status == 500
    assert b"hunter2" not in response.body
    assert json.loads(response.body)["detail"] == "Configuration error"
    assert "r9" in caplog.text


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (IntegrityError("INSERT", {}, Exception("dup")), 409, "database.integrity"),
        (OperationalError("SELECT", {}, Exception("gone")), 500, "database.error"),
        (KeyError("secret"), 500, "saas_core.error"),
        (SaasCoreError(), 500, "saas_core.error"),
    ],
)
def test_foreign_errors_are_wrapped(exc: Exception, status: int, code: str) -> None:
    response = problem_response(exc, instance="/x", request_id="r")
    body = json.loads(response.body)
    assert (response.status, body["code"]) == (status, code)
    assert b"secret" not in response.body
    assert b"dup" not in response.body


def test_challenge_allow_and_retry_after_headers() -> None:
    unauth = problem_response(InvalidCredentials(), instance="/x", request_id="r")
    assert ("WWW-Authenticate", 'Bearer realm="saas-core"') in unauth.headers
    method = problem_response(
        MethodNotAllowed(allow=["GET", "POST"]), instance="/x", request_id="r"
    )
    assert ("Allow", "GET, POST") in method.headers
    locked = problem_response(AccountLocked(retry_after=90), instance="/x", request_id="r")
    assert (locked.status, ("Retry-After", "90") in locked.headers) == (429, True)
