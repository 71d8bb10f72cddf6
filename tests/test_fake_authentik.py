"""The tests' Authentik token endpoint refuses what Authentik refuses, so a sign-in test that passes means something.

Authentik answers every refused token request with 400: `invalid_client` for the client credentials
(client_secret_basic or client_secret_post), `invalid_grant` for a code that is unknown, used, issued for
another redirect_uri, or presented without the PKCE verifier of its authorize request.
"""

import base64
import hashlib
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tests.fake_authentik import AUTHORIZE_URL, CLIENT_ID, CLIENT_SECRET, TOKEN_URL, FakeAuthentik

REDIRECT_URI = 'http://testserver/oauth/complete/authentik/'
VERIFIER = 'v3rifier-' + 'x' * 50


@pytest.fixture
def authentik(mock):
    fake = FakeAuthentik(mock)
    fake.register_metadata()
    fake.register_token('the-id-token')
    return fake


def authorize(verifier=VERIFIER, redirect_uri=REDIRECT_URI):
    """The browser at the authorize endpoint with an S256 challenge; return the code Authentik redirects with."""
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip('=')
    answer = requests.get(
        AUTHORIZE_URL,
        allow_redirects=False,
        params={
            'client_id': CLIENT_ID,
            'response_type': 'code',
            'redirect_uri': redirect_uri,
            'state': 'state-1',
            'scope': 'openid profile email',
            'code_challenge': challenge,
            'code_challenge_method': 'S256',
        },
    )
    assert answer.status_code == 302, answer.text
    callback = urlparse(answer.headers['Location'])
    assert callback._replace(query='').geturl() == redirect_uri
    return parse_qs(callback.query)['code'][0]


def exchange(
    code, verifier=VERIFIER, redirect_uri=REDIRECT_URI, client_auth='basic', client_id=CLIENT_ID, secret=CLIENT_SECRET
):
    """POST the token request as NetBox does; return (status, the id_token or the OAuth error code)."""
    form = {'grant_type': 'authorization_code', 'code': code, 'redirect_uri': redirect_uri}
    if verifier is not None:
        form['code_verifier'] = verifier
    if client_auth == 'post':
        form.update(client_id=client_id, client_secret=secret)
    answer = requests.post(TOKEN_URL, data=form, auth=(client_id, secret) if client_auth == 'basic' else None)
    body = answer.json()
    return answer.status_code, body.get('id_token') or body.get('error')


@pytest.mark.parametrize('client_auth', ['basic', 'post'])
def test_the_code_with_its_verifier_redirect_uri_and_credentials_gets_the_id_token(authentik, client_auth):
    assert exchange(authorize(), client_auth=client_auth) == (200, 'the-id-token')


def test_a_code_is_good_for_one_exchange(authentik):
    code = authorize()
    assert exchange(code) == (200, 'the-id-token')

    assert exchange(code) == (400, 'invalid_grant')


def test_a_code_it_never_issued_is_refused(authentik):
    authorize()

    assert exchange('authorization-code') == (400, 'invalid_grant')


@pytest.mark.parametrize('verifier', ['another-verifier-' + 'y' * 40, None], ids=['wrong verifier', 'no verifier'])
def test_a_verifier_that_does_not_match_the_challenge_is_refused(authentik, verifier):
    assert exchange(authorize(), verifier=verifier) == (400, 'invalid_grant')


def test_a_redirect_uri_other_than_the_authorize_requests_is_refused(authentik):
    code = authorize()

    assert exchange(code, redirect_uri='http://testserver/oauth/complete/other/') == (400, 'invalid_grant')


@pytest.mark.parametrize('client_auth', ['basic', 'post'])
@pytest.mark.parametrize(
    'client_id, secret',
    [(CLIENT_ID, 'wrong-secret'), ('grafana', CLIENT_SECRET), (CLIENT_ID, '')],
    ids=['wrong secret', 'other client', 'no secret'],
)
def test_wrong_client_credentials_are_refused_with_400_invalid_client(authentik, client_auth, client_id, secret):
    code = authorize()

    assert exchange(code, client_auth=client_auth, client_id=client_id, secret=secret) == (400, 'invalid_client')
    assert exchange(code) == (200, 'the-id-token')  # a refused client does not use up the code


def test_no_client_credentials_at_all_are_refused(authentik):
    answer = requests.post(
        TOKEN_URL,
        data={
            'grant_type': 'authorization_code',
            'code': authorize(),
            'redirect_uri': REDIRECT_URI,
            'code_verifier': VERIFIER,
        },
    )

    assert (answer.status_code, answer.json()) == (400, {'error': 'invalid_client'})
