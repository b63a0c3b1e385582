"""Django application config: add ``"saas_core_django"`` to ``INSTALLED_APPS``."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]


class SaasCoreConfig(AppConfig):  # type: ignore[misc]
    """saas-core in a Django project (no Django models: saas-core migrates its own tables)."""

    name = "saas_core_django"
    label = "saas_core"
    verbose_name = "saas-core"
