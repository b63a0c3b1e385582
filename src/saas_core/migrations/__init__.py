"""Alembic migrations shipped with saas-core."""
