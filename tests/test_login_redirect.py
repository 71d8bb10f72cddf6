"""login_redirect: /login/ goes straight to Authentik, with /login/?local=1 as the way back to the local form."""

import io
import time
from urllib.parse import urlsplit

import pytest
import requests
import responses
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, override_settings
from social_django.models import Association, Nonce
from users.constants import TOKEN_PREFIX
from users.models import Token

from netbox_authentik import logout, nonces
from netbox_authentik.metadata import cache_key
from tests.fake_authentik import (
    AUTHORIZE_URL,
    CLIENT_ID,
    DISCOVERY_URL,
    STRUCTURED_ERRORS,
    authentik_claims,
    authorize,
    complete_sign_in,
    requests_to,
    sign_in,
    toast_messages,
)

pytestmark = pytest.mark.django_db

LOCAL_FORM = 'name="password"'


@pytest.fixture
def login_redirect():
    with override_settings(PLUGINS_CONFIG={'netbox_authentik': {'login_redirect': True}}):
        yield


def authorize_query(response):
    """Assert the answer sends the browser to Authentik's sign-in, go there; return the authorize parameters."""
    assert response.status_code == 302, response
    assert response['Location'].startswith(AUTHORIZE_URL), response['Location']
    return authorize(response.client, response['Location'])  # plus the code Authentik sent the browser back with


def test_login_page_is_shown_when_login_redirect_is_off(client, authentik):
    page = client.get('/login/')
    assert page.status_code == 200
    assert LOCAL_FORM in page.content.decode()


def test_login_goes_straight_to_authentik_and_keeps_next(client, authentik, login_redirect):
    response = client.get('/login/', {'next': '/dcim/sites/?status=active'})

    query = authorize_query(response)
    assert query['client_id'] == CLIENT_ID
    assert query['redirect_uri'] == 'http://testserver/oauth/complete/authentik/'
    assert query['code_challenge_method'] == 'S256'
    assert 'no-store' in response['Cache-Control']
    authentik.register_token(authentik.sign(authentik_claims('alice', nonce=query['nonce'])))
    landed = complete_sign_in(client, query['state'])
    assert landed.status_code == 302
    assert landed['Location'] == '/dcim/sites/?status=active'
    assert client.session['_auth_user_id'] == str(get_user_model().objects.get(username='alice').pk)


def test_unsafe_next_is_dropped(client, authentik, login_redirect):
    query = authorize_query(client.get('/login/', {'next': 'https://evil.example.com/'}))
    authentik.register_token(authentik.sign(authentik_claims('alice', nonce=query['nonce'])))

    landed = complete_sign_in(client, query['state'])

    assert landed.status_code == 302
    assert 'evil.example.com' not in landed['Location']


def test_local_parameter_shows_local_form_and_its_post_still_works(client, authentik, login_redirect):
    get_user_model().objects.create_user(username='carol', password='local-password-123')

    page = client.get('/login/', {'local': '1', 'next': '/dcim/sites/'})
    assert page.status_code == 200
    assert LOCAL_FORM in page.content.decode()

    response = client.post('/login/', {'username': 'carol', 'password': 'local-password-123', 'next': '/dcim/sites/'})
    assert response.status_code == 302
    assert response['Location'] == '/dcim/sites/'
    assert client.session['_auth_user_id'] == str(get_user_model().objects.get(username='carol').pk)


def test_signed_in_user_visiting_login_is_sent_on_as_netbox_does(client, authentik, login_redirect):
    user = get_user_model().objects.create_user(username='carol', password='local-password-123')
    client.force_login(user)

    response = client.get('/login/', {'next': '/dcim/sites/'})

    assert response.status_code == 302
    assert response['Location'] == '/dcim/sites/'
    assert requests_to(authentik.mock, DISCOVERY_URL) == []


