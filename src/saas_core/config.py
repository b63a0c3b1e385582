"""Settings, read once from arguments or ``SAAS_CORE_*`` environment variables."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable in saas-core, with secure defaults.

    Every field can be set through the environment with the ``SAAS_CORE_`` prefix, e.g.
    ``SAAS_CORE_DATABASE_URL=postgresql+psycopg://app@db/saas``.
    """

    model_config = SettingsConfigDict(env_prefix="SAAS_CORE_", extra="ignore", frozen=True)

    #: The application's connection (on PostgreSQL: a role that owns nothing, NOBYPASSRLS).
    database_url: str = "sqlite:///saas_core.sqlite3"
    #: The schema owner's connection, used by ``saas-core db ...``; defaults to ``database_url``.
    migration_database_url: str | None = None
    #: Refuse to serve requests as a superuser, BYPASSRLS role or table owner unless this is True.
    allow_privileged_database_role: bool = False

    api_prefix: str = "/api/v1"
    #: Self sign-up; switch off for invite-only applications.
    registration_enabled: bool = True

    session_idle_timeout: timedelta = timedelta(minutes=30)
    session_absolute_timeout: timedelta = timedelta(hours=12)
    session_touch_interval: timedelta = Field(
        default=timedelta(seconds=60),
        description="Minimum time between two writes of a session's last-seen time.",
    )
    cookie_name: str = "session"
    cookie_secure: bool = True
    csrf_cookie_name: str = "csrftoken"
    csrf_header_name: str = "X-CSRF-Token"

    login_max_failures: int = 5
    login_failure_window: timedelta = timedelta(minutes=15)
    login_lockout: timedelta = timedelta(minutes=15)
    address_max_failures: int = 50

    #: argon2id parameters; the defaults are OWASP's floor (19 MiB, t=2, p=1).
    password_memory_cost_kib: int = 19_456
    password_time_cost: int = 2
    password_parallelism: int = 1
    password_min_length: int = 10

    email_verification_ttl: timedelta = timedelta(hours=24)
    password_reset_ttl: timedelta = timedelta(hours=1)
    invitation_ttl: timedelta = timedelta(days=7)
    idempotency_ttl: timedelta = timedelta(hours=24)
    idempotency_lease: timedelta = timedelta(seconds=60)
    #: Longest a break-glass role may be granted for.
    break_glass_max_duration: timedelta = timedelta(hours=4)

    def migration_url(self) -> str:
        """The URL ``saas-core db`` commands use."""
        return self.migration_database_url or self.database_url
