"""The one exception hierarchy of saas-core.

Every error the library raises on purpose is a :class:`SaasCoreError` leaf with a stable ``code``
(``tenant.not_found``, ``iam.forbidden``...), an HTTP ``status`` and a short ``title``. The HTTP
layer turns any of them into an RFC 9457 ``application/problem+json`` body through
:func:`saas_core.api.problems.problem_for` (one table, so every adapter answers the same bytes).

Leaves are flat: they subclass the root directly (or one of a handful of categories used by
``except`` clauses), never each other, so catching one never catches an unrelated error.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SaasCoreError(Exception):
    """Root of every error saas-core raises on purpose."""

    code: ClassVar[str] = "saas_core.error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


# --- categories (status families); leaves below subclass exactly one of these -----------------


class NotFound(SaasCoreError):
    """The object does not exist, or exists in another tenant (never a 403 across tenants)."""

    code = "not_found"
    status = 404
    title = "Not found"


class InvalidInput(SaasCoreError):
    """The input is malformed or breaks a rule of the domain."""

    code = "invalid_input"
    status = 422
    title = "Invalid input"


class Conflict(SaasCoreError):
    """The request conflicts with the current state."""

    code = "conflict"
    status = 409
    title = "Conflict"


class Unauthenticated(SaasCoreError):
    """No valid credentials came with the request."""

    code = "auth.unauthenticated"
    status = 401
    title = "Authentication required"


class Forbidden(SaasCoreError):
    """Authenticated, but not allowed."""

    code = "iam.forbidden"
    status = 403
    title = "Forbidden"


class ConfigurationError(SaasCoreError):
    """saas-core is set up in a way that cannot work (raised at start-up, not per request)."""

    code = "config.invalid"
    status = 500
    title = "Configuration error"


# --- generic leaves ------------------------------------------------------------------------------


class InvalidId(InvalidInput):
    """A public id that is not a UUID."""

    code = "request.invalid_id"
    title = "Invalid id"


class ValidationFailed(InvalidInput):
    """Request body or query failed validation; ``extra['errors']`` lists field paths."""

    code = "request.validation"
    title = "Validation failed"


class RateLimited(SaasCoreError):
    """Too many attempts; ``extra['retry_after']`` says how many seconds to wait."""

    code = "request.rate_limited"
    status = 429
    title = "Too many requests"


class DatabaseError(SaasCoreError):
    """A database error crossed into the library and was wrapped."""

    code = "database.error"
    status = 500
    title = "Database error"


class IntegrityViolation(Conflict):
    """A constraint of the schema rejected the write."""

    code = "database.integrity"
    title = "Constraint violated"


class MissingDependency(ConfigurationError):
    """An optional dependency is not installed; the message carries the install hint."""

    code = "config.missing_dependency"
    title = "Missing optional dependency"


class DatabaseUnreachable(ConfigurationError):
    """The database named by the configured URL cannot be reached."""

    code = "config.database_unreachable"
    title = "Database unreachable"


class SchemaTooNew(ConfigurationError):
    """The database was migrated by a newer saas-core: its revision is unknown to this one."""

    code = "config.schema_too_new"
    title = "Database schema is newer than this saas-core"


class UnknownRevision(ConfigurationError):
    """A migration target revision that saas-core does not ship."""

    code = "config.unknown_revision"
    title = "Unknown migration revision"


class MigrationFailed(ConfigurationError):
    """A migration step failed; the whole run was rolled back where the database allows it."""

    code = "config.migration_failed"
    title = "Migration failed"


def missing_dependency(module: str, extra: str) -> MissingDependency:
    """Build the error raised when ``module`` is absent, with the ``pip install`` hint."""
    return MissingDependency(
        f'{module} is not installed; install it with: pip install "saas-core[{extra}]"'
    )


# --- identity ------------------------------------------------------------------------------------


class InvalidCredentials(Unauthenticated):
    """Wrong email or password (the message never says which)."""

    code = "auth.invalid_credentials"
    title = "Invalid credentials"


class ReauthenticationFailed(Forbidden):
    """The password confirming a signed-in user's sensitive action is wrong.

    A 403 rather than a 401: the session itself is fine, and clients read a 401 as "sign in
    again".
    """

    code = "auth.reauthentication_failed"
    title = "Password confirmation failed"


class SessionExpired(Unauthenticated):
    """The session token is unknown, revoked or expired."""

    code = "auth.session_invalid"
    title = "Session expired or revoked"


class AccountLocked(SaasCoreError):
    """Too many failed logins; the account or address is locked for a while."""

    code = "auth.locked"
    status = 429
    title = "Too many failed attempts"


class AccountDisabled(Unauthenticated):
    """The account is disabled or deleted."""

    code = "auth.account_disabled"
    title = "Account disabled"


class EmailNotVerified(Forbidden):
    """The action needs a verified email address."""

    code = "auth.email_not_verified"
    title = "Email not verified"


class InvalidToken(InvalidInput):
    """A verification, reset or invitation token is unknown, used or expired."""

    code = "auth.invalid_token"
    title = "Invalid or expired token"


class EmailTaken(Conflict):
    """Another live account already uses this email."""

    code = "user.email_taken"
    title = "Email already registered"


class WeakPassword(InvalidInput):
    """The password does not meet the policy."""

    code = "auth.weak_password"
    title = "Password too weak"


class RegistrationClosed(Forbidden):
    """Self sign-up is switched off (invite-only)."""

    code = "auth.registration_closed"
    title = "Registration is closed"


class CsrfFailed(Forbidden):
    """An unsafe cookie-authenticated request without a valid CSRF token."""

    code = "auth.csrf_failed"
    title = "CSRF check failed"


class UserNotFound(NotFound):
    """No such user."""

    code = "user.not_found"
    title = "User not found"


class ApiKeyInvalid(Unauthenticated):
    """The API key is unknown, revoked or expired."""

    code = "auth.api_key_invalid"
    title = "Invalid API key"


# --- tenancy -------------------------------------------------------------------------------------


class TenantNotFound(NotFound):
    """No such tenant visible to the caller."""

    code = "tenant.not_found"
    title = "Tenant not found"


class TenantRequired(InvalidInput):
    """The operation needs an active tenant and the session has none."""

    code = "tenant.required"
    status = 409
    title = "No active tenant"


class TenantInactive(Forbidden):
    """The tenant is suspended or archived."""

    code = "tenant.inactive"
    title = "Tenant is not active"


class SlugTaken(Conflict):
    """Another tenant already uses this slug."""

    code = "tenant.slug_taken"
    title = "Slug already taken"


class MemberNotFound(NotFound):
    """No such member in this tenant."""

    code = "member.not_found"
    title = "Member not found"


class AlreadyMember(Conflict):
    """The user already belongs to the tenant."""

    code = "member.already_member"
    title = "Already a member"


class LastOwner(Conflict):
    """The last owner of a tenant cannot be removed or demoted."""

    code = "member.last_owner"
    title = "A tenant needs at least one owner"


class InvitationNotFound(NotFound):
    """No such pending invitation."""

    code = "invitation.not_found"
    title = "Invitation not found"


class SeatLimitReached(Conflict):
    """The plan's seat limit is reached."""

    code = "billing.seat_limit"
    status = 402
    title = "Seat limit reached"


