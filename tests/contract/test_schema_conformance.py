"""Schemathesis drives the sample table through Flask from its own OpenAPI document.

Every response must be documented (status, content type, body schema) and none may be a 5xx
other than the deliberate ``/boom``: this checks the generator and the pipeline against each other.
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from saas_core.api import system
from saas_core.config import Settings
from saas_core.core import Core
from saas_core_flask import SaasCore
from tests.contract.sample_api import Counter, TokenAuthenticator, build_table
from tests.support.databases import TestDatabase

#: The test sends a valid bearer token on every case, so "invalid auth" variants still pass; a
#: pagination cursor is opaque, so a schema-valid string is not necessarily a cursor (422).
EXCLUDED = [ignored_auth, positive_data_acceptance]


@pytest.mark.sqlite_only
def test_responses_conform_to_the_generated_document(db: TestDatabase) -> None:
    settings_ = Settings(
        database_url=db.url.render_as_string(False), allow_privileged_database_role=True
    )
    routes = build_table(Counter())
    routes.include(system.routes)
    core = Core(settings_, engine=db.engine, routes=routes, authenticator=TokenAuthenticator())
    app = Flask("schema")
    SaasCore(app, core=core)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    checked: set[str] = set()
    for operation in schema.get_all_operations():
        op = operation.ok()
        if op.path in ("/api/v1/boom", "/api/v1/integrity", "/api/v1/raw"):  # deliberate
            continue

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case: schemathesis.Case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": "Bearer member"}
            case.validate_response(case.call(), excluded_checks=EXCLUDED)

        check()
        checked.add(op.definition.raw["operationId"])
    # Schemathesis leaves out the document's own operation (openapi).
    assert checked == {r.name for r in routes} - {"boom", "integrity", "raw", "openapi"}
