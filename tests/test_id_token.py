"""The id_token as Authentik signs (or encrypts) it: what signs a person in, and what sends them back to /login/.

Every token is really signed with a real key; only the HTTP edge to Authentik is faked. A rejected sign-in
lands on NetBox's login page with a message, creates no user and no link, and logs why.
"""

import hashlib
import logging
import time
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from django.contrib.auth import get_user_model
from django.test import Client
from social_django.models import UserSocialAuth
from social_django.utils import load_strategy

from netbox_authentik.backends import AuthentikOIDCAuth
from netbox_authentik.signin.errors import TokenError
from tests.fake_authentik import (
    BASE,
    CLIENT_SECRET,
    DISCOVERY_URL,
    ISSUER,
    JWKS_URL,
    NETBOX_SSO_FAILED,
    SIGN_IN_LOGGERS,
    SLUG,
    STRUCTURED_ERRORS,
    TOKEN_URL,
    FakeAuthentik,
    authentik_claims,
    begin_sign_in,
    complete_sign_in,
    encrypt_id_token,
    login_page_messages,
    private_pem,
    public_jwk,
    rejection_logged,
    requests_to,
    rsa_private_key,
    rsa_public_pem,
    sign_hs256_with_raw_key,
)

pytestmark = pytest.mark.django_db

CODE = 'authorization-code-7f3e9a'  # in an error description Authentik sends back
UNREACHABLE = 'Authentik could not be reached. Try again later.'
CREDENTIALS_REJECTED = "Authentik rejected NetBox's client credentials. Ask your NetBox administrator."
EXPIRED = 'Authentik did not accept this sign-in (it may have expired). Please sign in again.'
NOT_ACCEPTED = (
    'Authentik did not accept this sign-in. Please sign in again; if it keeps failing, ask your NetBox administrator.'
)
CHECK_CLIENT_SETTINGS = (
    "Authentik does not accept NetBox's client credentials: check that SOCIAL_AUTH_AUTHENTIK_KEY "
    'and SOCIAL_AUTH_AUTHENTIK_SECRET are the Client ID and Client Secret of the Authentik '
    'provider'
)


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def sign_in_with(client, authentik, make_id_token, username='alice'):
    """Press the button, let Authentik answer with make_id_token(claims with the right nonce), come back."""
    query = begin_sign_in(client)
    authentik.register_token(make_id_token(authentik_claims(username, nonce=query['nonce'])))
    return complete_sign_in(client, query['state'])


def assert_signed_in(client, response, username='alice'):
    assert response.status_code == 302 and response['Location'] == '/', response
    user = get_user_model().objects.get(username=username)
    assert UserSocialAuth.objects.get(provider='authentik').user == user
    assert client.get('/').context['request'].user == user


def assert_rejected(client, response, message=NETBOX_SSO_FAILED):
    """Back on the login page with `message`, nobody signed in, no user and no link created."""
    assert message in login_page_messages(client, response)
    assert not get_user_model().objects.filter(username__startswith='alice').exists()
    assert not UserSocialAuth.objects.exists()
    assert not client.get('/login/').context['request'].user.is_authenticated


def sent_code_verifier(mock):
    """The PKCE code_verifier NetBox sent to the token endpoint (where social-core keeps it differs by version)."""
    [token_request] = requests_to(mock, TOKEN_URL)
    body = token_request.body if isinstance(token_request.body, str) else token_request.body.decode()
    [verifier] = parse_qs(body)['code_verifier']
    assert len(verifier) >= 43
    return verifier


def backend_lines(log):
    """What the backend logged: the reason for a rejection, which the person never sees (NetBox shows a generic one)."""
    return [record.getMessage() for record in log.records if record.name in SIGN_IN_LOGGERS]


# -- accepted ------------------------------------------------------------------------------------------


def test_rs256_id_token_with_kid_signs_in(client, authentik, mock):
    response = sign_in_with(client, authentik, authentik.sign)

    assert_signed_in(client, response)
    assert len(requests_to(mock, JWKS_URL)) == 1


@pytest.mark.parametrize('alg', ['ES256', 'ES384', 'ES512'])
def test_ec_signed_id_token_signs_in_when_discovery_advertises_its_algorithm(client, mock, alg):
    authentik = FakeAuthentik(mock, alg=alg)
    authentik.register_metadata()

    response = sign_in_with(client, authentik, authentik.sign)

    assert_signed_in(client, response)


