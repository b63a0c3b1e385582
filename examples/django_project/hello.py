"""The example project's own app: one view, and saas-core's migrations at start-up."""

from __future__ import annotations

from pathlib import Path

from django.apps import AppConfig  # type: ignore[import-untyped]
from django.http import HttpRequest, JsonResponse  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from saas_core import migrations
from saas_core_django import get_core


class HelloConfig(AppConfig):  # type: ignore[misc]
    """Migrates saas-core's schema once Django has loaded the settings."""

    name = "hello"

    def ready(self) -> None:
        """Bring saas-core's tables to the newest revision (a no-op when they are)."""
        url = make_url(get_core().settings.migration_url())  # from settings.SAAS_CORE
        if url.get_backend_name() == "sqlite" and url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        migrations.upgrade(url.render_as_string(hide_password=False))


def hello(request: HttpRequest) -> JsonResponse:
    """The host application's own view."""
    return JsonResponse({"message": "Hello from the Django project"})
