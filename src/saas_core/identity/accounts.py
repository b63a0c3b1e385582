"""Account flows: sign-up, email verification, password reset and change, email change, deletion.

Nothing here reveals whether an address has an account, except sign-up itself (which must say
"already registered"): :meth:`AccountFlows.request_password_reset` behaves the same for unknown
addresses.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from saas_core.audit.models import SecurityEventType, Severity
from saas_core.context import RequestContext
from saas_core.errors import EmailTaken, InvalidInput, RegistrationClosed
from saas_core.identity import single_use
from saas_core.identity.common import IdentityBase, Origin
from saas_core.identity.models import AuthTokenPurpose, SessionRevokeReason, User, UserStatus
from saas_core.identity.passwords import check_password_policy
from saas_core.identity.ports import normalize_email
from saas_core.identity.throttle import ThrottleKey


class AccountFlows(IdentityBase):
    """Sign-up, verification, passwords, email change and deletion."""

    # --- sign-up and verification -----------------------------------------------------------------

    def register(
        self,
        session: Session,
        *,
        email: str,
        password: str,
        display_name: str | None = None,
        ctx: RequestContext | None = None,
    ) -> User:
        """Self sign-up: create the user and email a verification token.

        Raises :class:`~saas_core.errors.RegistrationClosed` when sign-up is switched off,
        :class:`~saas_core.errors.EmailTaken` when a live account uses the address, and
        :class:`~saas_core.errors.WeakPassword` when the password breaks the policy.
        """
        if not self.settings.registration_enabled:
            raise RegistrationClosed()
        user = self.create_user(session, email=email, password=password, display_name=display_name)
        self.send_verification_email(session, user)
        return user

    def create_user(
        self,
        session: Session,
        *,
        email: str,
        password: str | None,
        display_name: str | None = None,
        email_verified: bool = False,
    ) -> User:
        """Create a user whatever the sign-up setting (invitations, seeding, admin tools).

        ``password`` None makes an account that cannot sign in with a password.
        """
        normalized = normalize_email(email)
        if password is not None:
            check_password_policy(
                password, email=normalized, min_length=self.settings.password_min_length
            )
        if self.find_live_user(session, normalized) is not None:
            raise EmailTaken()
        now = self.clock.now()
        user = User(
            email=normalized,
            display_name=(display_name or "").strip()[:200] or None,
            password_hash=self.passwords.hash(password) if password is not None else None,
            password_changed_at=now if password is not None else None,
            email_verified_at=now if email_verified else None,
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        session.flush()
        return user

    def send_verification_email(self, session: Session, user: User) -> None:
        """(Re)send the email verification token; older ones stop working."""
        token = single_use.issue_token(
            session,
            user_id=user.id,
            purpose=AuthTokenPurpose.VERIFY_EMAIL,
            ttl=self.settings.email_verification_ttl,
            clock=self.clock,
        )
        self._send(user.email, "verify_email", "Confirm your email address", token)

    def verify_email(self, session: Session, raw_token: str) -> User:
        """Mark the address verified; the token works once (:class:`InvalidToken` after)."""
        token = single_use.consume_token(
            session, raw_token, purpose=AuthTokenPurpose.VERIFY_EMAIL, clock=self.clock
        )
        user = self._live_user(session, token.user_id)
        if user.email_verified_at is None:
            user.email_verified_at = self.clock.now()
            session.flush()
        self._event(session, SecurityEventType.EMAIL_VERIFIED, Origin(), user_id=user.id)
        return user

    # --- passwords --------------------------------------------------------------------------------

    def request_password_reset(
        self, session: Session, email: str, *, ctx: RequestContext | None = None
    ) -> None:
        """Email a reset token if a live, active account has ``email``; otherwise do nothing.

        The caller answers the same way in both cases (no account enumeration).
        """
        try:
            user = self.find_live_user(session, normalize_email(email))
        except InvalidInput:
            return
        if user is None or user.status is not UserStatus.ACTIVE:
            return
        token = single_use.issue_token(
            session,
            user_id=user.id,
            purpose=AuthTokenPurpose.RESET_PASSWORD,
            ttl=self.settings.password_reset_ttl,
            clock=self.clock,
        )
        self._send(user.email, "reset_password", "Reset your password", token)
        self._event(
            session, SecurityEventType.PASSWORD_RESET_REQUESTED, Origin.of(ctx), user_id=user.id
        )

    def reset_password(
        self,
        session: Session,
        raw_token: str,
        new_password: str,
        *,
        ctx: RequestContext | None = None,
    ) -> User:
        """Set a new password with a reset token, then revoke every session of the user.

        The token works once. A successful reset also clears the account's login lockout and
        marks the email verified (the reset proved control of the mailbox).
        """
        token = single_use.consume_token(
            session, raw_token, purpose=AuthTokenPurpose.RESET_PASSWORD, clock=self.clock
        )
        user = self._live_user(session, token.user_id)
        self._set_password(user, new_password)
        if user.email_verified_at is None:
            user.email_verified_at = self.clock.now()
        single_use.revoke_tokens(
            session, user_id=user.id, purpose=AuthTokenPurpose.RESET_PASSWORD, clock=self.clock
        )
        self.throttle.reset(session, ThrottleKey.account(user.email))
        self.sessions.revoke_all(
            session, user.id, reason=SessionRevokeReason.PASSWORD_RESET, ctx=ctx
        )
        self._event(
            session,
            SecurityEventType.PASSWORD_RESET,
            Origin.of(ctx),
            user_id=user.id,
            severity=Severity.LOW,
        )
        return user

    def change_password(
        self, session: Session, ctx: RequestContext, *, current_password: str, new_password: str
    ) -> None:
        """Change the caller's password (re-authenticating), then revoke their other sessions."""
        user = self.current_user(session, ctx)
        self._reauthenticate(session, ctx, user, current_password)
        self._set_password(user, new_password)
        self.sessions.revoke_all(
            session,
            user.id,
            reason=SessionRevokeReason.PASSWORD_CHANGED,
            keep_session_id=ctx.session_id,
            ctx=ctx,
        )
        self._event(
            session,
            SecurityEventType.PASSWORD_CHANGED,
            Origin.of(ctx),
            user_id=user.id,
            severity=Severity.LOW,
        )

    # --- email change -----------------------------------------------------------------------------

    def request_email_change(
        self, session: Session, ctx: RequestContext, *, new_email: str, password: str
    ) -> None:
        """Send a confirmation token to ``new_email``; the address changes on confirmation.

        Re-authenticates with ``password``. The old address gets a notice (without a token).
        """
        user = self.current_user(session, ctx)
        self._reauthenticate(session, ctx, user, password)
        normalized = normalize_email(new_email)
        if normalized == user.email:
            raise InvalidInput("that is already your email address", field="new_email")
        if self.find_live_user(session, normalized) is not None:
            raise EmailTaken()
        token = single_use.issue_token(
            session,
            user_id=user.id,
            purpose=AuthTokenPurpose.CHANGE_EMAIL,
            ttl=self.settings.email_verification_ttl,
            clock=self.clock,
            new_email=normalized,
        )
        self._send(normalized, "change_email", "Confirm your new email address", token)
        self._send(user.email, "email_change_notice", "Your email address is being changed", None)
        self._event(
            session, SecurityEventType.EMAIL_CHANGE_REQUESTED, Origin.of(ctx), user_id=user.id
        )

    def confirm_email_change(
        self, session: Session, raw_token: str, *, ctx: RequestContext | None = None
    ) -> User:
        """Swap in the new address the token was sent to (which is thereby verified)."""
        token = single_use.consume_token(
            session, raw_token, purpose=AuthTokenPurpose.CHANGE_EMAIL, clock=self.clock
        )
        user = self._live_user(session, token.user_id)
        assert token.new_email is not None  # a CHECK constraint holds it for change_email
        if self.find_live_user(session, token.new_email) is not None:
            raise EmailTaken()
        user.email = token.new_email
        user.email_verified_at = self.clock.now()
        # Tokens mailed to the old address must not act on the new one.
        single_use.revoke_tokens(session, user_id=user.id, clock=self.clock)
        session.flush()
        self._event(
            session,
            SecurityEventType.EMAIL_CHANGED,
            Origin.of(ctx),
            user_id=user.id,
            severity=Severity.LOW,
        )
        return user

    # --- deletion ---------------------------------------------------------------------------------

    def delete_account(
        self, session: Session, ctx: RequestContext, *, password: str | None = None
    ) -> User:
        """Soft-delete the caller's account (``DELETE /me``).

        Re-authenticates with ``password`` when the account has one. Sets ``deleted_at`` and
        status ``disabled`` (the email is free for a new sign-up at once), revokes every session,
        API key the user created and pending email token, records ``account_deleted``, then runs
        the :class:`AccountDeletionHook`\\ s (the GDPR erasure workflow).
        """
        user = self.current_user(session, ctx)
        if user.password_hash is not None:
            self._reauthenticate(session, ctx, user, password or "")
        user.deleted_at = self.clock.now()
        user.status = UserStatus.DISABLED
        session.flush()
        sessions = self.sessions.revoke_all(
            session, user.id, reason=SessionRevokeReason.ACCOUNT_DELETED, ctx=ctx
        )
        keys = self.api_keys.revoke_created_by(session, user.id)
        single_use.revoke_tokens(session, user_id=user.id, clock=self.clock)
        self._event(
            session,
            SecurityEventType.ACCOUNT_DELETED,
            Origin.of(ctx),
            user_id=user.id,
            severity=Severity.MEDIUM,
            metadata={"sessions_revoked": len(sessions), "api_keys_revoked": keys},
        )
        for hook in self.deletion_hooks:
            hook(session, user, ctx)
        return user
