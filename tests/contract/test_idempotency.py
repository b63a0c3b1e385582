"""``Idempotency-Key``: replay, mismatch, in-flight conflict, release on failure, PG races."""

from __future__ import annotations

import threading

import pytest

from saas_core.api.hooks import IdempotencyOutcome, IdempotencyRequest, RecordingAuditSink
from saas_core.api.http import Headers, HttpRequest
from saas_core.api.pipeline import request_fingerprint
from saas_core.clock import FakeClock
from saas_core.config import Settings
from saas_core.core import Core
from tests.contract.conftest import MakeCore, Sample
from tests.contract.sample_api import Counter, TokenAuthenticator, WidgetIn, build_table
from tests.support.databases import TestDatabase

MEMBER = {"Authorization": "Bearer member"}
CALLER = "user:0190a0a0-0000-7000-8000-000000000001"


def post(sample: Sample, key: str | None, body: dict[str, object]) -> object:
    headers = dict(MEMBER) if key is None else {**MEMBER, "Idempotency-Key": key}
    return sample.adapters.each("POST", "/api/v1/widgets", headers=headers, json_body=body)


def test_a_replay_returns_the_first_response_without_running_again(sample: Sample) -> None:
    headers = {**MEMBER, "Idempotency-Key": "k-1"}
    body = {"name": "a", "size": 1}
    results = sample.adapters.each("POST", "/api/v1/widgets", headers=headers, json_body=body)
    # The key is the caller's, not the adapter's: the Flask and Django calls are replays.
    assert [r.status for r in results] == [201, 201, 201]
    assert len({r.body for r in results}) == 1
    assert [r.headers.get("idempotent-replayed") for r in results] == [None, "true", "true"]
    assert results[1].headers["content-type"] == "application/json"
    assert sample.counter.runs == 1
    assert len(sample.audit.entries) == 1
    # The same payload written differently is the same request.
    spaced = b'{ "size": 1, "name": "a" }'
    again = sample.adapters.same(
        "POST", "/api/v1/widgets", headers=headers, body=spaced, content_type="application/json"
    )
    assert again.body == results[0].body
    assert sample.counter.runs == 1


def test_the_same_key_with_another_payload_is_a_422(sample: Sample) -> None:
    headers = {**MEMBER, "Idempotency-Key": "k-2"}
    sample.adapters.each(
        "POST", "/api/v1/widgets", headers=headers, json_body={"name": "a", "size": 1}
    )
    result = sample.adapters.same(
        "POST", "/api/v1/widgets", headers=headers, json_body={"name": "a", "size": 2}
    )
    assert result.status == 422
    assert result.json()["code"] == "idempotency.key_reused"
    assert sample.counter.runs == 1


def test_a_retry_while_the_first_runs_is_a_409(sample: Sample) -> None:
    body = WidgetIn(name="a", size=1)
    claim = IdempotencyRequest(
        CALLER,
        "k-3",
        "POST",
        "/api/v1/widgets",
        request_fingerprint("POST", "/api/v1/widgets", None, body),
    )
    assert sample.core.idempotency_store.begin(claim).outcome is IdempotencyOutcome.PROCEED
    result = sample.adapters.same(
        "POST",
        "/api/v1/widgets",
        headers={**MEMBER, "Idempotency-Key": "k-3"},
        json_body={"name": "a", "size": 1},
    )
    assert result.status == 409
    assert result.json()["code"] == "idempotency.in_flight"
    assert sample.counter.runs == 0


def test_a_failed_request_releases_its_key(sample: Sample) -> None:
    headers = {**MEMBER, "Idempotency-Key": "k-4"}
    body = {"name": "explode", "size": 1}
    results = sample.adapters.each("POST", "/api/v1/widgets", headers=headers, json_body=body)
    assert [r.status for r in results] == [409, 409, 409]
    assert sample.counter.runs == 3  # each retry ran again: failures are not replayed


