"""The token exchange refuses every Authentik token a sign-in would refuse, and every malformed request,
with OAuth error JSON and the right status: never a token, never a 500."""

import base64
import json
import random
import time

import pytest
import requests
import responses
from django.core.cache import cache
from django.test import Client

from netbox_authentik.models import ExchangedToken
from tests.fake_authentik import (
    CLIENT_SECRET,
    DISCOVERY_URL,
    INTROSPECT_URL,
    ISSUER,
    FakeAuthentik,
    access_token_claims,
    authentik_claims,
    encrypt_id_token,
    logout_token_claims,
    rsa_private_key,
    rsa_public_pem,
    sign_hs256_with_raw_key,
)
from tests.test_token_exchange import (
    ACCESS_TOKEN,
    GRANT,
    URL,
    assert_refused,
    configure,
    exchange,
    exchanged,
    linked_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def exchange_enabled(settings):
    configure(settings)


@pytest.fixture
def alice():
    return linked_user()


def _now():
    return int(time.time())


def unsigned(claims):
    def b64(document):
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b'=').decode()

    return f'{b64({"alg": "none", "typ": "JWT"})}.{b64(claims)}.'


# rule -> (the token that breaks it, status, OAuth error, what the description says)
REFUSED = {
    'malformed': (lambda fake: 'not-a-jwt', 400, 'invalid_grant', 'not a well-formed JWT'),
    'bad_signature': (
        lambda fake: fake.sign(access_token_claims(), key=rsa_private_key()),
        400,
        'invalid_grant',
        'signature is invalid',
    ),
    'unknown_key': (lambda fake: fake.sign(access_token_claims(), kid='other'), 400, 'invalid_grant', 'unknown key'),
    'alg_none': (lambda fake: unsigned(access_token_claims()), 400, 'invalid_grant', "signed with 'none'"),
    'hs256_with_public_key': (
        lambda fake: sign_hs256_with_raw_key(access_token_claims(), rsa_public_pem()),
        400,
        'invalid_grant',
        "signed with 'HS256'",
    ),
    'wrong_iss': (
        lambda fake: fake.sign(access_token_claims(iss=ISSUER.replace('/netbox/', '/other/'))),
        400,
        'invalid_grant',
        '(iss)',
    ),
    'wrong_aud': (
        lambda fake: fake.sign(access_token_claims(aud='another-client')),
        401,
        'unauthorized_client',
        '(aud)',
    ),
    'wrong_azp': (
        lambda fake: fake.sign(access_token_claims(azp='another-client')),
        401,
        'unauthorized_client',
        '(azp)',
    ),
    'expired': (lambda fake: fake.sign(access_token_claims(exp=_now() - 60)), 400, 'invalid_grant', 'expired'),
    'future_iat': (
        lambda fake: fake.sign(access_token_claims(iat=_now() + 600)),
        400,
        'invalid_grant',
        'not valid yet',
    ),
    'future_nbf': (
        lambda fake: fake.sign(access_token_claims(nbf=_now() + 600)),
        400,
        'invalid_grant',
        'not valid yet',
    ),
    'missing_sub': (lambda fake: fake.sign(access_token_claims(sub=...)), 400, 'invalid_grant', 'no sub claim'),
    'missing_exp': (lambda fake: fake.sign(access_token_claims(exp=...)), 400, 'invalid_grant', 'no exp claim'),
    'sub_not_a_string': (lambda fake: fake.sign(access_token_claims(sub=42)), 400, 'invalid_grant', 'sub claim'),
    'scope_not_a_string': (lambda fake: fake.sign(access_token_claims(scope=['x'])), 400, 'invalid_grant', 'scope'),
    'a_logout_token': (
        lambda fake: fake.sign(logout_token_claims(sub=access_token_claims()['sub'], exp=_now() + 60)),
        400,
        'invalid_grant',
        'logout_token',
    ),
    'a_sign_in_id_token': (
        lambda fake: fake.sign(authentik_claims('alice', nonce='n-0S6_WzA2Mj', sid='sid-1')),
        400,
        'invalid_grant',
        'id_token of a browser sign-in',
    ),
    'encrypted_without_a_key': (
        lambda fake: encrypt_id_token(fake.sign(access_token_claims()), rsa_private_key().public_key()),
        400,
        'invalid_grant',
        'encrypted',
    ),
}


