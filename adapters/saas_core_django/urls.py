"""``path("api/v1/", include("saas_core_django.urls"))``: every saas-core route."""

from __future__ import annotations

from saas_core_django import CurrentPatterns

app_name = "saas_core"
urlpatterns = CurrentPatterns()
