"""A whole sign-in through NetBox's own views: login page button, begin, complete, user and link."""

import pytest
import requests
import responses
from django.contrib.auth import get_user_model
from social_django.models import UserSocialAuth

from tests.fake_authentik import DISCOVERY_URL, authentik_claims, begin_sign_in, complete_sign_in

pytestmark = pytest.mark.django_db


def test_login_page_shows_authentik_button(client):
    page = client.get('/login/')
    assert page.status_code == 200
    html = page.content.decode()
    assert 'action="/oauth/begin/authentik/"' in html
    assert 'mdi-shield-key-outline' in html
    assert '>\n                      Authentik' in html or 'Authentik\n' in html


def test_round_trip_creates_user_and_link_and_logs_in(client, authentik):
    query = begin_sign_in(client)
    assert query['code_challenge_method'] == 'S256'
    assert query['scope'] == 'openid profile email'
    authentik.register_token(authentik.sign(authentik_claims('alice', nonce=query['nonce'])))
    response = complete_sign_in(client, query['state'])
    assert response.status_code == 302
    user = get_user_model().objects.get(username='alice')
    assert (user.first_name, user.last_name, user.email) == ('Alice', 'Example', 'alice@example.com')
    link = UserSocialAuth.objects.get(user=user)
    assert link.provider == 'authentik'
    assert link.extra_data['groups'] == ['netbox-users', 'network-engineers']
    assert 'access_token' not in link.extra_data
    assert client.get('/').context['request'].user == user


def test_begin_with_authentik_unreachable_answers_login_page_url_to_the_login_script(client, mock):
    """NetBox's login page POSTs the SSO button with fetch() and Accept: application/json."""
    mock.add(responses.GET, DISCOVERY_URL, body=requests.ConnectionError('refused'))
    response = client.post('/oauth/begin/authentik/', HTTP_ACCEPT='application/json')
    assert response.status_code == 200
    assert response.json() == {'url': '/login/'}
    assert 'Authentik could not be reached. Try again later.' in client.get('/login/').content.decode()