def test_keys_are_scoped_to_the_caller(sample: Sample) -> None:
    body = {"name": "a", "size": 1}
    for token in ("member", "colleague"):
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "shared"}
        result = sample.adapters.each("POST", "/api/v1/widgets", headers=headers, json_body=body)
        assert [r.headers.get("idempotent-replayed") for r in result] == [None, "true", "true"]
    assert sample.counter.runs == 2  # one run per caller, never a replay of the other's


def test_anonymous_callers_keys_are_ignored(sample: Sample) -> None:
    # A public route has no caller to scope a key to: replaying would leak another's answer.
    for _ in range(2):
        result = sample.adapters.same(
            "POST",
            "/api/v1/session",
            headers={"Idempotency-Key": "anon"},
            json_body={"token": "member"},
        )
        assert result.status == 204


def test_malformed_keys_are_a_400(sample: Sample) -> None:
    result = sample.adapters.same(
        "POST",
        "/api/v1/widgets",
        headers={**MEMBER, "Idempotency-Key": "x" * 256},
        json_body={"name": "a", "size": 1},
    )
    assert result.status == 400
    assert result.json()["code"] == "idempotency.key_invalid"


def test_expired_keys_and_stale_leases_run_again(make_core: MakeCore) -> None:
    clock = FakeClock()
    counter = Counter()
    core = make_core(routes=build_table(counter), authenticator=TokenAuthenticator(), clock=clock)
    store = core.idempotency_store
    body = WidgetIn(name="a", size=1)
    claim = IdempotencyRequest(
        CALLER, "k-5", "POST", "/p", request_fingerprint("POST", "/p", None, body)
    )
    assert store.begin(claim).outcome is IdempotencyOutcome.PROCEED
    assert store.begin(claim).outcome is IdempotencyOutcome.IN_FLIGHT
    clock.advance(seconds=61)  # the first attempt died: its lease ran out
    assert store.begin(claim).outcome is IdempotencyOutcome.PROCEED
    clock.advance(hours=24)
    other = IdempotencyRequest(CALLER, "k-5", "POST", "/p", "0" * 64)
    assert store.begin(other).outcome is IdempotencyOutcome.PROCEED  # expired: a new request
    clock.advance(hours=25)
    assert store.purge_expired() == 1  # type: ignore[attr-defined]


@pytest.fixture
def pg_core(pg: TestDatabase) -> tuple[Core, Counter]:
    counter = Counter()
    settings = Settings(
        database_url=pg.url.render_as_string(False), allow_privileged_database_role=True
    )
    core = Core(
        settings,
        engine=pg.engine,
        routes=build_table(counter),
        authenticator=TokenAuthenticator(),
        audit_sink=RecordingAuditSink(),
    )
    return core, counter


@pytest.mark.postgres_only
def test_concurrent_duplicates_run_once_on_postgresql(pg_core: tuple[Core, Counter]) -> None:
    core, counter = pg_core
    counter.hold = 0.3
    api = core.api
    endpoint = api.endpoint("create_widget")
    statuses: list[int] = []
    start = threading.Barrier(4)

    def attempt() -> None:
        request = HttpRequest(
            "POST",
            "/api/v1/widgets",
            Headers(
                [
                    ("Authorization", "Bearer member"),
                    ("Idempotency-Key", "race"),
                    ("Content-Type", "application/json"),
                ]
            ),
            body=b'{"name": "a", "size": 1}',
        )
        start.wait()
        statuses.append(api.handle(endpoint, request, {}).status)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409, 409, 409]
    assert counter.runs == 1
    counter.hold = 0
    replay = api.handle(
        endpoint,
        HttpRequest(
            "POST",
            "/api/v1/widgets",
            Headers(
                [
                    ("Authorization", "Bearer member"),
                    ("Idempotency-Key", "race"),
                    ("Content-Type", "application/json"),
                ]
            ),
            body=b'{"name": "a", "size": 1}',
        ),
        {},
    )
    assert replay.status == 201
    assert replay.header("Idempotent-Replayed") == "true"