def test_hs256_id_token_signed_with_client_secret_signs_in_with_empty_jwks(client, mock):
    authentik = FakeAuthentik(mock, alg='HS256')  # Authentik with no signing key: JWKS answers {}
    authentik.register_metadata()

    response = sign_in_with(client, authentik, authentik.sign)

    assert_signed_in(client, response)
    assert requests_to(mock, JWKS_URL) == []


@pytest.mark.parametrize('key_as', ['pem text', 'pem file'])
def test_encrypted_id_token_is_decrypted_with_the_configured_key(client, authentik, settings, tmp_path, key_as):
    encryption_key = rsa_private_key()
    pem = private_pem(encryption_key)
    if key_as == 'pem file':
        (tmp_path / 'netbox-id-token.pem').write_text(pem)
        pem = str(tmp_path / 'netbox-id-token.pem')
    settings.PLUGINS_CONFIG = {'netbox_authentik': {'id_token_decryption_key': pem}}

    response = sign_in_with(
        client, authentik, lambda claims: encrypt_id_token(authentik.sign(claims), encryption_key.public_key())
    )

    assert_signed_in(client, response)


def test_encrypted_id_token_without_decryption_key_names_the_setting_on_the_login_page(client, authentik, log):
    encryption_key = rsa_private_key()

    response = sign_in_with(
        client, authentik, lambda claims: encrypt_id_token(authentik.sign(claims), encryption_key.public_key())
    )

    assert_rejected(
        client,
        response,
        'Authentik sent an encrypted token NetBox cannot read. Ask your NetBox '
        'administrator to set id_token_decryption_key.',
    )
    assert any('id_token_decryption_key' in line for line in backend_lines(log))


# -- discovery URL from what the admin pasted ----------------------------------------------------------


@pytest.mark.parametrize(
    'endpoint, slug',
    [
        (ISSUER, None),
        (ISSUER.rstrip('/'), None),
        (DISCOVERY_URL, None),
        (BASE, SLUG),
        (BASE + '/', SLUG),
    ],
    ids=[
        'issuer with slash',
        'issuer without slash',
        'discovery URL pasted',
        'base URL and slug',
        'base URL with slash and slug',
    ],
)
def test_discovery_is_found_from_any_form_of_the_endpoint(client, authentik, mock, settings, endpoint, slug):
    settings.SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT = endpoint
    settings.PLUGINS_CONFIG = {'netbox_authentik': {'application_slug': slug} if slug else {}}
    doubled = f'{BASE}/application/o/{SLUG}//.well-known/openid-configuration'
    mock.add(responses.GET, doubled, status=301, headers={'Location': DISCOVERY_URL})

    response = sign_in_with(client, authentik, authentik.sign)

    assert_signed_in(client, response)
    assert len(requests_to(mock, DISCOVERY_URL)) == 1
    assert requests_to(mock, doubled) == []


def test_doubled_slash_in_the_endpoint_follows_authentiks_redirect_to_the_clean_path(client, authentik, mock, settings):
    settings.SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT = f'{BASE}//application/o/{SLUG}/'
    doubled = f'{BASE}//application/o/{SLUG}/.well-known/openid-configuration'
    mock.add(responses.GET, doubled, status=301, headers={'Location': DISCOVERY_URL})

    response = sign_in_with(client, authentik, authentik.sign)

    assert_signed_in(client, response)
    assert [len(requests_to(mock, url)) for url in (doubled, DISCOVERY_URL)] == [1, 1]


# -- key rotation ------------------------------------------------------------------------------------


def test_token_signed_with_a_rotated_key_refetches_jwks_once_then_signs_in(client, authentik, mock):
    assert_signed_in(client, sign_in_with(client, authentik, authentik.sign))
    client.logout()
    new_key = rsa_private_key()
    mock.replace(
        responses.GET,
        JWKS_URL,
        json={'keys': [authentik.signing_jwk(), public_jwk(new_key, 'authentik-key-2', 'RS256')]},
    )

    response = sign_in_with(
        client, authentik, lambda claims: authentik.sign(claims, kid='authentik-key-2', key=new_key)
    )

    assert response.status_code == 302 and response['Location'] == '/', response
    assert len(requests_to(mock, JWKS_URL)) == 2


# -- rejected tokens -----------------------------------------------------------------------------------