def test_authentik_unreachable_shows_local_form_with_a_message(client, authentik, login_redirect):
    authentik.mock.replace(responses.GET, DISCOVERY_URL, body=requests.ConnectionError('connection refused'))

    page = client.get('/login/')

    assert page.status_code == 200
    assert LOCAL_FORM in page.content.decode()
    assert any('could not reach Authentik' in message for message in toast_messages(page))


def test_backend_not_configured_shows_the_local_form_and_says_why_in_the_log(
    client, authentik, login_redirect, monkeypatch, caplog
):
    # social-core 5 raises MissingBackend, social-core 7 a configuration error: the same log line for both.
    monkeypatch.setattr('social_core.backends.utils.BACKENDSCACHE', {})
    with override_settings(AUTHENTICATION_BACKENDS=['netbox.authentication.ObjectPermissionBackend']):
        page = client.get('/login/')

    assert page.status_code == 200
    assert LOCAL_FORM in page.content.decode()
    assert 'login_redirect is on, but the authentik backend is not in REMOTE_AUTH_BACKEND' in caplog.text
    # Not mistaken for an Authentik that is down.
    assert 'could not start' not in caplog.text
    assert not any('could not reach Authentik' in message for message in toast_messages(page))


def test_login_page_after_logout_shows_the_message_instead_of_signing_in_again(client, authentik, login_redirect):
    sign_in(client, authentik)
    cache.delete_pattern('*')  # this run's keys only: other runs share the Redis database
    authentik.mock.replace(responses.GET, DISCOVERY_URL, json={**authentik.discovery, 'end_session_endpoint': None})
    client.get('/logout/')  # Authentik offers no end-session: NetBox's message waits on the login page

    page = client.get('/login/')

    assert page.status_code == 200
    assert 'You have logged out.' in toast_messages(page)


def test_failed_sign_in_does_not_loop_back_into_authentik(client, authentik, login_redirect):
    query = authorize_query(client.get('/login/'))
    failed = complete_sign_in(client, 'wrong-' + query['state'])
    assert failed.status_code == 302
    assert urlsplit(failed['Location']).path == '/login/'

    page = client.get(failed['Location'])

    assert page.status_code == 200
    assert toast_messages(page)


def test_api_token_requests_are_unaffected(client, authentik, login_redirect):
    user = get_user_model().objects.create_user(username='robot', is_superuser=True)
    token = Token.objects.create(user=user)
    header = f'Bearer {TOKEN_PREFIX}{token.key}.{token.token}'

    response = client.get('/api/dcim/sites/', HTTP_AUTHORIZATION=header, HTTP_ACCEPT='application/json')

    assert response.status_code == 200
    assert response.json()['count'] == 0
    anonymous = client.get('/api/dcim/sites/', HTTP_ACCEPT='application/json')
    assert anonymous.status_code == 403
    assert requests_to(authentik.mock, DISCOVERY_URL) == []


# -- Authentik down: never a redirect into a dead host -------------------------------------------------------

UNREACHABLE = (
    'NetBox could not reach Authentik. Try again later, or sign in with a local NetBox account; the local '
    'login form is always at /login/?local=1.'
)


def forget_probe():
    """As when the remembered probe result has expired."""
    cache.delete(cache_key('reachable', DISCOVERY_URL))


def test_authentik_down_with_warm_cache_shows_local_form_not_a_redirect(client, authentik, login_redirect):
    authorize_query(client.get('/login/'))  # discovery is now cached: no request needed to build the redirect
    forget_probe()
    authentik.mock.replace(responses.GET, DISCOVERY_URL, body=requests.ConnectionError('connection refused'))

    page = client.get('/login/')

    assert page.status_code == 200
    assert LOCAL_FORM in page.content.decode()
    assert toast_messages(page) == [UNREACHABLE]


def test_authentik_answering_5xx_counts_as_down(client, authentik, login_redirect):
    authentik.mock.replace(responses.GET, DISCOVERY_URL, status=502, body='Bad Gateway')

    page = client.get('/login/')

    assert page.status_code == 200
    assert toast_messages(page) == [UNREACHABLE]


