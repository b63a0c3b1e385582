"""One transaction per request, and the audit hook inside it."""

from __future__ import annotations

import uuid

from tests.contract.conftest import Sample
from tests.contract.sample_api import TENANT, USER

MEMBER = {"Authorization": "Bearer member"}


def test_a_failing_handler_rolls_its_writes_back(sample: Sample) -> None:
    result = sample.adapters.same("POST", "/api/v1/users", headers=MEMBER)
    assert result.status == 409
    assert result.json()["detail"] == "changed my mind"
    count = sample.adapters.same("GET", "/api/v1/users/count")
    assert count.json() == {"value": 0}
    assert sample.audit.entries == []  # a failed request leaves no audit record


def test_mutating_routes_are_audited_with_the_request_facts(sample: Sample) -> None:
    results = sample.adapters.each(
        "POST",
        "/api/v1/widgets",
        headers={**MEMBER, "User-Agent": "contract/1"},
        json_body={"name": "a", "size": 3},
    )
    assert [r.status for r in results] == [201, 201, 201]
    assert len(sample.audit.entries) == 3
    widget = uuid.uuid5(uuid.UUID("0190a0a0-0000-7000-8000-0000000000ff"), "a")
    for entry in sample.audit.entries:
        assert entry.action == "widget.create"
        assert entry.actor == USER
        assert entry.tenant == TENANT
        assert entry.impersonator is None
        assert entry.target == ("widget", str(widget))
        assert entry.metadata == {"size": 3}
        assert entry.request_id == "contract-test-request"
        assert entry.user_agent == "contract/1"
        assert entry.client_ip
        assert entry.occurred_at.tzinfo is not None


def test_the_target_defaults_to_the_last_id_in_the_path(sample: Sample) -> None:
    widget = uuid.uuid4()
    sample.adapters.same("DELETE", f"/api/v1/widgets/{widget}", headers=MEMBER)
    assert [e.target for e in sample.audit.entries] == [("widget", str(widget))] * 3


def test_reads_are_not_audited(sample: Sample) -> None:
    sample.adapters.same("GET", "/api/v1/widgets", headers=MEMBER)
    sample.adapters.same("GET", f"/api/v1/widgets/{uuid.uuid4()}", headers=MEMBER)
    assert sample.audit.entries == []