def test_token_with_a_bad_signature_is_rejected(client, authentik, log):
    forger = rsa_private_key()  # same kid as Authentik's key, different key

    response = sign_in_with(client, authentik, lambda claims: authentik.sign(claims, key=forger))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'Signature verification failed')


@pytest.mark.parametrize(
    'issuer',
    ['https://evil.example.com/application/o/netbox/', ISSUER.rstrip('/')],
    ids=['other issuer', 'issuer without its trailing slash'],
)
def test_token_from_another_issuer_is_rejected(client, authentik, log, issuer):
    response = sign_in_with(client, authentik, lambda claims: authentik.sign({**claims, 'iss': issuer}))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'Invalid issuer')


def test_token_for_another_client_is_rejected(client, authentik, log):
    response = sign_in_with(client, authentik, lambda claims: authentik.sign({**claims, 'aud': 'grafana'}))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), "Audience doesn't match")


def test_expired_token_is_rejected(client, authentik, log):
    an_hour_ago = int(time.time()) - 3600
    response = sign_in_with(
        client,
        authentik,
        lambda claims: authentik.sign(
            {**claims, 'iat': an_hour_ago - 60, 'auth_time': an_hour_ago - 60, 'exp': an_hour_ago}
        ),
    )

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'Signature has expired')


@pytest.mark.skipif(not STRUCTURED_ERRORS, reason="social-core 5's exceptions carry no code")
@pytest.mark.parametrize(
    'overrides, code',
    [
        ({'iat': int(time.time()) - 3660, 'exp': int(time.time()) - 3600}, 'response_expired'),
        ({'iat': int(time.time()) + 300}, 'response_not_yet_valid'),
        ({'iss': 'https://evil.example.com/'}, 'invalid_claim'),
        ({'iat': ...}, 'missing_claim'),
    ],
    ids=['expired', 'future', 'issuer', 'no iat'],
)
def test_refused_id_token_carries_the_code_social_core_7_would_give(authentik, overrides, code):
    # social-auth-app-django 8's error middleware picks its status and log level by this code.
    backend = AuthentikOIDCAuth(load_strategy())
    with pytest.raises(TokenError) as refused:
        backend.decode_and_validate_id_token(authentik.sign({**authentik_claims('alice'), **overrides}), 'access')
    assert refused.value.code == code


def test_token_issued_in_the_future_beyond_leeway_is_rejected(client, authentik, log):
    in_five_minutes = int(time.time()) + 300
    response = sign_in_with(
        client,
        authentik,
        lambda claims: authentik.sign({**claims, 'iat': in_five_minutes, 'exp': in_five_minutes + 3600}),
    )

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'The token is not yet valid (iat)')


def test_token_with_another_sign_ins_nonce_is_rejected(client, authentik, log):
    response = sign_in_with(client, authentik, lambda claims: authentik.sign({**claims, 'nonce': 'x' * 64}))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'Incorrect id_token: nonce')


def test_replayed_token_is_rejected_on_a_second_completion(client, authentik, log):
    query = begin_sign_in(client)
    captured = authentik.sign(authentik_claims('alice', nonce=query['nonce']))
    authentik.register_token(captured)
    assert_signed_in(client, complete_sign_in(client, query['state']))
    other_browser = Client()

    replay = complete_sign_in(other_browser, begin_sign_in(other_browser)['state'])  # answered: captured

    assert NETBOX_SSO_FAILED in login_page_messages(other_browser, replay)
    assert not other_browser.get('/login/').context['request'].user.is_authenticated
    assert rejection_logged(backend_lines(log), 'Incorrect id_token: nonce')
    assert UserSocialAuth.objects.count() == 1


def test_unsigned_token_alg_none_is_rejected(client, authentik, log):
    response = sign_in_with(client, authentik, lambda claims: jwt.encode(claims, None, algorithm='none'))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'id_token algorithm not allowed')


def test_hs256_token_keyed_with_the_rsa_public_key_is_rejected_when_authentik_signs_rs256(client, authentik, log):
    response = sign_in_with(client, authentik, lambda claims: sign_hs256_with_raw_key(claims, rsa_public_pem()))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'id_token algorithm not allowed')


