"""Authentik's provider gets another signing key: sign-ins go on at the next attempt, warm cache, no restart.

Authentik changes discovery (id_token_signing_alg_values_supported) and JWKS the moment an admin selects
another signing key, while NetBox keeps both in its cache for metadata_cache_seconds. A token the cached
copies cannot verify makes NetBox refetch them once before rejecting it; a flood of forged tokens costs at
most one refetch per interval, whatever the clock does during the test.
"""

import logging
import uuid

import jwt
import pytest

from netbox_authentik.signin import metadata, provider
from tests.fake_authentik import (
    DISCOVERY_URL,
    JWKS_URL,
    SIGN_IN_LOGGERS,
    FakeAuthentik,
    authentik_claims,
    begin_sign_in,
    complete_sign_in,
    rejection_logged,
    requests_to,
    rsa_private_key,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def refresh_interval_outlasts_the_test(monkeypatch):
    """At most one refresh per test, however slowly the machine runs it (the cache is cleared between tests)."""
    monkeypatch.setattr(provider, 'METADATA_REFRESH_INTERVAL', 3600)


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger='netbox_authentik')
    return caplog


def authentik_signing_with(mock, alg):
    authentik = FakeAuthentik(mock, alg=alg)
    authentik.register_metadata()
    return authentik


def sign_in(client, authentik, make_id_token=None):
    """One sign-in; the id_token is make_id_token(claims), or signed with Authentik's current key."""
    client.logout()
    query = begin_sign_in(client)
    claims = authentik_claims('alice', nonce=query['nonce'])
    authentik.register_token(make_id_token(claims) if make_id_token else authentik.sign(claims))
    return complete_sign_in(client, query['state'])


def signed_in(response):
    return response.status_code == 302 and response['Location'] == '/'


def fetches(mock):
    """How often NetBox fetched (discovery, JWKS)."""
    return len(requests_to(mock, DISCOVERY_URL)), len(requests_to(mock, JWKS_URL))


def backend_lines(log):
    return [record.getMessage() for record in log.records if record.name in SIGN_IN_LOGGERS]


# -- a genuine change is picked up at the next sign-in -----------------------------------------------------


@pytest.mark.parametrize(
    'before, after',
    [('RS256', 'HS256'), ('HS256', 'RS256'), ('HS256', 'ES256'), ('ES256', 'RS256'), ('RS256', 'ES256')],
)
def test_sign_in_goes_on_when_authentik_changes_its_signing_algorithm(client, mock, before, after):
    authentik = authentik_signing_with(mock, before)
    assert signed_in(sign_in(client, authentik))  # the cache now holds discovery advertising `before`
    authentik.change_signing_key(after)

    assert signed_in(sign_in(client, authentik))

    assert fetches(mock)[0] == 2  # the cold fetch and one refresh
    cached_discovery, _jwks = metadata.cached_metadata(DISCOVERY_URL)
    assert cached_discovery['id_token_signing_alg_values_supported'] == [after]  # for every worker


def test_sign_in_goes_on_when_authentik_gets_a_new_key_with_a_new_key_id(client, mock):
    authentik = authentik_signing_with(mock, 'RS256')
    assert signed_in(sign_in(client, authentik))
    authentik.change_signing_key('RS256', kid='authentik-key-2', key=rsa_private_key())

    assert signed_in(sign_in(client, authentik))
    assert signed_in(sign_in(client, authentik))  # then from the refreshed cache

    assert fetches(mock) == (2, 2)


def test_sign_in_goes_on_when_authentik_replaces_the_key_under_the_same_key_id(client, mock, log):
    authentik = authentik_signing_with(mock, 'RS256')
    assert signed_in(sign_in(client, authentik))
    authentik.change_signing_key('RS256', key=rsa_private_key())  # same kid, other key: the signature fails

    assert signed_in(sign_in(client, authentik))

    assert fetches(mock) == (2, 2)
    assert (
        "An Authentik token's signature does not match the cached JWKS key; refreshing Authentik discovery and JWKS"
    ) in backend_lines(log)


def test_issuer_is_still_checked_against_the_refreshed_discovery(client, mock, log):
    authentik = authentik_signing_with(mock, 'RS256')
    assert signed_in(sign_in(client, authentik))
    authentik.change_signing_key('HS256')

    response = sign_in(
        client,
        authentik,
        lambda claims: authentik.sign({**claims, 'iss': 'https://evil.example.com/application/o/netbox/'}),
    )

    assert response['Location'] == '/login/'
    assert rejection_logged(backend_lines(log), 'Invalid issuer')
    assert fetches(mock)[0] == 2


# -- forged tokens cost at most one refresh per interval ---------------------------------------------------


def forged_hs256(claims):
    return jwt.encode(claims, 'not-the-client-secret-' + uuid.uuid4().hex, algorithm='HS256')


@pytest.mark.parametrize(
    'forge',
    [
        forged_hs256,
        lambda claims: jwt.encode(claims, rsa_private_key(), algorithm='RS256', headers={'kid': 'authentik-key-1'}),
        lambda claims: jwt.encode(claims, rsa_private_key(), algorithm='RS256', headers={'kid': uuid.uuid4().hex}),
    ],
    ids=['unadvertised algorithm', 'bad signature under a known key id', 'unknown key id'],
)
def test_flood_of_forged_tokens_refreshes_metadata_at_most_once_per_interval(client, mock, log, forge):
    authentik = authentik_signing_with(mock, 'RS256')
    assert signed_in(sign_in(client, authentik))

    for _ in range(10):
        assert sign_in(client, authentik, forge)['Location'] == '/login/'

    assert fetches(mock) == (2, 2)  # the cold fetch and one refresh
    assert sum('refreshed less than 3600s ago' in line for line in backend_lines(log)) == 9
    assert signed_in(sign_in(client, authentik))  # Authentik's real key still works during the flood
    assert fetches(mock) == (2, 2)


@pytest.mark.parametrize(
    'forge',
    [
        lambda claims: jwt.encode(claims, None, algorithm='none'),
        forged_hs256,
    ],
    ids=['alg none', 'HS256 with a wrong secret'],
)
def test_tokens_no_refresh_could_make_valid_do_not_refresh_metadata(client, mock, forge):
    authentik = authentik_signing_with(mock, 'HS256')  # HS256 is checked with the configured client secret
    assert signed_in(sign_in(client, authentik))

    assert sign_in(client, authentik, forge)['Location'] == '/login/'

    assert fetches(mock)[0] == 1
