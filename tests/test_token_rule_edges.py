"""The token rules at their edges: what mutation testing of signin/tokens.py found no test for.

Each test pins one rule the way a wrong version of it would break: a bound taken with `>=` for `>`, a
check joined with `or` for `and`, a log line that goes missing or comes twice.
"""

import base64
import json
import logging
import time
import types

import jwt
import pytest
from django.core.cache import cache
from social_django.utils import load_strategy

from netbox_authentik.backends import AuthentikOIDCAuth
from netbox_authentik.signin import provider, tokens
from netbox_authentik.signin.tokens import (
    JWE_MAX_LENGTH,
    LOGOUT_TOKEN_MAX_AGE,
    LOGOUT_TOKEN_MAX_LENGTH,
    LogoutTokenError,
    RefusedJWEError,
    _check_jwe_header,
    _find_jwk,
    _jwt_error_code,
    claim_jti,
    validate_logout_token,
)
from tests.fake_authentik import (
    authentik_claims,
    begin_sign_in,
    complete_sign_in,
    logout_token_claims,
    public_jwk,
    rsa_private_key,
)

pytestmark = pytest.mark.django_db

REJECTED = 'Rejected an Authentik token signed with'


@pytest.fixture(autouse=True)
def one_refresh_per_test(monkeypatch):
    monkeypatch.setattr(provider, 'METADATA_REFRESH_INTERVAL', 3600)


def sign_in_with(client, authentik, make_id_token):
    client.logout()
    query = begin_sign_in(client)
    authentik.register_token(make_id_token(authentik_claims('alice', nonce=query['nonce'])))
    return complete_sign_in(client, query['state'])


# -- an algorithm Authentik does not advertise: refused, and said once --------------------------------


@pytest.mark.parametrize(
    'forge',
    [
        # RS384 may follow a key change, so it is checked again after a refresh and logged then, once.
        lambda claims: jwt.encode(claims, rsa_private_key(), algorithm='RS384', headers={'kid': 'authentik-key-1'}),
        # `none` can never become valid: no refresh, logged at once, once.
        lambda claims: jwt.encode(claims, None, algorithm='none'),
    ],
    ids=['RS384', 'none'],
)
def test_an_unadvertised_algorithm_is_refused_with_one_warning(client, authentik, caplog, forge):
    caplog.set_level(logging.WARNING, logger='netbox_authentik.tokens')

    assert sign_in_with(client, authentik, forge)['Location'] == '/login/'

    warnings = [record.getMessage() for record in caplog.records if record.getMessage().startswith(REJECTED)]
    assert len(warnings) == 1, warnings
    assert "Authentik advertises ['RS256']" in warnings[0]


# -- a token without a key id -----------------------------------------------------------------------


def test_a_token_without_a_key_id_is_checked_with_the_only_key(client, authentik):
    response = sign_in_with(client, authentik, lambda claims: authentik.sign(claims, kid=None))

    assert response['Location'] == '/'


def test_find_jwk_without_a_key_id_takes_only_a_lone_fitting_key():
    one = public_jwk(rsa_private_key(), 'k1', 'RS256')
    two = public_jwk(rsa_private_key(), 'k2', 'RS256')

    assert _find_jwk([one], None, 'RS256') == one
    assert _find_jwk([one, two], None, 'RS256') is None  # which one signed is not known: no key
    assert _find_jwk([one, two], 'k2', 'RS256') == two
    assert _find_jwk([one], 'k9', 'RS256') is None


# -- social-core 7 reads a refusal's code ---------------------------------------------------------------


@pytest.mark.parametrize(
    'error, code',
    [
        (jwt.InvalidSignatureError(), 'invalid_signature'),
        (jwt.ImmatureSignatureError(), 'response_not_yet_valid'),
        (jwt.MissingRequiredClaimError('iat'), 'missing_claim'),
        (jwt.InvalidAudienceError(), 'invalid_claim'),
        (jwt.InvalidIssuerError(), 'invalid_claim'),
    ],
)
def test_each_jwt_refusal_has_social_core_7s_code(error, code):
    assert _jwt_error_code(error) == code


# -- an encrypted token's header ----------------------------------------------------------------------


def jwe_of_length(length, **header):
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).decode().rstrip('=')
    return encoded + '.' + 'a' * (length - len(encoded) - 1)