def test_hs256_token_keyed_with_the_rsa_public_key_is_rejected_when_authentik_signs_hs256(client, mock, log):
    authentik = FakeAuthentik(mock, alg='HS256')
    authentik.keys = [authentik.signing_jwk(alg='RS256')]  # a published RSA key must not become an HMAC secret
    authentik.register_metadata()

    response = sign_in_with(client, authentik, lambda claims: sign_hs256_with_raw_key(claims, rsa_public_pem()))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'Signature verification failed')


def test_rs256_token_is_rejected_when_authentik_advertises_only_es256(client, mock, log):
    authentik = FakeAuthentik(mock, alg='ES256')
    authentik.keys.append(authentik.signing_jwk(kid='rsa-key', alg='RS256'))
    authentik.register_metadata()

    response = sign_in_with(client, authentik, lambda claims: authentik.sign(claims, alg='RS256', kid='rsa-key'))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'id_token algorithm not allowed')


def test_token_signed_by_a_key_missing_from_jwks_even_after_refetch_is_rejected(client, authentik, mock, log):
    stranger = rsa_private_key()

    response = sign_in_with(client, authentik, lambda claims: authentik.sign(claims, kid='stranger', key=stranger))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'id_token signed with an unknown key')
    assert len(requests_to(mock, JWKS_URL)) == 2


@pytest.mark.parametrize('claim', ['sub', 'exp', 'iat'])
def test_token_missing_a_required_claim_is_rejected(client, authentik, log, claim):
    response = sign_in_with(client, authentik, lambda claims: authentik.sign({**claims, claim: ...}))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), f'Token is missing the "{claim}" claim')


def test_token_whose_at_hash_does_not_match_the_access_token_is_rejected(client, authentik, log):
    query = begin_sign_in(client)
    other_access_token = 'access-' + 'f' * 32
    at_hash = jwt.utils.base64url_encode(hashlib.sha256(other_access_token.encode()).digest()[:16]).decode()
    id_token = authentik.sign(authentik_claims('alice', nonce=query['nonce'], at_hash=at_hash))
    authentik.register_token(id_token, access_token='access-' + 'a' * 32)

    response = complete_sign_in(client, query['state'])

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'Invalid access token')


def test_token_whose_at_hash_matches_the_access_token_signs_in(client, authentik):
    query = begin_sign_in(client)
    access_token = 'access-' + 'a' * 32
    at_hash = jwt.utils.base64url_encode(hashlib.sha256(access_token.encode()).digest()[:16]).decode()
    authentik.register_token(
        authentik.sign(authentik_claims('alice', nonce=query['nonce'], at_hash=at_hash)), access_token=access_token
    )

    assert_signed_in(client, complete_sign_in(client, query['state']))


@pytest.mark.parametrize(
    'audience',
    [
        {'azp': 'grafana'},
        {'aud': ['netbox', 'grafana']},
    ],
    ids=['another azp', 'several audiences without azp'],
)
def test_token_for_another_authorized_party_is_rejected(client, authentik, log, audience):
    response = sign_in_with(client, authentik, lambda claims: authentik.sign({**claims, **audience}))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'Incorrect id_token: azp')


def test_token_for_several_audiences_with_netbox_as_authorized_party_signs_in(client, authentik):
    response = sign_in_with(
        client, authentik, lambda claims: authentik.sign({**claims, 'aud': ['netbox', 'grafana'], 'azp': 'netbox'})
    )

    assert_signed_in(client, response)


def test_hs256_token_is_rejected_when_no_client_secret_is_configured(client, mock, settings, log, monkeypatch):
    authentik = FakeAuthentik(mock, alg='HS256')
    authentik.register_metadata()
    # The E004 check already refuses every sign-in without a secret; the token check must refuse on its own.
    monkeypatch.setattr('netbox_authentik.diagnostics.startup.sign_in_refusal', lambda: None)
    settings.SOCIAL_AUTH_AUTHENTIK_SECRET = ''  # an empty HMAC key would let anyone sign a token
    query = begin_sign_in(client)
    id_token = sign_hs256_with_raw_key(authentik_claims('alice', nonce=query['nonce']), b'')
    mock.add(
        responses.POST,
        TOKEN_URL,
        json={'access_token': 'access-1', 'token_type': 'Bearer', 'expires_in': 3600, 'id_token': id_token},
    )

    response = complete_sign_in(client, query['state'])

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'HS id_token but no client secret configured')