@pytest.mark.parametrize(('make_token', 'status', 'error', 'reason'), REFUSED.values(), ids=REFUSED.keys())
def test_refused_token_issues_nothing(authentik, alice, make_token, status, error, reason, caplog):
    token = make_token(authentik)

    assert reason in assert_refused(exchange(token), status, error)

    assert not alice.tokens.exists()
    assert not ExchangedToken.objects.exists()
    assert 'Refused an API token exchange' in caplog.text
    assert token not in caplog.text


def test_another_client_id_is_accepted_once_listed(authentik, alice, settings):
    configure(settings, api_token_audiences=['netbox-cli'])

    assert exchanged(authentik, aud='netbox-cli', azp='netbox-cli')['access_token']


def test_hs256_of_authentik_without_a_signing_key(client, alice, mock):
    fake = FakeAuthentik(mock, alg='HS256')
    fake.register_metadata()

    assert exchanged(fake)['access_token']
    forged = fake.sign(access_token_claims(), key='not-the-client-secret-0123456789abcdef')
    assert 'signature' in assert_refused(exchange(forged), 400, 'invalid_grant')


def test_a_new_signing_key_is_fetched_once_as_at_sign_in(authentik, alice):
    exchanged(authentik)  # discovery and JWKS cached
    authentik.change_signing_key('RS256', kid='rotated', key=rsa_private_key())

    assert exchanged(authentik, iat=_now() - 1)['access_token']


def test_encrypted_token_is_decrypted_as_at_sign_in(authentik, alice, settings):
    from tests.fake_authentik import private_pem

    key = rsa_private_key()
    configure(settings, id_token_decryption_key=private_pem(key))

    response = exchange(encrypt_id_token(authentik.sign(access_token_claims()), key.public_key()))

    assert response.status_code == 200, response.content


def test_unreachable_authentik_is_a_temporary_failure(authentik, alice):
    cache.clear()
    authentik.mock.replace(responses.GET, DISCOVERY_URL, body=requests.ConnectionError('refused'))

    assert_refused(exchange(authentik.sign(access_token_claims())), 503, 'temporarily_unavailable')
    assert not alice.tokens.exists()


# -- introspection --------------------------------------------------------------------------------------------


def test_introspection_lets_an_active_token_through_asking_with_the_client_credentials(authentik, alice, settings):
    configure(settings, api_token_introspect=True)
    token = authentik.sign(access_token_claims())
    authentik.register_introspection({token})

    assert exchange(token).status_code == 200

    (call,) = [call for call in authentik.mock.calls if call.request.url == INTROSPECT_URL]
    expected = base64.b64encode(f'netbox:{CLIENT_SECRET}'.encode()).decode()
    assert call.request.headers['Authorization'] == f'Basic {expected}'


def test_introspection_refuses_a_token_revoked_in_authentik(authentik, alice, settings):
    configure(settings, api_token_introspect=True)
    authentik.register_introspection(set())

    assert 'no longer active' in assert_refused(exchange(authentik.sign(access_token_claims())), 400, 'invalid_grant')
    assert not alice.tokens.exists()


def test_introspection_off_asks_nothing(authentik, alice):
    authentik.register_introspection(set())

    assert exchange(authentik.sign(access_token_claims())).status_code == 200
    assert not [call for call in authentik.mock.calls if call.request.url == INTROSPECT_URL]


