"""Logging out of NetBox ends the Authentik session too (RP-initiated logout), and never fails."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import RequestFactory, override_settings
from social_django.models import UserSocialAuth

from netbox_authentik.backends import AuthentikOIDCAuth
from netbox_authentik.logout import end_session_url, post_logout_redirect_uri
from tests.fake_authentik import (
    CLIENT_ID,
    DISCOVERY_URL,
    END_SESSION_URL,
    requests_to,
    sign_in,
    toast_messages,
)

pytestmark = pytest.mark.django_db

LOGGED_OUT = 'You have logged out.'
AUTHENTIK_SESSION_STAYS = 'could not end your Authentik session'


def plugin_config(**values):
    return override_settings(PLUGINS_CONFIG={'netbox_authentik': values})


def end_session_query(response):
    """Assert the logout answer sends the browser to Authentik's end-session endpoint; return its parameters."""
    assert response.status_code == 302, response
    location = response['Location']
    assert location.split('?')[0] == END_SESSION_URL, location
    query = parse_qs(urlsplit(location).query)
    assert all(len(values) == 1 for values in query.values()), query
    return {name: values[0] for name, values in query.items()}


def is_signed_in(client):
    return '_auth_user_id' in client.session


def messages_after(client, response):
    """Follow a logout answer that stayed in NetBox; return the messages the person then sees."""
    page = client.get(response['Location'], follow=True)
    assert page.status_code == 200, page
    return toast_messages(page)


# -- SSO users are sent to Authentik ------------------------------------------------------------------


def test_sso_logout_sends_browser_to_authentik_end_session(client, authentik):
    id_token = sign_in(client, authentik)

    response = client.get('/logout/')

    query = end_session_query(response)
    assert query['id_token_hint'] == id_token
    assert query['post_logout_redirect_uri'] == 'http://testserver/login/'
    assert query['client_id'] == CLIENT_ID
    assert len(query['state']) >= 22
    assert set(query) == {'id_token_hint', 'post_logout_redirect_uri', 'client_id', 'state'}
    assert not is_signed_in(client)
    # NetBox's own LogoutView ran: its cookie deletion and its message are kept.
    assert response.cookies['session_key']['max-age'] == 0
    assert LOGGED_OUT in toast_messages(client.get('/login/'))


def test_each_logout_gets_a_fresh_state(client, authentik):
    sign_in(client, authentik)
    first = end_session_query(client.get('/logout/'))['state']
    sign_in(client, authentik)
    second = end_session_query(client.get('/logout/'))['state']
    assert first != second


def test_logout_behind_https_proxy_returns_to_https_login_page(client, authentik):
    sign_in(client, authentik)

    # A proxy passes the Host header on and says the browser spoke https.
    query = end_session_query(client.get('/logout/', HTTP_HOST='netbox.example.com', HTTP_X_FORWARDED_PROTO='https'))

    assert query['post_logout_redirect_uri'] == 'https://netbox.example.com/login/'


def test_configured_post_logout_redirect_uri_is_sent(client, authentik):
    sign_in(client, authentik)
    with plugin_config(post_logout_redirect_uri='https://netbox.example.com/goodbye/'):
        query = end_session_query(client.get('/logout/'))
    assert query['post_logout_redirect_uri'] == 'https://netbox.example.com/goodbye/'


def test_hint_is_the_id_token_of_the_most_recently_used_link(client, authentik):
    id_token = sign_in(client, authentik)
    user = get_user_model().objects.get(username='alice')
    first_link = UserSocialAuth.objects.get(user=user)
    UserSocialAuth.objects.create(
        user=user, provider='authentik', uid='older-identity', extra_data={'id_token': 'id-token-of-the-other-link'}
    )
    first_link.save()  # signed in through this link last

    query = end_session_query(client.get('/logout/'))

    assert query['id_token_hint'] == id_token


def test_missing_id_token_still_ends_authentik_session_without_hint(client, authentik):
    sign_in(client, authentik)
    link = UserSocialAuth.objects.get(user__username='alice')
    link.extra_data.pop('id_token')
    link.save()

    query = end_session_query(client.get('/logout/'))

    assert 'id_token_hint' not in query
    assert query['client_id'] == CLIENT_ID
    assert query['post_logout_redirect_uri'] == 'http://testserver/login/'
    assert not is_signed_in(client)


# -- fallbacks: the NetBox session always ends ------------------------------------------------------


def test_no_end_session_endpoint_logs_out_of_netbox_with_a_message(client, authentik):
    sign_in(client, authentik)
    cache.delete_pattern('*')  # this run's keys only: other runs share the Redis database
    discovery = {key: value for key, value in authentik.discovery.items() if key != 'end_session_endpoint'}
    authentik.mock.replace(responses.GET, DISCOVERY_URL, json=discovery)

    response = client.get('/logout/')

    assert response.status_code == 302
    assert response['Location'] == '/'
    assert not is_signed_in(client)
    shown = messages_after(client, response)
    assert LOGGED_OUT in shown
    assert any(AUTHENTIK_SESSION_STAYS in message for message in shown)


def test_authentik_unreachable_logs_out_of_netbox_with_a_message(client, authentik):
    sign_in(client, authentik)
    cache.delete_pattern('*')  # no cached discovery document to fall back on (this run's keys only)
    authentik.mock.replace(responses.GET, DISCOVERY_URL, body=requests.ConnectionError('connection refused'))

    response = client.get('/logout/')

    assert response.status_code == 302
    assert response['Location'] == '/'
    assert not is_signed_in(client)
    assert any(AUTHENTIK_SESSION_STAYS in message for message in messages_after(client, response))


