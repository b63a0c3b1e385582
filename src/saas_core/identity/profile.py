"""Profile fields and email preferences of the signed-in user (``PATCH /me`` and friends)."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session

from saas_core.context import RequestContext
from saas_core.errors import InvalidInput
from saas_core.identity.common import IdentityBase
from saas_core.identity.models import User, UserEmailPreferences
from saas_core.identity.sessions import KEEP, Keep

_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True, slots=True)
class EmailPreferences:
    """Which optional emails a user receives; ``security_alerts`` is always on."""

    product_updates: bool = True
    security_alerts: bool = True
    billing: bool = True
    marketing: bool = False


class ProfileFlows(IdentityBase):
    """Profile fields and email preferences."""

    # --- profile and preferences ------------------------------------------------------------------

    def update_profile(
        self,
        session: Session,
        ctx: RequestContext,
        *,
        display_name: str | Literal[Keep.KEEP] | None = KEEP,
        locale: str | Literal[Keep.KEEP] | None = KEEP,
        timezone: str | Literal[Keep.KEEP] | None = KEEP,
    ) -> User:
        """Change the caller's display name, locale or time zone (``PATCH /me``)."""
        user = self.current_user(session, ctx)
        if display_name is not KEEP:
            user.display_name = (display_name or "").strip()[:200] or None
        if locale is not KEEP:
            if locale is not None and (len(locale) > 35 or not _LOCALE.match(locale)):
                raise InvalidInput("not a locale tag such as 'en' or 'pt-BR'", field="locale")
            user.locale = locale
        if timezone is not KEEP:
            if timezone is not None:
                try:
                    ZoneInfo(timezone)
                except (ZoneInfoNotFoundError, ValueError):
                    raise InvalidInput("unknown time zone", field="timezone") from None
            user.timezone = timezone
        user.updated_at = self.clock.now()
        session.flush()
        return user

    def get_email_preferences(self, session: Session, ctx: RequestContext) -> EmailPreferences:
        """The caller's email preferences (the defaults until they change one)."""
        row = self._preferences_row(session, self.require_user(ctx).id)
        if row is None:
            return EmailPreferences()
        return EmailPreferences(**{f.name: getattr(row, f.name) for f in fields(EmailPreferences)})

    def update_email_preferences(
        self, session: Session, ctx: RequestContext, **changes: bool
    ) -> EmailPreferences:
        """Change some of the caller's email preferences; ``security_alerts`` cannot be off."""
        known = {f.name for f in fields(EmailPreferences)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise InvalidInput(f"unknown email preference {unknown[0]!r}", field=unknown[0])
        if changes.get("security_alerts") is False:
            raise InvalidInput("security alerts cannot be switched off", field="security_alerts")
        user_id = self.require_user(ctx).id
        row = self._preferences_row(session, user_id)
        now = self.clock.now()
        if row is None:
            defaults = EmailPreferences()
            values: dict[str, Any] = {f.name: getattr(defaults, f.name) for f in fields(defaults)}
            values.update(changes)
            row = UserEmailPreferences(user_id=user_id, created_at=now, updated_at=now, **values)
            session.add(row)
        else:
            for name, value in changes.items():
                setattr(row, name, bool(value))
            row.updated_at = now
        session.flush()
        return self.get_email_preferences(session, ctx)

    def _preferences_row(self, session: Session, user_id: int) -> UserEmailPreferences | None:
        return session.scalars(
            sa.select(UserEmailPreferences).where(UserEmailPreferences.user_id == user_id)
        ).one_or_none()