def authentik_with_jwks(mock, jwks_keys):
    """Authentik whose JWKS is jwks_keys(the public JWK of its RS256 signing key)."""
    authentik = FakeAuthentik(mock)
    authentik.keys = jwks_keys(authentik.signing_jwk())
    authentik.register_metadata()
    return authentik


def test_token_without_kid_is_rejected_when_jwks_holds_several_keys(client, mock, log):
    authentik = authentik_with_jwks(mock, lambda own: [own, public_jwk(rsa_private_key(), 'authentik-key-2', 'RS256')])

    response = sign_in_with(client, authentik, lambda claims: authentik.sign(claims, kid=None))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'id_token signed with an unknown key')


def test_token_signed_with_an_encryption_key_is_rejected(client, mock, log):
    authentik = authentik_with_jwks(mock, lambda own: [{**own, 'use': 'enc'}])

    response = sign_in_with(client, authentik, authentik.sign)

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'id_token signed with an unknown key')


def test_token_whose_algorithm_differs_from_its_keys_alg_is_rejected(client, mock, log):
    authentik = authentik_with_jwks(mock, lambda own: [{**own, 'alg': 'RS512'}])

    response = sign_in_with(client, authentik, authentik.sign)  # RS256, which discovery advertises

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'id_token signed with an unknown key')


def test_token_without_nonce_is_rejected(client, authentik, log):
    response = sign_in_with(client, authentik, lambda claims: authentik.sign({**claims, 'nonce': ...}))

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'Incorrect id_token: nonce')


def test_garbage_instead_of_a_token_is_rejected(client, authentik, log):
    response = sign_in_with(client, authentik, lambda claims: 'this-is-not-a-jwt')

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'malformed id_token')


def test_token_response_without_id_token_is_rejected(client, authentik, mock, log):
    query = begin_sign_in(client)
    mock.add(
        responses.POST,
        TOKEN_URL,
        json={'access_token': 'access-1', 'token_type': 'Bearer', 'expires_in': 3600, 'scope': 'openid profile email'},
    )

    response = complete_sign_in(client, query['state'])

    assert_rejected(client, response)
    assert rejection_logged(backend_lines(log), 'Missing id_token in OpenID Connect token response')


def test_userinfo_for_another_subject_is_rejected(client, authentik, settings, log):
    settings.PLUGINS_CONFIG = {'netbox_authentik': {'fetch_userinfo': 'always'}}
    authentik.register_userinfo(authentik_claims('mallory'))

    response = sign_in_with(client, authentik, authentik.sign)

    assert_rejected(client, response)
    assert not get_user_model().objects.filter(username='mallory').exists()
    assert rejection_logged(backend_lines(log), 'Invalid UserInfo sub')


# -- the token endpoint failing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    'answer, message, logged',
    [
        (
            {'status': 500, 'json': {'error': 'server_error'}},
            'Authentik answered with an error (HTTP 500). Try again later.',
            f'Authentik token endpoint {TOKEN_URL} answered HTTP 500 (server_error)',
        ),
        (
            {'status': 400, 'json': {'error': 'invalid_grant', 'error_description': f'code {CODE} is invalid'}},
            'Authentik did not accept this sign-in (it may have expired). Please sign in again.',
            f'Authentik token endpoint {TOKEN_URL} answered HTTP 400 (invalid_grant)',
        ),
        (
            {'status': 401, 'json': {'error': 'invalid_client'}},
            CREDENTIALS_REJECTED,
            f'Authentik token endpoint {TOKEN_URL} answered HTTP 401 (invalid_client)',
        ),
        (
            {
                'status': 200,
                'body': 'access_token=leaked-access-token&id_token=leaked.id.token',
                'content_type': 'application/x-www-form-urlencoded',
            },
            'Authentik sent an answer NetBox could not read.',
            f'Authentik token endpoint {TOKEN_URL} did not answer with JSON',
        ),
        (
            {'body': requests.exceptions.ConnectTimeout('connect timed out')},
            UNREACHABLE,
            f'Authentik token endpoint {TOKEN_URL}: timed out',
        ),
        (
            {'body': requests.exceptions.ReadTimeout('read timed out')},
            UNREACHABLE,
            f'Authentik token endpoint {TOKEN_URL}: timed out',
        ),
        (
            {'body': requests.exceptions.ConnectionError('connection refused')},
            UNREACHABLE,
            f'Authentik token endpoint {TOKEN_URL}: connection failed',
        ),
    ],
    ids=[
        '500',
        '400 invalid_grant',
        '401 invalid_client',
        'non-JSON 200',
        'connect timeout',
        'read timeout',
        'refused',
    ],
)
def test_token_endpoint_failure_shows_a_message_and_logs_the_endpoint_but_no_secret(
    client, authentik, mock, log, answer, message, logged
):
    query = begin_sign_in(client)
    mock.add(responses.POST, TOKEN_URL, **answer)

    response = complete_sign_in(client, query['state'])

    assert_rejected(client, response, message)
    assert logged in backend_lines(log)
    assert len(requests_to(mock, TOKEN_URL)) == 1
    code_verifier = sent_code_verifier(mock)
    logged_text = '\n'.join(logging.Formatter().format(record) for record in log.records)
    for secret in (CLIENT_SECRET, CODE, query['code'], code_verifier, 'leaked-access-token', 'leaked.id.token'):
        assert secret not in logged_text