def test_unexpected_error_never_fails_logout(client, authentik, monkeypatch):
    sign_in(client, authentik)

    def broken_discovery(self):
        raise RuntimeError('unexpected')

    monkeypatch.setattr(AuthentikOIDCAuth, 'oidc_config', broken_discovery)

    response = client.get('/logout/')

    assert response.status_code == 302
    assert response['Location'] == '/'
    assert not is_signed_in(client)
    assert any(AUTHENTIK_SESSION_STAYS in message for message in messages_after(client, response))


# -- everyone else logs out exactly as before -----------------------------------------------------------


def test_logout_at_authentik_off_is_netbox_logout(client, authentik):
    sign_in(client, authentik)
    with plugin_config(logout_at_authentik=False):
        response = client.get('/logout/')
    assert response.status_code == 302
    assert response['Location'] == '/'
    assert not is_signed_in(client)
    assert messages_after(client, response) == [LOGGED_OUT]


def test_local_user_logs_out_as_before(client, authentik):
    get_user_model().objects.create_user(username='carol', password='local-password-123')
    assert client.post('/login/', {'username': 'carol', 'password': 'local-password-123'}).status_code == 302

    response = client.get('/logout/')

    assert response['Location'] == '/'
    assert not is_signed_in(client)
    shown = messages_after(client, response)
    assert LOGGED_OUT in shown
    assert not any(AUTHENTIK_SESSION_STAYS in message for message in shown)
    assert requests_to(authentik.mock, DISCOVERY_URL) == []


def test_local_sign_in_after_sso_in_same_browser_logs_out_locally(client, authentik):
    sign_in(client, authentik)
    user = get_user_model().objects.get(username='alice')
    user.set_password('local-password-123')
    user.save()
    assert client.post('/login/', {'username': 'alice', 'password': 'local-password-123'}).status_code == 302

    response = client.get('/logout/')

    assert response['Location'] == '/'
    assert not is_signed_in(client)


def test_anonymous_logout_is_unchanged(client, authentik):
    response = client.get('/logout/')
    assert response.status_code == 302
    assert response['Location'] == '/'


# -- URL construction ---------------------------------------------------------------------------------


def test_end_session_url_encodes_every_parameter():
    url = end_session_url(
        'https://ak.example.com/application/o/netbox/end-session/?theme=dark',
        client_id='net box&co',
        post_logout_redirect_uri='https://netbox.example.com/login/?next=/dcim/&x=1',
        state='st@te/+',
        id_token_hint='header.payload.signature',
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ('https', 'ak.example.com', '/application/o/netbox/end-session/')
    assert parse_qs(parts.query) == {
        'theme': ['dark'],
        'id_token_hint': ['header.payload.signature'],
        'post_logout_redirect_uri': ['https://netbox.example.com/login/?next=/dcim/&x=1'],
        'client_id': ['net box&co'],
        'state': ['st@te/+'],
    }
    assert 'post_logout_redirect_uri=https%3A%2F%2Fnetbox.example.com%2Flogin%2F%3Fnext%3D%2Fdcim%2F%26x%3D1' in url


def test_end_session_url_leaves_out_a_missing_hint():
    url = end_session_url(END_SESSION_URL, CLIENT_ID, 'https://netbox.example.com/login/', 'state')
    assert 'id_token_hint' not in parse_qs(urlsplit(url).query)


# NetBox derives LOGIN_URL from BASE_PATH once, when its settings load, and mounts its URLconf under it
# at import; override_settings(BASE_PATH=...) changes neither. So BASE_PATH='netbox/' is represented by
# the LOGIN_URL NetBox computes from it, and the builder is called with a request from a factory.
@override_settings(LOGIN_URL='/netbox/login/')
def test_default_post_logout_redirect_uri_honours_base_path_and_https_proxy():
    request = RequestFactory().get('/netbox/logout/', HTTP_HOST='netbox.example.com', HTTP_X_FORWARDED_PROTO='https')
    assert post_logout_redirect_uri(request) == 'https://netbox.example.com/netbox/login/'


@override_settings(LOGIN_URL='/netbox/login/')
def test_default_post_logout_redirect_uri_over_plain_http():
    request = RequestFactory().get('/netbox/logout/', HTTP_HOST='netbox.example.com:8080')
    assert post_logout_redirect_uri(request) == 'http://netbox.example.com:8080/netbox/login/'


# -- the return from Authentik's end-session: its `state` is checked, then dropped from the URL ------------------


def test_return_from_end_session_with_our_state_lands_on_the_clean_login_page(client, authentik):
    sign_in(client, authentik)
    state = end_session_query(client.get('/logout/'))['state']

    returned = client.get('/login/', {'state': state})

    assert returned.status_code == 302
    assert returned['Location'] == '/login/'
    assert 'no-store' in returned['Cache-Control']
    page = client.get(returned['Location'])
    assert page.status_code == 200
    assert LOGGED_OUT in toast_messages(page)
    # Used once: the same URL again is just the login page, served as asked.
    assert client.get('/login/', {'state': state}).status_code == 200


def test_return_keeps_the_other_parameters(client, authentik):
    sign_in(client, authentik)
    state = end_session_query(client.get('/logout/'))['state']

    returned = client.get('/login/', {'state': state, 'next': '/dcim/sites/'})

    assert returned['Location'] == '/login/?next=%2Fdcim%2Fsites%2F'


def test_state_that_this_browser_did_not_send_is_not_acted_on(client, authentik):
    sign_in(client, authentik)
    end_session_query(client.get('/logout/'))

    page = client.get('/login/', {'state': 'forged-state'})

    assert page.status_code == 200
    assert LOGGED_OUT in toast_messages(page)


def test_state_without_a_logout_is_not_acted_on(client, authentik):
    page = client.get('/login/', {'state': 'some-state'})
    assert page.status_code == 200
