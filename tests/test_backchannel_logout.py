"""Back-channel logout: Authentik ends a person's NetBox sessions server to server, with a signed logout_token."""

import base64
import json
import logging
import time

import jwt
import pytest
import requests
import responses
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import DatabaseError
from django.test import Client, override_settings

from tests.fake_authentik import (
    BACKCHANNEL_LOGOUT_EVENT,
    DISCOVERY_URL,
    ISSUER,
    FakeAuthentik,
    authentik_claims,
    logout_token_claims,
    rsa_private_key,
    rsa_public_pem,
    sign_hs256_with_raw_key,
    sign_in,
)

pytestmark = pytest.mark.django_db

URL = '/plugins/authentik/backchannel-logout/'
ALICE_SUB = authentik_claims('alice')['sub']
BOB_SUB = authentik_claims('bob')['sub']
OTHER_EVENT = 'http://schemas.openid.net/event/other'


class Browsers:
    """Signed-in NetBox sessions: alice on two devices, bob through Authentik, carol with a local password."""

    def __init__(self, fake):
        self.clients = {name: Client() for name in ('alice_laptop', 'alice_phone', 'bob', 'carol')}
        sign_in(self.clients['alice_laptop'], fake, 'alice', sid='sid-alice-laptop')
        sign_in(self.clients['alice_phone'], fake, 'alice', sid='sid-alice-phone')
        sign_in(self.clients['bob'], fake, 'bob', sid='sid-bob')
        # What NetBox's login form does for a local password, without the cost of hashing one.
        self.clients['carol'].force_login(
            get_user_model().objects.create_user(username='carol'),
            backend='netbox.authentication.ObjectPermissionBackend',
        )
        self.keys = {name: client.cookies[settings.SESSION_COOKIE_NAME].value for name, client in self.clients.items()}

    def signed_in(self):
        """The names whose NetBox session still exists and is still signed in."""
        return {
            name
            for name, client in self.clients.items()
            if Session.objects.filter(session_key=self.keys[name]).exists() and '_auth_user_id' in client.session
        }


EVERYONE = {'alice_laptop', 'alice_phone', 'bob', 'carol'}


@pytest.fixture
def browsers(authentik):
    browsers = Browsers(authentik)
    assert browsers.signed_in() == EVERYONE
    return browsers


def post_logout_token(token):
    # A CSRF-enforcing client: Authentik sends no CSRF token and no cookie.
    return Client(enforce_csrf_checks=True).post(URL, {'logout_token': token} if token is not None else {})


def assert_refused(response):
    assert response.status_code == 400, response
    assert response['Content-Type'] == 'application/json'
    body = response.json()
    assert body['error'] == 'invalid_request'
    assert body['error_description']
    return body['error_description']


def unsigned(claims):
    """A JWT with alg `none`: header and claims, no signature."""

    def b64(document):
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b'=').decode()

    return f'{b64({"alg": "none", "typ": "JWT"})}.{b64(claims)}.'


# -- valid tokens end exactly the sessions they name --------------------------------------------------


def test_sub_ends_every_session_of_that_person_only(authentik, browsers, caplog):
    with caplog.at_level(logging.INFO, logger='netbox_authentik.backchannel'):
        response = post_logout_token(authentik.sign(logout_token_claims(sub=ALICE_SUB)))

    assert response.status_code == 200
    assert response.content == b''
    assert 'no-store' in response['Cache-Control']
    assert browsers.signed_in() == {'bob', 'carol'}
    assert browsers.clients['alice_laptop'].get('/').status_code == 302  # back to the login page
    assert [record.getMessage() for record in caplog.records if record.name == 'netbox_authentik.backchannel'] == [
        'Authentik back-channel logout ended 2 NetBox session(s) and 0 API token(s)'
    ]


def test_sub_and_sid_end_only_that_authentik_session(authentik, browsers):
    token = authentik.sign(logout_token_claims(sub=ALICE_SUB, sid='sid-alice-phone'))

    assert post_logout_token(token).status_code == 200

    assert browsers.signed_in() == {'alice_laptop', 'bob', 'carol'}


def test_sid_alone_ends_only_that_authentik_session(authentik, browsers):
    assert post_logout_token(authentik.sign(logout_token_claims(sid='sid-alice-laptop'))).status_code == 200
    assert browsers.signed_in() == {'alice_phone', 'bob', 'carol'}


