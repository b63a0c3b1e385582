"""Imports every table module so ``saas_core.db.base.metadata`` knows the whole schema."""

from saas_core.api import models as api_models
from saas_core.audit import models as audit_models
from saas_core.billing import models as billing_models
from saas_core.credits import models as credits_models
from saas_core.iam import models as iam_models
from saas_core.identity import models as identity_models
from saas_core.platform import models as platform_models
from saas_core.privacy import models as privacy_models
from saas_core.projects import models as projects_models
from saas_core.tenancy import models as tenancy_models
from saas_core.usage import models as usage_models

__all__ = [
    "api_models",
    "audit_models",
    "billing_models",
    "credits_models",
    "iam_models",
    "identity_models",
    "platform_models",
    "privacy_models",
    "projects_models",
    "tenancy_models",
    "usage_models",
]
