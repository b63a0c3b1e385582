"""URLs of the Django example project: saas-core under ``/api/v1/``, plus ``/hello``."""

from __future__ import annotations

from django.urls import include, path  # type: ignore[import-untyped]
from hello import hello

urlpatterns = [
    path("api/v1/", include("saas_core_django.urls")),  # every saas-core route
    path("hello", hello),
]
