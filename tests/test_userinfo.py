"""fetch_userinfo: when NetBox asks Authentik's userinfo endpoint, and what the person's user row gets from it.

Authentik puts the scope claims into the id_token by default, so with 'auto' the userinfo round trip is
only made when a claim the plugin uses is missing from the token.
"""

import pytest
from django.contrib.auth import get_user_model
from social_django.models import UserSocialAuth

from tests.fake_authentik import (
    TOKEN_URL,
    USERINFO_URL,
    authentik_claims,
    begin_sign_in,
    complete_sign_in,
    requests_to,
)

pytestmark = pytest.mark.django_db


def fetch_userinfo(settings, mode, **plugin_config):
    settings.PLUGINS_CONFIG = {'netbox_authentik': {'fetch_userinfo': mode, **plugin_config}}


def sign_in(client, authentik, userinfo=None, netbox_username='alice', **claim_overrides):
    """A whole sign-in of alice; Authentik's userinfo answers `userinfo` (default: the full claims)."""
    authentik.register_userinfo(userinfo or authentik_claims('alice', groups=['from-userinfo']))
    query = begin_sign_in(client)
    authentik.register_token(authentik.sign(authentik_claims('alice', nonce=query['nonce'], **claim_overrides)))
    response = complete_sign_in(client, query['state'])
    assert response.status_code == 302 and response['Location'] == '/', response
    return get_user_model().objects.get(username=netbox_username)


def synced_groups(user):
    return UserSocialAuth.objects.get(user=user).extra_data.get('groups')


def test_auto_skips_userinfo_when_the_id_token_has_every_claim_the_plugin_uses(client, authentik, mock, settings):
    fetch_userinfo(settings, 'auto')

    user = sign_in(client, authentik)

    assert requests_to(mock, USERINFO_URL) == []
    assert (user.email, user.first_name, synced_groups(user)) == (
        'alice@example.com',
        'Alice',
        ['netbox-users', 'network-engineers'],
    )


@pytest.mark.parametrize('missing', ['groups', 'email', 'name'])
def test_auto_asks_userinfo_once_when_the_id_token_lacks_a_used_claim(client, authentik, mock, settings, missing):
    fetch_userinfo(settings, 'auto')

    user = sign_in(client, authentik, **{missing: None if missing == 'groups' else ...})  # None/...: left out

    [userinfo_request] = requests_to(mock, USERINFO_URL)
    [token_call] = [call for call in mock.calls if call.request.url == TOKEN_URL]
    assert userinfo_request.headers['Authorization'] == 'Bearer ' + token_call.response.json()['access_token']
    assert (user.email, user.first_name, synced_groups(user)) == ('alice@example.com', 'Alice', ['from-userinfo'])


def test_auto_asks_userinfo_when_the_configured_username_claim_is_missing(client, authentik, mock, settings):
    fetch_userinfo(settings, 'auto', username_claim='upn')
    userinfo = {**authentik_claims('alice'), 'upn': 'alice.example'}

    user = sign_in(client, authentik, userinfo=userinfo, netbox_username='alice.example')

    assert len(requests_to(mock, USERINFO_URL)) == 1
    assert user.email == 'alice@example.com'


def test_always_asks_userinfo_and_its_answer_wins(client, authentik, mock, settings):
    fetch_userinfo(settings, 'always')
    userinfo = authentik_claims('alice', groups=['from-userinfo'], email='alice@corp.example.com')

    user = sign_in(client, authentik, userinfo=userinfo)

    assert len(requests_to(mock, USERINFO_URL)) == 1
    assert (user.email, synced_groups(user)) == ('alice@corp.example.com', ['from-userinfo'])


def test_never_skips_userinfo_even_when_the_id_token_lacks_groups(client, authentik, mock, settings):
    fetch_userinfo(settings, 'never')

    user = sign_in(client, authentik, groups=None)

    assert requests_to(mock, USERINFO_URL) == []
    assert user.email == 'alice@example.com'
    assert synced_groups(user) is None
    assert not user.groups.exists()
