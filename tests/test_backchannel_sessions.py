"""Back-channel logout reaches every NetBox session of the person: simultaneous sign-ins, rotated session keys."""

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client, override_settings
from social_django.models import UserSocialAuth

from tests.fake_authentik import authentik_claims, logout_token_claims, sign_in
from tests.test_backchannel_logout import post_logout_token
from tests.tools import database

REPO = Path(__file__).resolve().parent.parent
ALICE_SUB = authentik_claims('alice')['sub']


def session_key(client):
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def is_signed_in(client):
    """What the person sees: NetBox's home page (LOGIN_REQUIRED), or a redirect to the login page."""
    response = client.get('/')
    assert response.status_code in (200, 302), response
    return response.status_code == 200


def rotate_session_key(client):
    """What a password change does (update_session_auth_hash): the same session under a new key."""
    session = SessionStore(session_key=session_key(client))
    session.cycle_key()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key


# -- simultaneous sign-ins -------------------------------------------------------------------------------

SIGN_INS = 6
DATABASE = os.environ.get('NBA_DB_NAME', 'nba_h2') + '_bc'
WORKER = (
    'import django; django.setup(); '
    'from tests.test_backchannel_sessions import concurrent_sign_ins_worker; concurrent_sign_ins_worker()'
)


def concurrent_sign_ins_worker():
    """In a subprocess: SIGN_INS browsers of one person complete their sign-ins at once, then one logout_token."""
    import threading
    from urllib.parse import parse_qs

    import responses
    import social_django.views
    from django.db import connections

    from tests.fake_authentik import TOKEN_URL, FakeAuthentik, begin_sign_in, complete_sign_in

    # Every browser reaches Django's login() before any goes on: their session records are written together.
    barrier = threading.Barrier(SIGN_INS)
    real_login = social_django.views.login

    def login_together(*args, **kwargs):
        barrier.wait(timeout=60)
        return real_login(*args, **kwargs)

    social_django.views.login = login_together
    id_tokens = {}

    def token_endpoint(request):
        code = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())['code'][0]
        return (
            200,
            {},
            json.dumps(
                {
                    'access_token': f'access-{code}',
                    'token_type': 'Bearer',
                    'expires_in': 3600,
                    'id_token': id_tokens[code],
                    'scope': 'openid profile email',
                }
            ),
        )

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        authentik = FakeAuthentik(mock)
        authentik.register_metadata()
        mock.add_callback(responses.POST, TOKEN_URL, callback=token_endpoint)
        browsers = [Client() for _ in range(SIGN_INS)]
        states = []
        for number, browser in enumerate(browsers):
            query = begin_sign_in(browser)
            id_tokens[f'code-{number}'] = authentik.sign(
                authentik_claims('alice', nonce=query['nonce'], sid=f'sid-{number}')
            )
            states.append(query['state'])
        statuses = [None] * SIGN_INS

        def complete(number):
            try:
                statuses[number] = complete_sign_in(browsers[number], states[number], code=f'code-{number}').status_code
            finally:
                connections.close_all()

        threads = [threading.Thread(target=complete, args=(number,)) for number in range(SIGN_INS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        keys = [session_key(browser) for browser in browsers]
        signed_in_before = [is_signed_in(browser) for browser in browsers]
        logout_status = post_logout_token(authentik.sign(logout_token_claims(sub=ALICE_SUB))).status_code
        # Before any browser comes back: were the sessions deleted at once?
        left_in_database = Session.objects.filter(session_key__in=keys).count()
        signed_in_after = [is_signed_in(browser) for browser in browsers]
    print(
        json.dumps(
            {
                'statuses': statuses,
                'signed_in_before': signed_in_before,
                'logout_status': logout_status,
                'left_in_database': left_in_database,
                'signed_in_after': signed_in_after,
            }
        )
    )


@pytest.fixture(scope='module')
def concurrent_sign_ins():
    """Run the worker on a database of its own (its threads commit, as real requests do); return its outcome."""
    database.clone(DATABASE)
    env = {**os.environ, 'DJANGO_SETTINGS_MODULE': 'tests.settings', 'NBA_DB_NAME': DATABASE}
    try:
        result = subprocess.run(
            [sys.executable, '-c', WORKER], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr
        yield json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        database.drop(DATABASE)


def test_one_logout_ends_every_session_of_simultaneous_sign_ins(concurrent_sign_ins):
    outcome = concurrent_sign_ins

    assert outcome['statuses'] == [302] * SIGN_INS
    assert outcome['signed_in_before'] == [True] * SIGN_INS
    assert outcome['logout_status'] == 200
    assert outcome['left_in_database'] == 0
    assert outcome['signed_in_after'] == [False] * SIGN_INS


# -- sessions the record cannot name --------------------------------------------------------------------


@pytest.mark.django_db
def test_session_whose_key_rotated_after_sign_in_ends_at_its_next_request(authentik, caplog):
    browser = Client()
    sign_in(browser, authentik, 'alice', sid='sid-alice')
    rotate_session_key(browser)
    assert is_signed_in(browser)

    assert post_logout_token(authentik.sign(logout_token_claims(sub=ALICE_SUB))).status_code == 200

    rotated_key = session_key(browser)
    with caplog.at_level(logging.INFO, logger='netbox_authentik'):
        assert not is_signed_in(browser)
    alice = get_user_model().objects.get(username='alice')
    assert f'Ended a NetBox session of user {alice.pk}: Authentik logged them out' in caplog.messages
    assert not Session.objects.filter(session_key=rotated_key).exists()


@pytest.mark.django_db
def test_sid_logout_ends_a_rotated_session_of_that_sid_only(authentik):
    laptop, phone = Client(), Client()
    sign_in(laptop, authentik, 'alice', sid='sid-laptop')
    sign_in(phone, authentik, 'alice', sid='sid-phone')
    rotate_session_key(phone)

    assert post_logout_token(authentik.sign(logout_token_claims(sid='sid-phone'))).status_code == 200

    assert not is_signed_in(phone)
    assert is_signed_in(laptop)


@pytest.mark.django_db
def test_signing_in_again_after_a_logout_is_not_undone_by_it(authentik):
    browser = Client()
    sign_in(browser, authentik, 'alice', sid='sid-before')
    assert post_logout_token(authentik.sign(logout_token_claims(sub=ALICE_SUB))).status_code == 200
    assert not is_signed_in(browser)
    time.sleep(0.01)  # the new sign-in is strictly later than the logout

    sign_in(browser, authentik, 'alice', sid='sid-after')

    assert is_signed_in(browser)


@pytest.mark.django_db
@pytest.mark.parametrize('record', ['kept', 'lost'])
def test_password_sign_in_of_the_same_person_stays(authentik, record):
    """The logout concerns Authentik sessions, not NetBox's own login form, even when found by a scan."""
    from netbox_authentik.signin.metadata import CACHE_PREFIX

    through_authentik, with_password = Client(), Client()
    sign_in(through_authentik, authentik, 'alice', sid='sid-alice')
    with_password.force_login(
        get_user_model().objects.get(username='alice'), backend='netbox.authentication.ObjectPermissionBackend'
    )
    if record == 'lost':
        cache.delete_pattern(f'{CACHE_PREFIX}:*')  # Redis restarted: the sessions are found by a scan

    assert post_logout_token(authentik.sign(logout_token_claims(sub=ALICE_SUB))).status_code == 200

    assert not is_signed_in(through_authentik)
    assert is_signed_in(with_password)


@pytest.mark.django_db
def test_logout_for_a_sub_linked_through_another_provider_ends_nothing_of_that_user(authentik):
    """The sub belongs to Authentik's alice; the same string as another provider's uid names someone else."""
    alice, dave = Client(), Client()
    sign_in(alice, authentik, 'alice', sid='sid-alice')
    sign_in(dave, authentik, 'dave', sid='sid-dave')
    UserSocialAuth.objects.create(user=get_user_model().objects.get(username='dave'), provider='oidc', uid=ALICE_SUB)
    dave_key = session_key(dave)

    assert post_logout_token(authentik.sign(logout_token_claims(sub=ALICE_SUB))).status_code == 200

    assert Session.objects.filter(session_key=dave_key).exists()
    assert is_signed_in(dave)
    assert not is_signed_in(alice)


# -- what Redis keeps, and for how long -----------------------------------------------------------------


def recorded_members(username):
    from netbox_authentik.sessions import registry as sessions

    return set(cache.smembers(sessions._user_sessions_key(get_user_model().objects.get(username=username).pk)))


@pytest.mark.django_db
@override_settings(SESSION_COOKIE_AGE=1234)
def test_the_record_of_a_logout_lives_as_long_as_a_session(authentik):
    from netbox_authentik.sessions import registry as sessions

    browser = Client()
    sign_in(browser, authentik, 'alice', sid='sid-alice')
    alice = get_user_model().objects.get(username='alice')

    assert post_logout_token(authentik.sign(logout_token_claims(sub=ALICE_SUB))).status_code == 200
    assert post_logout_token(authentik.sign(logout_token_claims(sid='sid-other'))).status_code == 200

    for key in (sessions._user_logout_key(alice.pk), sessions._sid_logout_key('sid-other')):
        assert 1200 < cache.ttl(key) <= 1234, key


@pytest.mark.django_db
@override_settings(SESSION_COOKIE_AGE=1234)
def test_the_record_of_a_sign_in_lives_as_long_as_a_session(authentik):
    from netbox_authentik.sessions import registry as sessions

    sign_in(Client(), authentik, 'alice', sid='sid-alice')
    alice = get_user_model().objects.get(username='alice')

    for key in (sessions._user_sessions_key(alice.pk), sessions._sid_user_key('sid-alice')):
        assert 1200 < cache.ttl(key) <= 1234, key


@pytest.mark.django_db
@override_settings(SESSION_ENGINE='django.contrib.sessions.backends.cache')
def test_a_sid_logout_finds_a_session_no_database_holds(authentik):
    # With sessions in the cache there is no table to search: the sid's record alone leads to the session.
    laptop, phone = Client(), Client()
    sign_in(laptop, authentik, 'alice', sid='sid-laptop')
    sign_in(phone, authentik, 'alice', sid='sid-phone')
    laptop_key = session_key(laptop)

    assert post_logout_token(authentik.sign(logout_token_claims(sid='sid-laptop'))).status_code == 200

    from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore

    assert not CacheSessionStore().exists(laptop_key)
    assert CacheSessionStore().exists(session_key(phone))


@pytest.mark.django_db
@override_settings(SESSION_ENGINE='django.contrib.sessions.backends.cache')
def test_a_lost_record_with_sessions_no_database_holds_is_a_warning(authentik, caplog):
    from netbox_authentik.signin.metadata import CACHE_PREFIX

    sign_in(Client(), authentik, 'alice', sid='sid-laptop')
    cache.delete_pattern(f'{CACHE_PREFIX}:*')  # the record is gone (Redis restarted); the sessions are not

    with caplog.at_level(logging.WARNING, logger='netbox_authentik'):
        assert post_logout_token(authentik.sign(logout_token_claims(sid='sid-laptop'))).status_code == 200

    [warning] = [record.getMessage() for record in caplog.records if record.name.startswith('netbox_authentik')]
    assert warning.startswith('The record of Authentik sign-ins is gone from the cache and SESSION_ENGINE ')
    assert warning.endswith('cannot be searched: sessions opened before end at their next request')


@pytest.mark.django_db
def test_a_registry_that_cannot_record_never_breaks_the_sign_in(authentik, monkeypatch, caplog):
    from netbox_authentik.sessions import registry as sessions

    def unreachable(*_args):
        raise ConnectionError('Redis is down')

    monkeypatch.setattr(sessions, '_record_session', unreachable)
    browser = Client()
    with caplog.at_level(logging.ERROR, logger='netbox_authentik'):
        sign_in(browser, authentik, 'alice', sid='sid-alice')

    assert is_signed_in(browser)
    [record] = [record for record in caplog.records if record.name.startswith('netbox_authentik')]
    assert record.getMessage() == 'Could not record the NetBox session of an Authentik sign-in'
    assert record.exc_info


@pytest.mark.django_db
def test_sessions_that_ended_are_pruned_from_the_persons_record(authentik):
    laptop, phone, tablet = Client(), Client(), Client()
    sign_in(laptop, authentik, 'alice', sid='sid-laptop')
    sign_in(phone, authentik, 'alice', sid='sid-phone')
    laptop_key = session_key(laptop)
    assert recorded_members('alice') == {f'{laptop_key} sid-laptop', f'{session_key(phone)} sid-phone'}
    Session.objects.filter(session_key=laptop_key).delete()  # expired, or signed out in NetBox

    sign_in(tablet, authentik, 'alice', sid='sid-tablet')

    assert recorded_members('alice') == {f'{session_key(phone)} sid-phone', f'{session_key(tablet)} sid-tablet'}


@pytest.mark.django_db
def test_a_logout_removes_the_sessions_it_ended_from_the_record(authentik):
    laptop, phone = Client(), Client()
    sign_in(laptop, authentik, 'alice', sid='sid-laptop')
    sign_in(phone, authentik, 'alice', sid='sid-phone')

    assert post_logout_token(authentik.sign(logout_token_claims(sid='sid-phone'))).status_code == 200
    assert recorded_members('alice') == {f'{session_key(laptop)} sid-laptop'}

    assert post_logout_token(authentik.sign(logout_token_claims(sub=ALICE_SUB))).status_code == 200
    assert recorded_members('alice') == set()


@pytest.mark.django_db
def test_a_sign_in_over_a_disabled_users_session_is_recorded_under_its_new_key(authentik):
    # The browser still holds bob's session, but bob was disabled: NetBox lets alice sign in, and Django
    # flushes bob's session, so alice's new session has no key until it is saved.
    bob = get_user_model().objects.create_user('bob')
    browser = Client()
    browser.force_login(bob, backend='netbox.authentication.ObjectPermissionBackend')
    bob.is_active = False
    bob.save()

    sign_in(browser, authentik, 'alice', sid='sid-alice')
    key = session_key(browser)
    logout_token = authentik.sign(logout_token_claims(sub=authentik_claims('alice')['sub']))
    assert post_logout_token(logout_token).status_code == 200

    # Deleted at once, found through the record (not only at its next request, as an unrecorded one would be).
    assert not Session.objects.filter(session_key=key).exists()
    assert not is_signed_in(browser)


@pytest.mark.parametrize(
    'backend_path',
    [None, '', 'netbox.authentication.ObjectPermissionBackend', 'no.such.Backend'],
    ids=['none', 'empty', 'local password', 'not importable'],
)
def test_only_a_session_the_authentik_backend_signed_in_is_an_authentik_session(backend_path):
    from django.contrib.auth import BACKEND_SESSION_KEY

    from netbox_authentik.sessions.registry import is_authentik_session

    session = {} if backend_path is None else {BACKEND_SESSION_KEY: backend_path}
    assert is_authentik_session(session) is False
    assert is_authentik_session({BACKEND_SESSION_KEY: 'netbox_authentik.backends.AuthentikOIDCAuth'}) is True


@pytest.mark.django_db
def test_a_sid_under_another_persons_sub_ends_nothing(authentik):
    """A logout_token whose sub is nobody NetBox knows names no session, whatever its sid."""
    laptop = Client()
    sign_in(laptop, authentik, 'alice', sid='sid-laptop')

    token = authentik.sign(logout_token_claims(sub='someone-netbox-never-saw', sid='sid-laptop'))
    assert post_logout_token(token).status_code == 200

    assert is_signed_in(laptop)
