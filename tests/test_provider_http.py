"""NetBox's requests to Authentik: what is cached and shared, what is retried, and how long a stuck Authentik costs.

Discovery and JWKS live in Django's cache (Redis), so every NetBox worker shares them; a warm sign-in
makes a single request to Authentik, the token exchange.
"""

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import responses

from netbox_authentik.signin import metadata, provider
from tests.fake_authentik import (
    AUTHORIZE_URL,
    DISCOVERY_URL,
    JWKS_URL,
    SIGN_IN_LOGGERS,
    TOKEN_URL,
    FakeAuthentik,
    authentik_claims,
    begin_sign_in,
    complete_sign_in,
    login_page_messages,
    private_pem,
    public_jwk,
    requests_to,
    rsa_private_key,
)
from tests.tools import database

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parent.parent
UNREACHABLE = 'Authentik could not be reached. Try again later.'


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger='netbox_authentik')
    return caplog


def sign_in(client, authentik, make_id_token=None, username='alice'):
    """Begin and complete one sign-in; the id_token is make_id_token(claims) or signed with Authentik's key."""
    query = begin_sign_in(client)
    claims = authentik_claims(username, nonce=query['nonce'])
    authentik.register_token(make_id_token(claims) if make_id_token else authentik.sign(claims))
    return complete_sign_in(client, query['state'])


def assert_signed_in(response):
    assert response.status_code == 302 and response['Location'] == '/', response


def requested_urls(mock, since=0):
    """The URLs NetBox requested (the browser's visits to Authentik's authorize endpoint left out)."""
    return [call.request.url for call in mock.calls[since:] if not call.request.url.startswith(AUTHORIZE_URL)]


def backend_lines(log):
    return [record.getMessage() for record in log.records if record.name in SIGN_IN_LOGGERS]


# -- the metadata cache --------------------------------------------------------------------------------


def test_warm_sign_in_makes_only_the_token_request(client, authentik, mock):
    assert_signed_in(sign_in(client, authentik))
    assert sorted(requested_urls(mock)) == sorted([DISCOVERY_URL, JWKS_URL, TOKEN_URL])
    client.logout()
    before = len(mock.calls)

    assert_signed_in(sign_in(client, authentik))

    assert requested_urls(mock, since=before) == [TOKEN_URL]


CROSS_PROCESS_SIGN_IN = """
import json, os, django
django.setup()
import responses
from cryptography.hazmat.primitives import serialization
from django.test import Client
from tests.fake_authentik import (AUTHORIZE_URL, TOKEN_URL, FakeAuthentik, authentik_claims, begin_sign_in,
                                  complete_sign_in)
key = serialization.load_pem_private_key(open(os.environ['NBA_SIGNING_KEY']).read().encode(), None)
client = Client()
# Only authorize (the browser's) and token answer: discovery or JWKS from anywhere but the shared cache would fail.
with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
    authentik = FakeAuthentik(mock)
    authentik.register_authorize()  # the browser's visit
    query = begin_sign_in(client)
    authentik.register_token(authentik.sign(authentik_claims('bob', nonce=query['nonce']), key=key))
    response = complete_sign_in(client, query['state'])
    print(json.dumps({'status': response.status_code, 'location': response.get('Location'),
                      'requested': [call.request.url for call in mock.calls
                                    if not call.request.url.startswith(AUTHORIZE_URL)]}))
"""


