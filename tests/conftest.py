"""Test set-up: a real NetBox 4.7 on PostgreSQL and Redis, in a database cloned from a migrated template."""

import os

import pytest
import responses
from django.core.cache import cache

from tests.fake_authentik import FakeAuthentik
from tests.tools import database


@pytest.fixture(scope='session')
def django_db_setup(django_db_blocker):
    """Clone the migrated template into this run's database; each test then runs in a rolled-back transaction."""
    from django.conf import settings
    from django.db import connections

    name = settings.DATABASES['default']['NAME']
    with django_db_blocker.unblock():
        connections.close_all()
        database.clone(name)
    yield
    if os.environ.get('NBA_KEEP_DB') != '1':
        with django_db_blocker.unblock():
            connections.close_all()
            database.drop(name)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Discovery and JWKS live in Django's cache (Redis); no test sees another's, no other run's keys are touched."""
    cache.delete_pattern('*')  # only this run's key prefix, unlike cache.clear()
    yield
    cache.delete_pattern('*')


@pytest.fixture
def mock():
    """The HTTP edge to Authentik: every request NetBox makes to it goes through this `responses` mock."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as requests_mock:
        yield requests_mock


@pytest.fixture
def authentik(mock):
    """Authentik with its built-in self-signed certificate (RS256 with a kid), discovery and JWKS served."""
    fake = FakeAuthentik(mock)
    fake.register_metadata()
    return fake


@pytest.fixture(autouse=True, scope='session')
def _no_start_up_log_at_the_first_test_request():
    """The plugin logs its configuration problems at a process's first request; here that is any test's request."""
    from django.core.signals import request_started

    from netbox_authentik.diagnostics import startup

    request_started.disconnect(dispatch_uid=startup.LOG_AT_FIRST_REQUEST)