def test_introspection_unreachable_is_a_temporary_failure(authentik, alice, settings):
    configure(settings, api_token_introspect=True)
    authentik.mock.add(responses.POST, INTROSPECT_URL, body=requests.ConnectionError('refused'))

    assert_refused(exchange(authentik.sign(access_token_claims())), 503, 'temporarily_unavailable')


# -- the request ------------------------------------------------------------------------------------------------

REQUESTS = {
    'wrong_grant_type': ({'grant_type': 'client_credentials'}, 'unsupported_grant_type'),
    'no_subject_token': ({'subject_token': ''}, 'invalid_request'),
    'unknown_subject_token_type': ({'subject_token_type': 'urn:x'}, 'invalid_request'),
    'other_requested_token_type': ({'requested_token_type': 'urn:x'}, 'invalid_request'),
    'negative_lifetime': ({'expires_in': '-5'}, 'invalid_request'),
    'lifetime_not_a_number': ({'expires_in': '1e3'}, 'invalid_request'),
}


@pytest.mark.parametrize(('change', 'error'), REQUESTS.values(), ids=REQUESTS.keys())
def test_malformed_request_is_refused(authentik, alice, change, error):
    body = {
        'grant_type': GRANT,
        'subject_token': authentik.sign(access_token_claims()),
        'subject_token_type': ACCESS_TOKEN,
    }

    assert_refused(Client().post(URL, {**body, **change}), 400, error)
    assert not alice.tokens.exists()


@pytest.mark.parametrize('body', ['{', '[]', '"x"', '{"grant_type": 1}', '\udcff'])
def test_malformed_json_is_refused(body):
    response = Client().post(URL, body.encode(errors='surrogateescape'), content_type='application/json')

    assert response.status_code == 400
    assert response.json()['error'] in ('invalid_request', 'unsupported_grant_type')


def test_a_parameter_given_twice_is_refused(authentik, alice):
    token = authentik.sign(access_token_claims())
    body = f'grant_type={GRANT}&subject_token={token}&subject_token={token}&subject_token_type={ACCESS_TOKEN}'

    response = Client().post(URL, body, content_type='application/x-www-form-urlencoded')

    assert 'more than once' in assert_refused(response, 400, 'invalid_request')


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


def test_fuzzed_requests_are_refused_never_a_server_error(authentik, alice):
    """Random bodies, parameters and tokens (mangled real ones among them): a JSON refusal each, never a 500."""
    generator = random.Random(25)
    real = authentik.sign(access_token_claims())
    alphabet = 'abcXYZ019.-_=+/ {}[]":,\n\x00\u00e9\u2028'
    pieces = [
        real,
        real[:-5],
        real.replace('.', '', 1),
        real + '.' + real,
        '.'.join(reversed(real.split('.'))),
        'a.b.c.d.e',
        '....',
        '',
        base64.urlsafe_b64encode(json.dumps({'alg': ['RS256']}).encode()).decode() + '.e30.',
    ]
    for _attempt in range(150):
        token = generator.choice(pieces) if generator.random() < 0.5 else ''
        token += ''.join(generator.choice(alphabet) for _ in range(generator.randrange(0, 40)))
        parameters = {
            'grant_type': generator.choice([GRANT, '', 'x' * 300]),
            'subject_token': token,
            'subject_token_type': generator.choice([ACCESS_TOKEN, 'urn:ietf:params:oauth:token-type:jwt', '']),
            'expires_in': generator.choice(['60', '0', '', 'x', '9' * 30]),
        }
        parameters = {name: value for name, value in parameters.items() if generator.random() < 0.9}
        if generator.random() < 0.3:
            response = Client().post(URL, json.dumps(parameters), content_type='application/json')
        else:
            response = Client().post(URL, parameters)

        assert response.status_code in (200, 400, 401, 403), (response.status_code, parameters)
        assert response['Content-Type'] == 'application/json'
    assert alice.tokens.count() <= 1
