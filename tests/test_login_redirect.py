"""login_redirect: /login/ goes straight to Authentik, with /login/?local=1 as the way back to the local form."""

from urllib.parse import urlsplit

import pytest
import requests
import responses
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import override_settings
from users.constants import TOKEN_PREFIX
from users.models import Token

from tests.fake_authentik import (
    AUTHORIZE_URL,
    CLIENT_ID,
    DISCOVERY_URL,
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


def test_login_page_after_logout_shows_the_message_instead_of_signing_in_again(client, authentik, login_redirect):
    sign_in(client, authentik)
    cache.clear()
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