def test_a_jwe_of_exactly_the_length_bound_is_read():
    header = {'alg': 'RSA-OAEP-256', 'enc': 'A256CBC-HS512'}
    assert _check_jwe_header(jwe_of_length(JWE_MAX_LENGTH, **header)) is None
    with pytest.raises(RefusedJWEError, match='longer than'):
        _check_jwe_header(jwe_of_length(JWE_MAX_LENGTH + 1, **header))


@pytest.mark.parametrize(
    'header',
    [
        {'alg': 'A128KW', 'enc': 'A256GCM'},  # a key-wrap algorithm Authentik never uses
        {'alg': 'dir', 'enc': 'A256GCM'},
        {'alg': 'RSA-OAEP-256', 'enc': 'A128CTR'},
        {'alg': 'RSA-OAEP-256'},
        {'alg': ['RSA-OAEP-256'], 'enc': 'A256GCM'},
    ],
)
def test_a_jwe_with_another_alg_or_enc_is_refused(header):
    with pytest.raises(RefusedJWEError, match='alg or enc'):
        _check_jwe_header(jwe_of_length(200, **header))


# -- the logout_token rules PyJWT does not know -------------------------------------------------------


@pytest.fixture
def backend(authentik):
    return AuthentikOIDCAuth(load_strategy())


def refusal(backend, token):
    with pytest.raises(LogoutTokenError) as refused:
        validate_logout_token(backend, token)
    return str(refused.value)


def test_an_empty_logout_token_is_missing(backend):
    assert refusal(backend, '') == 'logout_token is missing'


def test_a_logout_token_of_exactly_the_length_bound_is_read(backend):
    assert 'longer than' not in refusal(backend, 'a' * LOGOUT_TOKEN_MAX_LENGTH)
    assert 'longer than' in refusal(backend, 'a' * (LOGOUT_TOKEN_MAX_LENGTH + 1))


@pytest.mark.parametrize('iat', [True, 'now'], ids=['boolean', 'digits in a string'])
def test_a_logout_token_iat_that_is_no_number_is_refused(backend, authentik, iat):
    iat = str(int(time.time())) if iat == 'now' else iat
    token = authentik.sign(logout_token_claims(sub='someone', iat=iat))

    assert refusal(backend, token) == 'logout_token iat claim is not a number'


def test_a_logout_token_is_accepted_up_to_its_age_bound(backend, authentik, monkeypatch):
    now = int(time.time())
    monkeypatch.setattr(tokens, 'time', types.SimpleNamespace(time=lambda: now))
    leeway = backend.setting('JWT_LEEWAY', backend.JWT_LEEWAY)
    oldest = now - LOGOUT_TOKEN_MAX_AGE - leeway

    assert validate_logout_token(backend, authentik.sign(logout_token_claims(sub='someone', iat=oldest)))
    assert 'older than' in refusal(backend, authentik.sign(logout_token_claims(sub='someone', iat=oldest - 1)))


def test_a_logout_token_is_checked_for_its_own_rules(backend, authentik):
    # Signature, issuer and audience pass; only the rules of _check_logout_claims are broken.
    token = authentik.sign(logout_token_claims(sub='someone', nonce='n-1'))

    assert refusal(backend, token) == 'logout_token must not contain a nonce claim'


def test_a_seen_logout_token_id_is_remembered_for_twice_the_token_age(authentik):
    claims = logout_token_claims(sub='someone')

    assert claim_jti(claims) is True
    assert claim_jti(claims) is False
    keys = cache.keys('*logout-jti*')
    assert len(keys) == 1
    assert LOGOUT_TOKEN_MAX_AGE * 2 - 5 <= cache.ttl(keys[0]) <= LOGOUT_TOKEN_MAX_AGE * 2


@pytest.mark.parametrize(
    'claims, reason',
    [
        ({'sub': 123}, 'logout_token is invalid: InvalidSubjectError'),  # PyJWT checks sub's type itself
        ({'sub': ''}, 'logout_token has neither a sub nor a sid claim'),
        ({'sid': ['sid-alice']}, 'logout_token has neither a sub nor a sid claim'),
        ({'sub': 'someone', 'sid': ['sid-alice']}, 'logout_token sid claim is not a string'),
        ({'sid': 7}, 'logout_token has neither a sub nor a sid claim'),  # sid is for this code alone
    ],
)
def test_a_logout_tokens_sub_and_sid_must_be_non_empty_strings(backend, authentik, claims, reason):
    assert refusal(backend, authentik.sign(logout_token_claims(**claims))) == reason
