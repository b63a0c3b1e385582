"""A Flask application with saas-core's API mounted beside a route of its own.

Run it from this folder (``pip install "saas-core[flask]"`` first)::

    flask --app app run

With no configuration it uses a SQLite file in Flask's ``instance/`` folder next to this file;
set ``SAAS_CORE_DATABASE_URL=postgresql+psycopg://user@host/db`` for PostgreSQL. The schema is
migrated at start-up. saas-core's routes are under ``/api/v1``
(``/api/v1/openapi.json`` describes them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from saas_core import migrations
from saas_core.config import Settings
from saas_core.core import Core
from saas_core_flask import SaasCore


def create_app(database_url: str | None = None, **settings: Any) -> Flask:
    """The app on ``database_url`` (default: ``$SAAS_CORE_DATABASE_URL``, else SQLite here).

    Other keyword arguments are saas-core :class:`Settings` fields, e.g. ``cookie_secure=False``
    for plain HTTP on localhost.
    """
    app = Flask(__name__)
    url = database_url or os.environ.get("SAAS_CORE_DATABASE_URL") or local_sqlite_url(app)
    config = Settings(database_url=url, **settings)
    migrations.upgrade(config.migration_url())
    SaasCore(app, core=Core(config))  # every saas-core route, under /api/v1

    @app.get("/hello")
    def hello() -> dict[str, str]:
        """The host application's own route."""
        return {"message": "Hello from the Flask app"}

    return app


def local_sqlite_url(app: Flask) -> str:
    """A SQLite database in the app's instance folder (created)."""
    instance = Path(app.instance_path)
    instance.mkdir(exist_ok=True)
    return f"sqlite:///{instance / 'saas_core.sqlite3'}"
