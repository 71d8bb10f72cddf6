"""A sign-in through Authentik from a browser where someone is already signed in to NetBox.

social-core would link an identity no link holds to whoever is signed in. The plugin refuses that: a
borrowed session must never become a lasting way in as its user. Every test runs NetBox's own views.
"""

import logging

import pytest
from social_django.models import UserSocialAuth
from users.models import Group, User

from tests.fake_authentik import authentik_claims, begin_sign_in, complete_sign_in, sign_in, toast_messages
from tests.test_linking import sub_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger='netbox_authentik')
    return caplog


def warnings(log):
    return [
        record.getMessage()
        for record in log.records
        if record.name == 'netbox_authentik.pipeline' and record.levelno == logging.WARNING
    ]


def sign_in_at_authentik_as(client, authentik, username, **claims):
    """Press the Authentik button in `client`'s browser and sign in at Authentik as `username`; return the page."""
    query = begin_sign_in(client)
    authentik.register_token(authentik.sign(authentik_claims(username, nonce=query['nonce'], **claims)))
    response = complete_sign_in(client, query['state'])
    assert response.status_code == 302, response
    return client.get(response['Location'], follow=True)


def refusal(username):
    return f'You are signed in to NetBox as {username}. Sign out first, then sign in with Authentik.'


@pytest.fixture
def breakglass(client):
    """A local superuser signed in with a password, in NetBox groups of their own."""
    user = User.objects.create_user('breakglass', password='x', is_superuser=True)
    user.groups.add(Group.objects.create(name='Ops'))
    client.force_login(user)
    return user


def test_a_new_identity_is_not_linked_to_a_signed_in_superuser(client, authentik, breakglass, settings, log):
    # superuser_groups set: a sync would also take superuser status from the break-glass account.
    settings.PLUGINS_CONFIG = {'netbox_authentik': {'superuser_groups': ['authentik Admins']}}

    page = sign_in_at_authentik_as(client, authentik, 'mallory', groups=['netbox-users'])

    assert toast_messages(page) == [refusal('breakglass')]
    assert page.context['request'].user == breakglass  # still signed in as before, nothing else
    assert not UserSocialAuth.objects.exists()
    assert sorted(User.objects.values_list('username', flat=True)) == ['breakglass']
    breakglass.refresh_from_db()
    assert breakglass.is_superuser
    assert list(breakglass.groups.values_list('name', flat=True)) == ['Ops']
    assert not Group.objects.filter(name='netbox-users').exists()
    [warning] = warnings(log)
    assert f"Refused to link Authentik identity {sub_of('mallory')} to 'breakglass', who is signed in" in warning


def test_the_refused_identity_does_not_open_the_account_in_a_fresh_browser(client, authentik, breakglass):
    sign_in_at_authentik_as(client, authentik, 'mallory')

    fresh = client.__class__()
    sign_in(fresh, authentik, 'mallory')

    assert fresh.get('/').context['request'].user.username == 'mallory'
    assert UserSocialAuth.objects.get().user.username == 'mallory'


def test_a_user_without_link_permission_cannot_link_their_own_account_by_signing_in(client, authentik, log):
    bob = User.objects.create_user('bob', password='x')
    client.force_login(bob)

    page = sign_in_at_authentik_as(client, authentik, 'bob')

    assert toast_messages(page) == [refusal('bob')]
    assert not UserSocialAuth.objects.exists()
    assert len(warnings(log)) == 1


def test_an_identity_linked_to_the_signed_in_user_still_signs_in(client, authentik, log):
    sign_in(client, authentik, 'alice')
    alice = User.objects.get(username='alice')
    client.logout()
    client.force_login(alice)  # now signed in with NetBox's own session, not through Authentik

    page = sign_in_at_authentik_as(client, authentik, 'alice')

    assert toast_messages(page) == []
    assert page.context['request'].user == alice
    assert list(UserSocialAuth.objects.values_list('user__username', 'uid')) == [('alice', sub_of('alice'))]
    assert warnings(log) == []


def test_an_identity_linked_to_someone_else_is_refused_as_before(client, authentik):
    sign_in(client.__class__(), authentik, 'carol')
    client.force_login(User.objects.create_user('dave'))

    sign_in_at_authentik_as(client, authentik, 'carol')

    assert UserSocialAuth.objects.get().user.username == 'carol'
    assert not UserSocialAuth.objects.filter(user__username='dave').exists()
