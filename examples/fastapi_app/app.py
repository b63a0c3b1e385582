"""A FastAPI application with saas-core's API mounted beside a route of its own.

Run it from this folder (``pip install "saas-core[fastapi]"`` first)::

    uvicorn --factory app:create_app

With no configuration it uses a SQLite file in ``instance/`` next to this file; set
``SAAS_CORE_DATABASE_URL=postgresql+psycopg://user@host/db`` for PostgreSQL. The schema is
migrated at start-up. saas-core's routes are under ``/api/v1``; Swagger UI lists them at ``/docs``.
``saas-core demo`` serves this same app with demo data.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from saas_core import migrations
from saas_core.config import Settings
from saas_core.core import Core
from saas_core_fastapi import saas_router

INSTANCE = Path(__file__).resolve().parent / "instance"


def create_app(database_url: str | None = None, **settings: Any) -> FastAPI:
    """The app on ``database_url`` (default: ``$SAAS_CORE_DATABASE_URL``, else SQLite here).

    Other keyword arguments are saas-core :class:`Settings` fields, e.g. ``cookie_secure=False``
    for plain HTTP on localhost.
    """
    url = database_url or os.environ.get("SAAS_CORE_DATABASE_URL") or local_sqlite_url()
    config = Settings(database_url=url, **settings)
    migrations.upgrade(config.migration_url())
    core = Core(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        core.dispose()

    app = FastAPI(title="Acme API", lifespan=lifespan)
    app.state.saas_core = core
    app.include_router(saas_router(core))  # every saas-core route, under /api/v1

    @app.get("/hello")
    def hello() -> dict[str, str]:
        """The host application's own route."""
        return {"message": "Hello from the FastAPI app"}

    return app


def local_sqlite_url() -> str:
    """A SQLite database in ``instance/`` beside this file (the folder is created)."""
    INSTANCE.mkdir(exist_ok=True)
    return f"sqlite:///{INSTANCE / 'saas_core.sqlite3'}"
