"""``saas_core_fastapi.create_app``: an app with nothing but saas-core's routes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from saas_core import migrations
from saas_core.config import Settings
from saas_core.core import Core
from saas_core_fastapi import create_app


def test_create_app_serves_the_routes_and_the_docs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    migrations.upgrade(url)
    core = Core(Settings(database_url=url))
    try:
        app = create_app(core, title="trial")
        with TestClient(app) as client:
            assert client.get("/api/v1/health").json() == {"status": "ok"}
            assert client.get("/openapi.json").json()["info"]["title"] == "trial"
            assert client.get("/api/v1/projects").status_code == 401
    finally:
        core.dispose()
