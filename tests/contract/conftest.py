"""Contract fixtures: a Core on the test database, served by all three adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import django
import pytest
from django.conf import settings as django_settings

import saas_core_django
from saas_core.api.hooks import RecordingAuditSink
from saas_core.config import Settings
from saas_core.core import Core
from tests.contract.harness import Adapters
from tests.contract.sample_api import Counter, TokenAuthenticator, build_table
from tests.support.databases import TestDatabase

if not django_settings.configured:
    django_settings.configure(
        DEBUG=False,
        SECRET_KEY="contract-tests-only",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF="tests.contract.django_urls",
        INSTALLED_APPS=["saas_core_django"],
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        DATABASES={},
        USE_TZ=True,
    )
    django.setup()


MakeCore = Callable[..., Core]


@pytest.fixture
def make_core(db: TestDatabase) -> Iterator[MakeCore]:
    """Build a Core on the test database (keyword arguments go to ``Core``)."""

    def build(**options: Any) -> Core:
        settings = options.pop("settings", None) or Settings(
            database_url=db.url.render_as_string(False), allow_privileged_database_role=True
        )
        return Core(settings, engine=db.engine, **options)

    yield build
    saas_core_django.configure(None)


@pytest.fixture
def serve(make_core: MakeCore) -> Callable[..., Adapters]:
    """``serve(**core_options)``: the three adapters serving a new Core."""

    def start(**options: Any) -> Adapters:
        return Adapters(make_core(**options))

    return start


@dataclass
class Sample:
    """The sample API served by the three adapters, with what it recorded."""

    adapters: Adapters
    counter: Counter
    audit: RecordingAuditSink
    authenticator: TokenAuthenticator

    @property
    def core(self) -> Core:
        return self.adapters.core


@pytest.fixture
def sample(make_core: MakeCore) -> Sample:
    """The sample route table (see ``sample_api``) served by all three adapters."""
    counter = Counter()
    audit = RecordingAuditSink()
    authenticator = TokenAuthenticator()
    core = make_core(routes=build_table(counter), audit_sink=audit, authenticator=authenticator)
    return Sample(Adapters(core), counter, audit, authenticator)