class Clock:
    """The wall clock login_redirect reads, moved by hand."""

    def __init__(self):
        self.now = time.time()

    def time(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(logout, 'time', fake)
    return fake


def probes(authentik):
    """The reachability probes login_redirect sent (2 s timeout), not the discovery fetches of the sign-in."""
    return [request for request in requests_to(authentik.mock, DISCOVERY_URL) if request.req_kwargs['timeout'] == 2]


def authentik_goes_down(authentik, **answer):
    authentik.mock.replace(responses.GET, DISCOVERY_URL, **(answer or {'body': requests.ConnectionError('refused')}))


def test_reachability_probe_has_a_two_second_timeout(client, authentik, login_redirect):
    authentik.mock.replace(responses.GET, DISCOVERY_URL, body=requests.ConnectTimeout('timed out'))
    assert client.get('/login/').status_code == 200
    probes = requests_to(authentik.mock, DISCOVERY_URL)
    assert len(probes) == 1
    assert probes[0].req_kwargs['timeout'] == 2


def test_reachable_is_believed_for_two_seconds_but_not_for_ten(client, authentik, login_redirect, clock):
    authorize_query(client.get('/login/'))

    # Two seconds later Authentik is down: the probe of a moment ago still stands, no second request.
    authentik_goes_down(authentik)
    clock.advance(2)
    authorize_query(client.get('/login/'))
    assert len(probes(authentik)) == 1

    # Ten seconds after the probe, NetBox asks again and keeps the person on the local form.
    clock.advance(8)
    page = client.get('/login/')
    assert page.status_code == 200
    assert toast_messages(page) == [UNREACHABLE]
    assert len(probes(authentik)) == 2


def test_unreachable_is_believed_for_a_few_seconds_then_asked_again(client, authentik, login_redirect, clock):
    authentik_goes_down(authentik)
    assert client.get('/login/').status_code == 200

    # Back after two seconds: the local form stays without a new probe (a dead host costs one timeout per while).
    authentik.mock.replace(responses.GET, DISCOVERY_URL, json=authentik.discovery)
    clock.advance(2)
    assert client.get('/login/').status_code == 200
    assert len(probes(authentik)) == 1

    clock.advance(10)
    authorize_query(client.get('/login/'))
    assert len(probes(authentik)) == 2


def test_authentik_answering_5xx_with_its_settings_cached_keeps_the_local_form(
    client, authentik, login_redirect, clock
):
    authorize_query(client.get('/login/'))  # discovery and JWKS are now in NetBox's cache
    authentik_goes_down(authentik, status=503, body='Service Unavailable')
    clock.advance(10)

    page = client.get('/login/')

    assert page.status_code == 200
    assert LOCAL_FORM in page.content.decode()
    assert toast_messages(page) == [UNREACHABLE]


def test_a_clock_that_went_back_asks_again(client, authentik, login_redirect, clock):
    authorize_query(client.get('/login/'))
    authentik_goes_down(authentik)
    clock.advance(-60)
    assert toast_messages(client.get('/login/')) == [UNREACHABLE]


# -- nonce rows: bounded, whatever the number of anonymous visits ------------------------------------------


def nonce_rows():
    return Association.objects.filter(server_url=AUTHORIZE_URL).count()


def state_rows():
    """social-core 7's used-once state rows (social_django's Nonce table); social-core 5 writes none."""
    return Nonce.objects.count()


# One state row per pending sign-in with social-core 7, none with social-core 5.
STATE_ROWS_PER_SIGN_IN = 1 if STRUCTURED_ERRORS else 0


def test_visits_of_one_browser_keep_a_bounded_number_of_nonce_rows(client, authentik, login_redirect):
    for _visit in range(50):
        authorize_query(client.get('/login/'))
    assert nonce_rows() == nonces.PENDING_PER_BROWSER
    assert state_rows() == nonces.PENDING_PER_BROWSER * STATE_ROWS_PER_SIGN_IN


def test_newest_pending_sign_in_of_the_browser_still_completes(client, authentik, login_redirect):
    for _visit in range(10):
        query = authorize_query(client.get('/login/'))
    authentik.register_token(authentik.sign(authentik_claims('alice', nonce=query['nonce'])))
    assert complete_sign_in(client, query['state'])['Location'] == '/'
    assert nonce_rows() == nonces.PENDING_PER_BROWSER - 1  # the used one is gone


def test_nonce_rows_of_visitors_without_cookies_expire(authentik, login_redirect, monkeypatch):
    for _visitor in range(50):
        authorize_query(Client().get('/login/'))
    assert nonce_rows() == 50
    assert state_rows() == 50 * STATE_ROWS_PER_SIGN_IN
    later = nonces.now() + nonces.NONCE_LIFETIME + 1
    monkeypatch.setattr(nonces, 'now', lambda: later)

    authorize_query(Client().get('/login/'))

    assert nonce_rows() == 1
    assert state_rows() == STATE_ROWS_PER_SIGN_IN


def test_visit_while_authentik_is_down_stores_no_nonce(client, authentik, login_redirect):
    authentik.mock.replace(responses.GET, DISCOVERY_URL, body=requests.ConnectionError('connection refused'))
    for _visit in range(5):
        client.get('/login/')
    assert nonce_rows() == 0


def test_authentik_cleanup_deletes_expired_and_untimed_nonce_rows(authentik, login_redirect):
    authorize_query(Client().get('/login/'))
    # Written by social-core before this plugin kept their time.
    Association.objects.create(
        server_url=AUTHORIZE_URL, handle='old-nonce', secret='', issued=0, lifetime=0, assoc_type='old-state'
    )
    Association.objects.create(
        server_url=AUTHORIZE_URL,
        handle='expired-nonce',
        secret='',
        issued=int(time.time()) - nonces.NONCE_LIFETIME - 5,
        lifetime=nonces.NONCE_LIFETIME,
        assoc_type='state',
    )
    dry_run = io.StringIO()
    call_command('authentik_cleanup', '--dry-run', stdout=dry_run)
    assert dry_run.getvalue() == '2 expired sign-in nonce(s) would be deleted.\n'
    assert nonce_rows() == 3

    output = io.StringIO()
    call_command('authentik_cleanup', stdout=output)

    assert output.getvalue() == 'Deleted 2 expired sign-in nonce(s).\n'
    assert nonce_rows() == 1


@pytest.mark.skipif(not STRUCTURED_ERRORS, reason='social-core 5 writes no state rows')
def test_authentik_cleanup_deletes_the_states_of_sign_ins_that_never_came_back(authentik, login_redirect, monkeypatch):
    authorize_query(Client().get('/login/'))
    # The rows the cleanup looks for are the backend's own (its scope is the one social-core 7 uses).
    assert set(Nonce.objects.values_list('server_url', flat=True)) == {nonces.STATE_SCOPE}
    quiet = io.StringIO()
    call_command('authentik_cleanup', stdout=quiet)
    assert quiet.getvalue() == 'Deleted 0 expired sign-in nonce(s).\n'
    assert state_rows() == 1  # a pending sign-in keeps its state

    later = nonces.now() + nonces.NONCE_LIFETIME + 1
    monkeypatch.setattr(nonces, 'now', lambda: later)
    dry_run = io.StringIO()
    call_command('authentik_cleanup', '--dry-run', stdout=dry_run)
    assert dry_run.getvalue() == (
        '1 expired sign-in nonce(s) would be deleted.\n1 expired sign-in state(s) would be deleted.\n'
    )
    assert state_rows() == 1

    output = io.StringIO()
    call_command('authentik_cleanup', stdout=output)

    assert output.getvalue() == 'Deleted 1 expired sign-in nonce(s).\nDeleted 1 expired sign-in state(s).\n'
    assert state_rows() == 0 and nonce_rows() == 0
