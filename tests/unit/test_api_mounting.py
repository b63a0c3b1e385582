"""How a table is compiled for adapters, and what FastAPI's own docs show of it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from saas_core.api.contract import PUBLIC, Call, RouteTable, permission
from saas_core.config import Settings
from saas_core.core import Core
from saas_core_fastapi import saas_router
from tests.contract.sample_api import Counter, build_table


def noop(call: Call) -> None:
    return None


def test_static_segments_mount_before_parameters(tmp_path: Path) -> None:
    table = RouteTable()
    table.route("GET", "/x/{xId}", access=PUBLIC)(noop)
    table.route("GET", "/x/{xId}/y", name="y", access=PUBLIC)(noop)
    table.route("GET", "/x/export", name="export", access=PUBLIC)(noop)
    table.route("POST", "/x/{xId}", name="post_x", access=PUBLIC, audit_action="x")(noop)
    table.route("GET", "/a", name="a", access=permission("tenant:read"))(noop)
    core = Core(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"), routes=table)
    assert [group.path for group in core.api.paths] == ["/a", "/x/export", "/x/{xId}", "/x/{xId}/y"]
    assert sorted(core.api.paths[2].endpoints) == ["GET", "POST"]
    core.dispose()


def test_fastapi_docs_list_saas_core_operations_with_schemas(tmp_path: Path) -> None:
    core = Core(
        Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"), routes=build_table(Counter())
    )
    app = FastAPI()
    app.include_router(saas_router(core))
    document = app.openapi()
    operations = {
        op["operationId"]: op
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/")
        for op in item.values()
    }
    assert set(operations) == {route.name for route in core.routes}
    create = operations["create_widget"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["name"]["maxLength"] == 50
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["title"] == (
        "WidgetOut"
    )
    assert "422" in create["responses"]
    assert "200" not in create["responses"]
    assert "$ref" not in str(operations)
    core.dispose()
