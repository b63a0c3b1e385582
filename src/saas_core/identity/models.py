"""Tables of the identity domain: users (more tables join them in this module)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from saas_core.db.base import Base
from saas_core.db.mixins import IdMixin, PublicIdMixin, SoftDeleteMixin, TimestampMixin
from saas_core.db.types import enum_type


class UserStatus(enum.StrEnum):
    """Whether an account may sign in."""

    ACTIVE = "active"
    DISABLED = "disabled"


class User(IdMixin, PublicIdMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A person (or service identity) who can sign in. The seed's ``user`` table.

    ``email`` is stored normalised (trimmed, lower-cased). It is unique among live accounts
    only: a partial unique index ignores soft-deleted rows, so an address can sign up again after
    its old account was deleted (seed review fix 8).
    """

    __tablename__ = "users"
    __table_args__ = (
        Index(
            "uq_users_email_live",
            "email",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
    )

    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200), default=None)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    status: Mapped[UserStatus] = mapped_column(
        enum_type(UserStatus, "user_status"), default=UserStatus.ACTIVE
    )
    email_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    locale: Mapped[str | None] = mapped_column(String(35), default=None)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
