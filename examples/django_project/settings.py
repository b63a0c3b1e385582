"""Settings of the Django example project: saas-core mounted beside one view of its own.

Run it from this folder (``pip install "saas-core[django]"`` first)::

    python manage.py runserver

With no configuration saas-core uses a SQLite file in ``instance/`` next to this file; set
``SAAS_CORE_DATABASE_URL=postgresql+psycopg://user@host/db`` for PostgreSQL. The ``hello`` app
migrates saas-core's schema at start-up. The project needs no Django database of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

# Example values; a real project reads its secret from the environment.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-example-only")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "saas_core_django",  # saas-core's routes (urls.py mounts them)
    "hello.HelloConfig",  # this project's own view, and the start-up migration
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# Any saas-core Settings field, upper-case. One environment variable switches to PostgreSQL.
SAAS_CORE = {
    "DATABASE_URL": os.environ.get("SAAS_CORE_DATABASE_URL")
    or f"sqlite:///{BASE_DIR / 'instance' / 'saas_core.sqlite3'}",
}
