"""`netbox authentik_check` tells a right client ID and secret from a wrong one, and from the README's placeholders."""

import json
import urllib.parse

import pytest
import requests
import responses
from django.test import override_settings

from netbox_authentik.diagnostics.credentials import credentials_findings
from tests.fake_authentik import CLIENT_SECRET, TOKEN_URL, FakeAuthentik, requests_to
from tests.tools import idp

from .test_authentik_check import AuthentikServer, configured, results, serving

pytestmark = pytest.mark.django_db

ACCEPTED = 'Authentik accepts the client ID and secret (it refused a made-up code, as it should).'
REFUSED = 'Authentik refuses the client ID or secret (invalid_client): nobody can sign in.'


@pytest.fixture
def authentik():
    with serving(AuthentikServer()) as server, configured(server.issuer):
        yield server


def test_right_credentials_pass(authentik):
    code, found = results()
    assert code == 0 and found['client_credentials']['message'] == ACCEPTED
    [body] = authentik.token_requests
    form = urllib.parse.parse_qs(body.decode())
    # A made-up code: nothing Authentik issued, and the secret travels in the Basic header, not the form.
    assert form['grant_type'] == ['authorization_code'] and len(form['code'][0]) >= 32
    assert 'client_secret' not in form


def test_wrong_secret_fails_without_showing_it(authentik):
    with override_settings(SOCIAL_AUTH_AUTHENTIK_SECRET='wrong-secret-0123456789abcdef0123456789'):
        code, found = results()
    assert code == 1
    assert found['client_credentials']['status'] == 'error'
    assert found['client_credentials']['message'] == REFUSED
    assert 'wrong-secret' not in json.dumps(found)


@pytest.mark.parametrize(('key', 'secret'), [('<client id>', CLIENT_SECRET), ('netbox', '<client secret>')])
def test_readme_placeholders_fail_without_asking_authentik(authentik, key, secret):
    with override_settings(SOCIAL_AUTH_AUTHENTIK_KEY=key, SOCIAL_AUTH_AUTHENTIK_SECRET=secret):
        code, found = results()
    assert code == 1
    name = 'SOCIAL_AUTH_AUTHENTIK_KEY' if key.startswith('<') else 'SOCIAL_AUTH_AUTHENTIK_SECRET'
    assert found['client_credentials']['status'] == 'error'
    assert found['client_credentials']['message'] == f'{name} still hold the example placeholder in angle brackets.'
    assert authentik.token_requests == []


# -- other answers, at the HTTP edge -------------------------------------------------------------------------


@pytest.fixture
def discovery(mock):
    return FakeAuthentik(mock).discovery


@pytest.mark.parametrize(
    ('status', 'body', 'outcome'),
    [
        (400, {'error': 'invalid_grant'}, ('ok', ACCEPTED)),
        (400, {'error': 'invalid_client'}, ('error', REFUSED)),
        (401, {'error': 'invalid_client'}, ('error', REFUSED)),  # RFC 6749's status for it
        (
            400,
            {'error': 'unauthorized_client'},
            (
                'warning',
                'Could not tell whether the client ID and secret are right: the token endpoint answered HTTP 400, '
                "'unauthorized_client'.",
            ),
        ),
        (
            502,
            '<html>Bad gateway</html>',
            (
                'warning',
                'Could not tell whether the client ID and secret are right: the token endpoint answered HTTP 502.',
            ),
        ),
    ],
)
def test_token_endpoint_answers(mock, discovery, status, body, outcome):
    if isinstance(body, dict):
        mock.add(responses.POST, TOKEN_URL, json=body, status=status)
    else:
        mock.add(responses.POST, TOKEN_URL, body=body, status=status)
    [finding] = credentials_findings(discovery, 2)
    assert (finding.status, finding.message) == outcome
    [request] = requests_to(mock, TOKEN_URL)
    assert CLIENT_SECRET not in (request.body or '')


def test_client_secret_post_only_sends_the_secret_in_the_form(mock, discovery):
    mock.add(responses.POST, TOKEN_URL, json={'error': 'invalid_grant'}, status=400)
    [finding] = credentials_findings({**discovery, 'token_endpoint_auth_methods_supported': ['client_secret_post']}, 2)
    assert finding.status == 'ok'
    [request] = requests_to(mock, TOKEN_URL)
    assert 'Authorization' not in request.headers
    assert urllib.parse.parse_qs(request.body)['client_secret'] == [CLIENT_SECRET]


def test_unreachable_token_endpoint_fails(mock, discovery):
    mock.add(responses.POST, TOKEN_URL, body=requests.ConnectionError('refused'))
    [finding] = credentials_findings(discovery, 2)
    assert finding.status == 'error' and finding.message.startswith('Not checked: Cannot connect to')


# -- the test provider, which answers as Authentik does ------------------------------------------------------


@pytest.mark.parametrize(
    ('secret', 'status', 'message'), [(idp.CLIENT_SECRET, 'ok', ACCEPTED), ('wrong', 'error', REFUSED)]
)
def test_against_the_test_provider(tmp_path, secret, status, message):
    provider = idp.TestProvider(log_path=tmp_path / 'idp.log').start()
    try:
        with (
            configured(provider.issuer),
            override_settings(SOCIAL_AUTH_AUTHENTIK_KEY=idp.CLIENT_ID, SOCIAL_AUTH_AUTHENTIK_SECRET=secret),
        ):
            _code, found = results()
    finally:
        provider.stop()
    assert (found['client_credentials']['status'], found['client_credentials']['message']) == (status, message)