def test_sub_with_an_unknown_sid_ends_all_of_that_persons_sessions(authentik, browsers):
    token = authentik.sign(logout_token_claims(sub=ALICE_SUB, sid='a-sid-netbox-never-saw'))

    assert post_logout_token(token).status_code == 200

    assert browsers.signed_in() == {'bob', 'carol'}


def test_unknown_sub_ends_nothing(authentik, browsers):
    token = authentik.sign(logout_token_claims(sub=authentik_claims('nobody')['sub']))
    assert post_logout_token(token).status_code == 200
    assert browsers.signed_in() == EVERYONE


def test_sessions_are_found_even_after_the_cache_was_flushed(authentik, browsers):
    cache.delete_pattern('*')  # Redis restarted: the sign-in record is gone; the database session store is searched

    assert post_logout_token(authentik.sign(logout_token_claims(sub=BOB_SUB))).status_code == 200
    assert post_logout_token(authentik.sign(logout_token_claims(sid='sid-alice-phone'))).status_code == 200

    assert browsers.signed_in() == {'alice_laptop', 'carol'}


def test_hs256_logout_token_of_authentik_without_signing_key(client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeAuthentik(mock, alg='HS256')
        fake.register_metadata()
        sign_in(client, fake, 'alice', sid='sid-alice')

        assert post_logout_token(fake.sign(logout_token_claims(sub=ALICE_SUB))).status_code == 200

    assert '_auth_user_id' not in client.session


# -- every rule refuses with 400 and leaves every session alone --------------------------------------


def _now():
    return int(time.time())


ALICE = {'sub': ALICE_SUB}

# rule -> (the token that breaks it, what the refusal says)
REFUSED = {
    'missing_token': (lambda fake: None, 'is missing'),
    'malformed': (lambda fake: 'not-a-jwt', 'not a well-formed JWT'),
    'malformed_segments': (lambda fake: 'aGVhZGVy.cGF5bG9hZA.c2lnbmF0dXJl', 'not a well-formed JWT'),
    'bad_signature': (
        lambda fake: fake.sign(logout_token_claims(**ALICE), key=rsa_private_key()),
        'signature is invalid',
    ),
    'unknown_key': (lambda fake: fake.sign(logout_token_claims(**ALICE), kid='some-other-key'), 'unknown key'),
    'alg_none': (lambda fake: unsigned(logout_token_claims(**ALICE)), "signed with 'none'"),
    'hs256_with_public_key': (
        lambda fake: sign_hs256_with_raw_key(logout_token_claims(**ALICE), rsa_public_pem()),
        "signed with 'HS256'",
    ),
    'wrong_iss': (
        lambda fake: fake.sign(logout_token_claims(**ALICE, iss=ISSUER.replace('/netbox/', '/other/'))),
        'not issued by this Authentik application',
    ),
    'wrong_aud': (lambda fake: fake.sign(logout_token_claims(**ALICE, aud='another-client')), '(aud)'),
    'missing_iat': (lambda fake: fake.sign(logout_token_claims(**ALICE, iat=...)), 'no iat claim'),
    'future_iat': (lambda fake: fake.sign(logout_token_claims(**ALICE, iat=_now() + 3600)), 'in the future'),
    'stale_iat': (lambda fake: fake.sign(logout_token_claims(**ALICE, iat=_now() - 3600)), 'older than'),
    'expired': (lambda fake: fake.sign(logout_token_claims(**ALICE, exp=_now() - 60)), 'expired'),
    'missing_events': (lambda fake: fake.sign(logout_token_claims(**ALICE, events=...)), 'no events claim'),
    'wrong_event': (
        lambda fake: fake.sign(logout_token_claims(**ALICE, events={OTHER_EVENT: {}})),
        BACKCHANNEL_LOGOUT_EVENT,
    ),
    'events_not_an_object': (
        lambda fake: fake.sign(logout_token_claims(**ALICE, events=[BACKCHANNEL_LOGOUT_EVENT])),
        BACKCHANNEL_LOGOUT_EVENT,
    ),
    'neither_sub_nor_sid': (lambda fake: fake.sign(logout_token_claims()), 'neither a sub nor a sid'),
    'nonce_present': (lambda fake: fake.sign(logout_token_claims(**ALICE, nonce='n-0S6_WzA2Mj')), 'nonce'),
    'missing_jti': (lambda fake: fake.sign(logout_token_claims(**ALICE, jti=...)), 'no jti claim'),
    'an_id_token': (
        lambda fake: fake.sign(authentik_claims('alice', nonce='n-0S6_WzA2Mj', sid='sid-alice-laptop')),
        'no jti claim',
    ),
}


@pytest.mark.parametrize(('make_token', 'reason'), REFUSED.values(), ids=REFUSED.keys())
def test_refused_token_changes_nothing(authentik, browsers, make_token, reason, caplog):
    token = make_token(authentik)

    assert reason in assert_refused(post_logout_token(token))

    assert browsers.signed_in() == EVERYONE
    assert 'Refused an Authentik back-channel logout' in caplog.text
    if token:
        assert token not in caplog.text


def test_replayed_jti_is_refused(authentik, browsers):
    token = authentik.sign(logout_token_claims(sid='sid-alice-phone'))
    assert post_logout_token(token).status_code == 200
    sign_in(browsers.clients['alice_phone'], authentik, 'alice', sid='sid-alice-phone')  # signs in again
    browsers.keys['alice_phone'] = browsers.clients['alice_phone'].cookies[settings.SESSION_COOKIE_NAME].value

    assert 'already used' in assert_refused(post_logout_token(token))
    assert browsers.signed_in() == EVERYONE


# -- the endpoint itself --------------------------------------------------------------------------------


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


def test_unreachable_authentik_is_a_temporary_failure(authentik, browsers, caplog):
    token = authentik.sign(logout_token_claims(sub=ALICE_SUB))
    cache.delete_pattern('*')  # this run's keys only: other runs share the Redis database
    authentik.mock.replace(responses.GET, DISCOVERY_URL, body=requests.ConnectionError('connection refused'))

    with caplog.at_level(logging.ERROR, logger='netbox_authentik.backchannel'):
        response = post_logout_token(token)

    assert response.status_code == 503
    assert response.json()['error'] == 'temporarily_unavailable'
    assert browsers.signed_in() == EVERYONE
    assert [record.getMessage() for record in caplog.records if record.name == 'netbox_authentik.backchannel'] == [
        'Back-channel logout could not be checked: Authentik metadata unavailable (AuthentikError)'
    ]


def test_a_database_that_cannot_end_sessions_is_a_temporary_failure(authentik, browsers, monkeypatch, caplog):
    # NetBox's maintenance mode makes the database read-only; Authentik retries a 503 later.
    from netbox_authentik.sessions import backchannel

    def read_only(**_ids):
        raise DatabaseError('cannot execute DELETE in a read-only transaction')

    monkeypatch.setattr(backchannel, 'end_authentik_sessions', read_only)
    with caplog.at_level(logging.ERROR, logger='netbox_authentik.backchannel'):
        response = post_logout_token(authentik.sign(logout_token_claims(sub=ALICE_SUB)))

    assert response.status_code == 503
    assert response.json() == {
        'error': 'temporarily_unavailable',
        'error_description': 'NetBox could not end the sessions',
    }
    assert browsers.signed_in() == EVERYONE
    [record] = [record for record in caplog.records if record.name == 'netbox_authentik.backchannel']
    assert record.getMessage() == 'Back-channel logout could not delete NetBox sessions' and record.exc_info


def test_logout_token_is_decoded_like_authentik_sends_it(authentik):
    """Guard for the helper above: a logout_token carries no exp and no nonce, as Authentik's does."""
    claims = jwt.decode(authentik.sign(logout_token_claims(sub=ALICE_SUB)), options={'verify_signature': False})
    assert set(claims) == {'iss', 'aud', 'iat', 'jti', 'events', 'sub'}


# -- the backend not configured ------------------------------------------------------------------------


def test_logout_token_while_the_backend_is_not_configured_is_refused_as_a_configuration_problem(
    authentik, monkeypatch, caplog
):
    # social-core 5 raises MissingBackend here, social-core 7 a configuration error: both mean "not configured",
    # never "Authentik metadata unavailable" (503), which would make Authentik retry.
    monkeypatch.setattr('social_core.backends.utils.BACKENDSCACHE', {})
    with override_settings(AUTHENTICATION_BACKENDS=['netbox.authentication.ObjectPermissionBackend']):
        response = post_logout_token(authentik.sign(logout_token_claims(sub=ALICE_SUB)))

    assert assert_refused(response) == 'Sign-in through Authentik is not configured'
    assert 'Back-channel logout received, but the authentik backend is not in REMOTE_AUTH_BACKEND' in caplog.text
