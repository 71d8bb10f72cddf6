"""What a sign-in checks beyond the protocol: outside data in the log, the plugin missing, a reusable `sub`."""

import logging

import pytest
from django.test import override_settings

from netbox_authentik.logsafe import safe, safe_names
from netbox_authentik.signin import guards
from tests.fake_authentik import (
    NETBOX_SSO_FAILED,
    STRUCTURED_ERRORS,
    begin_sign_in,
    login_page_messages,
    sign_in,
)

pytestmark = pytest.mark.django_db


# -- outside data cannot forge a log line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ('value', 'logged'),
    [
        ('alice', 'alice'),
        ('x\nINFO fake line', 'x\\nINFO fake line'),
        ('a\r\nb\x1b[31mc\u2028d', 'a\\r\\nb\\x1b[31mc\\u2028d'),
        ('Réseau Ops', 'Réseau Ops'),
        (42, '42'),
    ],
)
def test_safe_escapes_control_characters(value, logged):
    assert safe(value) == logged


def test_safe_cuts_long_values():
    assert safe('x' * 500) == 'x' * 200 + '…'
    assert safe_names(['a\nb', 'c'] + ['d'] * 11) == 'a\\nb, c, d, d, d, d, d, d, d, d, … 3 more'


def test_error_description_with_a_newline_is_one_log_line(client, authentik, caplog):
    query = begin_sign_in(client)
    with caplog.at_level(logging.INFO):
        response = client.get(
            f'/oauth/complete/authentik/?error=server_error&error_description=x%0AINFO+fake+line&state={query["state"]}'
        )
    assert response.status_code == 302
    forged = [record.getMessage() for record in caplog.records if 'fake line' in record.getMessage()]
    if STRUCTURED_ERRORS:  # social-core 7: generic text, then (provider error code: description)
        reason = '(server_error: x\\nINFO fake line)'
        assert forged == [
            'Sign-in through Authentik rejected: The authentication provider is temporarily unavailable. ' + reason
        ]
    else:
        assert forged == ['Sign-in through Authentik rejected: Authentication failed: x\\nINFO fake line']


# -- the backend without the plugin fails closed --------------------------------------------------------------


def test_refusal_without_the_plugin_is_logged_as_an_error(caplog):
    assert guards.refusal_without_plugin(None) is None
    with override_settings(PLUGINS=[]), caplog.at_level(logging.INFO, logger='netbox_authentik'):
        refusal = guards.refusal_without_plugin(None)
    assert "adds 'netbox_authentik' to PLUGINS" in refusal
    assert [record.levelname for record in caplog.records] == ['ERROR']


# -- a subject mode whose `sub` another person can get -------------------------------------------------------


@pytest.fixture
def fresh_warning(monkeypatch):
    monkeypatch.setattr(guards, '_reusable_subject_logged', False)


@pytest.mark.parametrize(
    ('claims', 'claim'),
    [
        ({'sub': 'a' * 64, 'preferred_username': 'alice', 'email': 'alice@example.com'}, None),  # hashed user ID
        ({'sub': '7', 'preferred_username': 'alice'}, None),  # user ID
        ({'sub': 'alice', 'preferred_username': 'alice'}, 'preferred_username'),
        ({'sub': 'Alice@Example.com', 'preferred_username': 'alice', 'email': 'alice@example.com'}, 'email'),
        ({'sub': 'alice@corp.example', 'upn': 'alice@corp.example'}, 'upn'),
        ({}, None),
        (None, None),
    ],
)
def test_reusable_subject_is_recognised_from_the_claims(claims, claim):
    assert guards.reusable_subject_claim(claims) == claim


def test_sign_in_with_a_username_based_subject_warns_once(client, authentik, caplog, fresh_warning):
    with caplog.at_level(logging.WARNING, logger='netbox_authentik'):
        sign_in(client, authentik, 'alice', sub='alice')
        client.logout()
        sign_in(client, authentik, 'alice', sub='alice')
    warnings = [record.getMessage() for record in caplog.records if 'Subject mode' in record.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "Authentik's sub is the preferred_username claim: the provider's Subject mode is "
        'based on the username, email or UPN'
    )
    assert client.session['_auth_user_id']  # a warning, not a refusal


def test_sign_in_with_the_default_subject_does_not_warn(client, authentik, caplog, fresh_warning):
    with caplog.at_level(logging.WARNING, logger='netbox_authentik'):
        sign_in(client, authentik, 'alice')
    assert not [record for record in caplog.records if 'Subject mode' in record.getMessage()]


@pytest.mark.skipif(not STRUCTURED_ERRORS, reason='social-core 5 has no state lifetime')
def test_bad_state_lifetime_stops_the_sign_in_with_a_message_not_an_error_page(client, authentik, settings, caplog):
    settings.SOCIAL_AUTH_AUTHENTIK_STATE_LIFETIME = '3600'
    with caplog.at_level(logging.WARNING, logger='netbox_authentik'):
        response = client.post('/oauth/begin/authentik/', {})
    assert response.status_code == 302 and response['Location'] == '/login/'
    assert login_page_messages(client, response) == [NETBOX_SSO_FAILED]
    assert [record.getMessage() for record in caplog.records if 'rejected' in record.getMessage()] == [
        'Sign-in through Authentik rejected: Authentication configuration is invalid. (STATE_LIFETIME)'
    ]