def test_metadata_fetched_by_one_process_serves_another_without_a_request(client, authentik, tmp_path):
    assert_signed_in(sign_in(client, authentik))  # this process fills the cache (Redis)
    signing_key = tmp_path / 'authentik-signing-key.pem'
    signing_key.write_text(private_pem(authentik.private_key()))
    other_database = database.clone(os.environ.get('NBA_DB_NAME', 'nba_h2') + '_y')
    # Same NBA_REDIS_DB as this process, so the same Redis cache; its own database.
    env = {
        **os.environ,
        'DJANGO_SETTINGS_MODULE': 'tests.settings',
        'NBA_DB_NAME': other_database,
        'NBA_SIGNING_KEY': str(signing_key),
    }
    try:
        other = subprocess.run(
            [sys.executable, '-c', CROSS_PROCESS_SIGN_IN],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        database.drop(other_database)

    assert other.returncode == 0, other.stderr
    outcome = json.loads(other.stdout.strip().splitlines()[-1])
    assert (outcome['status'], outcome['location'], outcome['requested']) == (302, '/', [TOKEN_URL]), other.stderr


def test_rotated_keys_are_refetched_once_then_served_from_the_cache(client, authentik, mock):
    assert_signed_in(sign_in(client, authentik))
    new_key = rsa_private_key()
    mock.replace(
        responses.GET,
        JWKS_URL,
        json={'keys': [authentik.signing_jwk(), public_jwk(new_key, 'authentik-key-2', 'RS256')]},
    )

    def sign_with_new_key(claims):
        return authentik.sign(claims, kid='authentik-key-2', key=new_key)

    for _ in range(3):
        client.logout()
        assert_signed_in(sign_in(client, authentik, sign_with_new_key))

    assert len(requests_to(mock, JWKS_URL)) == 2


def test_flood_of_unknown_key_ids_refetches_jwks_at_most_once_per_interval(client, authentik, mock, log, monkeypatch):
    monkeypatch.setattr(provider, 'METADATA_REFRESH_INTERVAL', 3600)  # the flood never outlasts it, however slow
    assert_signed_in(sign_in(client, authentik))
    client.logout()
    forger = rsa_private_key()

    for _ in range(20):
        response = sign_in(client, authentik, lambda claims: authentik.sign(claims, kid=uuid.uuid4().hex, key=forger))
        assert response['Location'] == '/login/'

    assert len(requests_to(mock, JWKS_URL)) == 2  # the cold fetch and one refetch
    assert sum('JWKS were refreshed less than 3600s ago' in line for line in backend_lines(log)) == 19
    assert_signed_in(sign_in(client, authentik))  # Authentik's real key still works during the flood
    assert len(requests_to(mock, JWKS_URL)) == 2


def test_stale_metadata_is_used_when_authentik_cannot_refresh_it_after_expiry(
    client, authentik, mock, settings, monkeypatch, log
):
    settings.PLUGINS_CONFIG = {'netbox_authentik': {'metadata_cache_seconds': 60}}
    assert_signed_in(sign_in(client, authentik))
    client.logout()
    monkeypatch.setattr(metadata, 'time', SimpleNamespace(time=lambda: time.time() + 120))  # past the TTL
    mock.replace(responses.GET, DISCOVERY_URL, status=503)
    mock.replace(responses.GET, JWKS_URL, body=requests.exceptions.ConnectionError('connection refused'))
    before = len(mock.calls)

    assert_signed_in(sign_in(client, authentik))

    lines = backend_lines(log)
    assert 'Using the cached Authentik discovery document: refreshing it failed' in lines
    assert 'Using the cached Authentik JWKS document: refreshing it failed' in lines
    assert requested_urls(mock, since=before).count(TOKEN_URL) == 1


# -- retries -------------------------------------------------------------------------------------------


def test_discovery_answering_503_is_retried_once(client, mock, log):
    mock.add(responses.GET, DISCOVERY_URL, status=503)
    authentik = FakeAuthentik(mock)
    authentik.register_metadata()  # the second answer

    assert_signed_in(sign_in(client, authentik))

    assert len(requests_to(mock, DISCOVERY_URL)) == 2
    assert 'Retrying Authentik discovery request once' in backend_lines(log)


def test_discovery_failing_twice_gives_up_with_a_message(client, mock):
    mock.add(responses.GET, DISCOVERY_URL, status=502)

    response = client.post('/oauth/begin/authentik/')

    assert 'Authentik answered with an error (HTTP 502). Try again later.' in login_page_messages(client, response)
    assert len(requests_to(mock, DISCOVERY_URL)) == 2


def test_jwks_connection_error_is_retried_once(client, mock, log):
    mock.add(responses.GET, JWKS_URL, body=requests.exceptions.ConnectionError('connection reset'))
    authentik = FakeAuthentik(mock)
    authentik.register_metadata()

    assert_signed_in(sign_in(client, authentik))

    assert len(requests_to(mock, JWKS_URL)) == 2
    assert 'Retrying Authentik JWKS request once' in backend_lines(log)


@pytest.mark.parametrize(
    'answer',
    [{'status': 500}, {'status': 503}, {'body': requests.exceptions.ConnectionError('connection reset')}],
    ids=['500', '503', 'connection error'],
)
def test_token_exchange_is_never_retried(client, authentik, mock, answer):
    query = begin_sign_in(client)
    mock.add(responses.POST, TOKEN_URL, **answer)

    response = complete_sign_in(client, query['state'])

    assert response['Location'] == '/login/'
    assert len(requests_to(mock, TOKEN_URL)) == 1  # an authorization code is good for one exchange only


# -- a real socket that never answers ------------------------------------------------------------------


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never answers; yields its base URL."""
    listener = socket.create_server(('127.0.0.1', 0))
    listener.settimeout(0.2)
    stop, held = threading.Event(), []

    def accept_and_hold():
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept_and_hold, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{listener.getsockname()[1]}'
    stop.set()
    thread.join(timeout=2)
    for connection in held:
        connection.close()
    listener.close()


def test_token_endpoint_that_never_answers_ends_on_the_login_page_within_the_timeout(
    client, mock, settings, silent_server, log
):
    settings.PLUGINS_CONFIG = {'netbox_authentik': {'http_timeout': 1}}
    stuck_token_url = f'{silent_server}/application/o/token/'
    authentik = FakeAuthentik(mock)
    authentik.discovery['token_endpoint'] = stuck_token_url
    authentik.register_metadata()
    mock.add_passthru(silent_server)
    query = begin_sign_in(client)

    started = time.monotonic()
    response = complete_sign_in(client, query['state'])
    elapsed = time.monotonic() - started

    assert UNREACHABLE in login_page_messages(client, response)
    # At least the timeout; the upper bound only catches a missing timeout (a loaded machine is slow).
    assert 1 <= elapsed < 20, elapsed
    assert f'Authentik token endpoint {stuck_token_url}: timed out' in backend_lines(log)


def test_begin_with_discovery_that_never_answers_ends_on_the_login_page_within_two_timeouts(
    client, mock, settings, silent_server, log
):
    settings.PLUGINS_CONFIG = {'netbox_authentik': {'http_timeout': 1}}
    settings.SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT = f'{silent_server}/application/o/netbox/'
    mock.add_passthru(silent_server)

    started = time.monotonic()
    response = client.post('/oauth/begin/authentik/')
    elapsed = time.monotonic() - started

    assert UNREACHABLE in login_page_messages(client, response)
    assert 2 <= elapsed < 25, elapsed  # two timeouts: one retry; the upper bound only catches a missing timeout
    assert (
        backend_lines(log).count(
            f'Authentik discovery endpoint {silent_server}/application/o/netbox/.well-known/openid-configuration: '
            'timed out'
        )
        == 2
    )