class InvitationEmailMismatch(Forbidden):
    """The invitation was sent to another address than the signed-in user's."""

    code = "invitation.email_mismatch"
    title = "Invitation is for another email address"


class CrossTenantWrite(SaasCoreError):
    """A row of another tenant was about to be written while a tenant is bound (a bug)."""

    code = "tenant.cross_tenant_write"
    status = 500
    title = "Write outside the bound tenant"


# --- IAM -----------------------------------------------------------------------------------------


class PermissionDenied(Forbidden):
    """The caller's role lacks the permission; ``extra['permission']`` names it."""

    code = "iam.forbidden"
    title = "Permission denied"


class RoleNotFound(NotFound):
    """No such role."""

    code = "iam.role_not_found"
    title = "Role not found"


class RoleInUse(Conflict):
    """The role is still assigned."""

    code = "iam.role_in_use"
    title = "Role in use"


class UnknownPermission(InvalidInput):
    """A permission name not in the catalog."""

    code = "iam.unknown_permission"
    title = "Unknown permission"


class AssignmentNotFound(NotFound):
    """No such role assignment."""

    code = "iam.assignment_not_found"
    title = "Assignment not found"


class BreakGlassRequired(Forbidden):
    """The action needs an active break-glass assignment and a stated reason."""

    code = "iam.break_glass_required"
    title = "Break-glass role required"


