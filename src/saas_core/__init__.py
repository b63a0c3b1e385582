"""saas-core: tenants, IAM, sessions, billing, credits, usage, GDPR and audit for SaaS backends.

The core is framework-agnostic: it imports SQLAlchemy, Pydantic and the standard library, never a
web framework. Adapters in ``saas_core_fastapi``, ``saas_core_flask`` and ``saas_core_django`` mount
its route contract into an application.
"""

from saas_core.errors import SaasCoreError

__version__ = "0.1.0"

__all__ = ["SaasCoreError", "__version__"]