@pytest.mark.parametrize('status', [400, 401])
@pytest.mark.parametrize(
    'oauth_error, message',
    [
        ('invalid_client', CREDENTIALS_REJECTED),
        ('invalid_grant', EXPIRED),
    ],
)
def test_token_endpoint_refusal_is_told_apart_by_its_oauth_error_code_not_its_status(
    client, authentik, mock, log, status, oauth_error, message
):
    query = begin_sign_in(client)
    mock.add(responses.POST, TOKEN_URL, status=status, json={'error': oauth_error})

    response = complete_sign_in(client, query['state'])

    assert_rejected(client, response, message)
    error_lines = [
        record.getMessage()
        for record in log.records
        if record.name in SIGN_IN_LOGGERS and record.levelno == logging.ERROR
    ]
    assert (CHECK_CLIENT_SETTINGS in error_lines) == (oauth_error == 'invalid_client')


@pytest.mark.parametrize(
    'answer',
    [{'json': {}}, {'json': {'error': 'invalid_request'}}, {'body': 'Bad Request'}],
    ids=['no error code', 'unknown error code', 'not JSON'],
)
def test_token_endpoint_400_without_a_known_error_code_blames_neither_expiry_nor_credentials(
    client, authentik, mock, log, answer
):
    query = begin_sign_in(client)
    mock.add(responses.POST, TOKEN_URL, status=400, **answer)

    response = complete_sign_in(client, query['state'])

    assert_rejected(client, response, NOT_ACCEPTED)
    assert CHECK_CLIENT_SETTINGS not in backend_lines(log)


def test_wrong_client_secret_is_named_as_such_when_authentik_answers_400_invalid_client(
    client, authentik, settings, log
):
    settings.SOCIAL_AUTH_AUTHENTIK_SECRET = 'not-the-client-secret'  # the fake token endpoint answers as Authentik

    response = sign_in_with(client, authentik, authentik.sign)

    assert_rejected(client, response, CREDENTIALS_REJECTED)
    assert f'Authentik token endpoint {TOKEN_URL} answered HTTP 400 (invalid_client)' in backend_lines(log)
    assert CHECK_CLIENT_SETTINGS in backend_lines(log)


def test_successful_sign_in_logs_no_secret_code_or_token(client, authentik, mock, log):
    query = begin_sign_in(client)
    id_token = authentik.sign(authentik_claims('alice', nonce=query['nonce']))
    authentik.register_token(id_token)

    assert_signed_in(client, complete_sign_in(client, query['state']))
    code_verifier = sent_code_verifier(mock)

    [token_response] = [call.response.json() for call in mock.calls if call.request.url == TOKEN_URL]
    access_token = token_response['access_token']
    logged_text = '\n'.join(logging.Formatter().format(record) for record in log.records)
    for secret in (CLIENT_SECRET, query['code'], code_verifier, id_token, access_token):
        assert secret not in logged_text


# -- the begin step ----------------------------------------------------------------------------------


def test_begin_with_authentik_unreachable_returns_to_login_page_with_a_message(client, mock, log):
    mock.add(responses.GET, DISCOVERY_URL, body=requests.exceptions.ConnectionError('connection refused'))

    response = client.post('/oauth/begin/authentik/')

    assert_rejected(client, response, UNREACHABLE)
    assert f'Authentik discovery endpoint {DISCOVERY_URL}: connection failed' in backend_lines(log)
