"""The URIs `authentik_check` prints to register in Authentik: built on NetBox's address as browsers reach it."""

import pytest
from django.test import override_settings

from tests import test_authentik_check

from .test_authentik_check import results

pytestmark = pytest.mark.django_db

authentik = test_authentik_check.authentik  # the fixture: a live Authentik, configured


def uris(**netbox_settings):
    with override_settings(**netbox_settings):
        _code, found = results()
    return found['redirect_uri']['message'], found.get('netbox_url')


def test_csrf_trusted_origins_gives_scheme_and_host(authentik):
    redirect_uri, warned = uris(
        CSRF_TRUSTED_ORIGINS=['https://*.example.com', 'http://netbox.lab:8080'], ALLOWED_HOSTS=['127.0.0.1']
    )
    assert redirect_uri == 'http://netbox.lab:8080/oauth/complete/authentik/'
    assert warned is None


def test_allowed_hosts_skips_loopback_addresses_while_another_host_is_listed(authentik):
    redirect_uri, warned = uris(CSRF_TRUSTED_ORIGINS=[], ALLOWED_HOSTS=['127.0.0.1', 'localhost', 'netbox.example.org'])
    assert redirect_uri == 'https://netbox.example.org/oauth/complete/authentik/'
    assert warned is None


def test_only_a_loopback_host_is_used_but_flagged(authentik):
    redirect_uri, warned = uris(CSRF_TRUSTED_ORIGINS=[], ALLOWED_HOSTS=['127.0.0.1'])
    assert redirect_uri == 'https://127.0.0.1/oauth/complete/authentik/'
    assert warned['status'] == 'warning'
    assert warned['message'].startswith("NetBox's address taken from ALLOWED_HOSTS is a loopback address")
    assert '--base-url https://netbox.example.com' in warned['hint']


def test_base_url_wins_over_settings(authentik):
    with override_settings(CSRF_TRUSTED_ORIGINS=['https://other.example.com'], ALLOWED_HOSTS=['127.0.0.1']):
        _code, found = results('--base-url', 'https://netbox.example.com')
    assert found['redirect_uri']['message'] == 'https://netbox.example.com/oauth/complete/authentik/'
    assert 'netbox_url' not in found