class RoleKeyTaken(Conflict):
    """The tenant already has a role with this key (or the key is a built-in role's)."""

    code = "iam.role_key_taken"
    title = "Role key already taken"


class SystemRoleImmutable(Forbidden):
    """Built-in roles are managed by saas-core and cannot be edited."""

    code = "iam.system_role_immutable"
    title = "Built-in roles cannot be changed"


class BreakGlassTermsInvalid(InvalidInput):
    """A break-glass grant without a reason, or without an expiry within the allowed maximum."""

    code = "iam.break_glass_terms"
    title = "Break-glass grants need a reason and a short expiry"


# --- projects ------------------------------------------------------------------------------------


class ProjectNotFound(NotFound):
    """No such project in the active tenant."""

    code = "project.not_found"
    title = "Project not found"


# --- billing, credits, usage ---------------------------------------------------------------------


class PlanNotFound(NotFound):
    """No such plan or price."""

    code = "billing.plan_not_found"
    title = "Plan not found"


class SubscriptionNotFound(NotFound):
    """The tenant has no such subscription."""

    code = "billing.subscription_not_found"
    title = "Subscription not found"


class InvoiceNotFound(NotFound):
    """No such invoice in the active tenant."""

    code = "billing.invoice_not_found"
    title = "Invoice not found"


class PaymentProviderError(SaasCoreError):
    """The payment provider refused or failed a call."""

    code = "billing.provider_error"
    status = 502
    title = "Payment provider error"


class WebhookSignatureInvalid(Unauthenticated):
    """A webhook whose signature or timestamp does not verify."""

    code = "webhook.signature_invalid"
    status = 400
    title = "Invalid webhook signature"


class UnknownProvider(NotFound):
    """No payment provider registered under that name."""

    code = "billing.unknown_provider"
    title = "Unknown payment provider"


class InsufficientCredits(Conflict):
    """The credit balance cannot cover the debit."""

    code = "credits.insufficient"
    status = 402
    title = "Insufficient credits"


class UnbalancedTransaction(InvalidInput):
    """Postings of a journal transaction do not sum to zero per currency."""

    code = "credits.unbalanced"
    title = "Unbalanced transaction"


class MeterNotFound(NotFound):
    """No such usage meter."""

    code = "usage.meter_not_found"
    title = "Meter not found"


# --- privacy, audit, security, platform ----------------------------------------------------------


class SubjectRequestNotFound(NotFound):
    """No such privacy subject request."""

    code = "privacy.request_not_found"
    title = "Subject request not found"


class IncidentNotFound(NotFound):
    """No such security incident."""

    code = "security.incident_not_found"
    title = "Incident not found"


class ImpersonationNotAllowed(Forbidden):
    """Impersonation refused (target is a platform admin, nested, or no break-glass)."""

    code = "platform.impersonation_denied"
    title = "Impersonation not allowed"


class NotImpersonating(Conflict):
    """Exit was asked for with no impersonation under way."""

    code = "platform.not_impersonating"
    title = "Not impersonating"


# --- idempotency ---------------------------------------------------------------------------------


class IdempotencyKeyReused(InvalidInput):
    """The same Idempotency-Key came back with a different payload."""

    code = "idempotency.key_reused"
    title = "Idempotency-Key reused with a different request"


class IdempotencyInFlight(Conflict):
    """The first request with this Idempotency-Key is still being processed."""

    code = "idempotency.in_flight"
    title = "A request with this Idempotency-Key is in progress"


class IdempotencyKeyInvalid(InvalidInput):
    """The Idempotency-Key header is malformed."""

    code = "idempotency.key_invalid"
    status = 400
    title = "Invalid Idempotency-Key"


# --- HTTP requests -------------------------------------------------------------------------------


class MalformedJson(InvalidInput):
    """The request body is not valid JSON."""

    code = "request.malformed_json"
    status = 400
    title = "Malformed JSON"


class UnsupportedMediaType(InvalidInput):
    """The request body is not ``application/json``."""

    code = "request.unsupported_media_type"
    status = 415
    title = "Unsupported media type"


class MethodNotAllowed(SaasCoreError):
    """The path exists but does not accept this method; ``extra['allow']`` lists the methods."""

    code = "request.method_not_allowed"
    status = 405
    title = "Method not allowed"
