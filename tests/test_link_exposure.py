"""Identity links stay behind real permissions: social-auth's unlink view, and EXEMPT_VIEW_PERMISSIONS = ['*'].

NetBox mounts social-auth's /oauth/disconnect/<backend>/ view, and '*' in EXEMPT_VIEW_PERMISSIONS lifts view
permission checks from every model NetBox does not keep out of it. Links name people, their emails, their
Authentik sub and groups: they get NetBox's treatment of its own users.* models.
"""

import logging

import pytest
from django.test import Client
from social_django.models import UserSocialAuth
from users.models import User

from netbox_authentik.models import AuthentikGroup
from tests.test_association_views import ALICE_SUB, grant, make_link

pytestmark = pytest.mark.django_db

DISCONNECT_URL = '/oauth/disconnect/authentik/'
UNLINK_REFUSED = (
    'Only a superuser, or someone allowed to delete Authentik identity links, can unlink an Authentik identity.'
)


@pytest.fixture
def alice_signed_in(client):
    """alice, linked to her Authentik identity and with a usable password, signed in to NetBox."""
    alice = User.objects.create_user('alice', email='alice@example.com', password='a-usable-password')
    make_link(alice)
    client.force_login(alice)
    return alice


def unlink_messages(client, response):
    assert response.status_code == 302, response
    return [str(message) for message in response.wsgi_request._messages]


# -- /oauth/disconnect/authentik/ -------------------------------------------------------------------------------


def test_disconnect_view_refuses_a_user_without_the_delete_permission(client, alice_signed_in, caplog):
    caplog.set_level(logging.WARNING, logger='netbox_authentik')
    response = client.post(DISCONNECT_URL)
    assert unlink_messages(client, response) == [UNLINK_REFUSED]
    assert UserSocialAuth.objects.filter(user=alice_signed_in, uid=ALICE_SUB).exists()
    [warning] = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert f"Refused to unlink authentik identity {ALICE_SUB} from 'alice' through /oauth/disconnect/" in warning


def test_disconnect_view_with_a_link_id_is_refused_too(client, alice_signed_in):
    link = UserSocialAuth.objects.get(user=alice_signed_in)
    client.post(f'{DISCONNECT_URL}{link.pk}/')
    assert UserSocialAuth.objects.filter(pk=link.pk).exists()


def test_disconnect_view_refuses_a_delete_permission_whose_constraints_exclude_the_link(client, alice_signed_in):
    grant(alice_signed_in, 'social_django.usersocialauth', ['delete'], constraints={'provider': 'oidc'})
    client.post(DISCONNECT_URL)
    assert UserSocialAuth.objects.filter(user=alice_signed_in).exists()


def test_disconnect_view_unlinks_for_a_holder_of_the_delete_permission(client, alice_signed_in):
    grant(alice_signed_in, 'social_django.usersocialauth', ['delete'])
    client.post(DISCONNECT_URL)
    assert not UserSocialAuth.objects.exists()
    assert User.objects.filter(username='alice').exists()


def test_disconnect_view_unlinks_for_a_superuser(client, alice_signed_in):
    alice_signed_in.is_superuser = True
    alice_signed_in.save()
    client.post(DISCONNECT_URL)
    assert not UserSocialAuth.objects.exists()


# -- EXEMPT_VIEW_PERMISSIONS = ['*'] --------------------------------------------------------------------------

LINK_URLS = (
    '/plugins/authentik/associations/',
    '/api/plugins/authentik/associations/',
)


@pytest.fixture
def links():
    make_link(User.objects.create_user('alice', email='alice@example.com'))
    group = AuthentikGroup.objects.create(display_name='netbox-admins')
    group.members.add(User.objects.get(username='alice'))


def shows_links(response):
    return response.status_code == 200 and ALICE_SUB in response.content.decode()


@pytest.mark.parametrize('url', LINK_URLS)
def test_view_everything_exemption_does_not_open_the_links_to_a_user_without_permission(client, settings, links, url):
    settings.EXEMPT_VIEW_PERMISSIONS = ['*']
    client.force_login(User.objects.create_user('bob'))
    assert client.get('/dcim/sites/').status_code == 200  # the exemption is in force for NetBox's models
    response = client.get(url)
    assert response.status_code == 403
    assert not shows_links(response)


def test_view_everything_exemption_keeps_links_off_the_detail_page_and_the_preview(client, settings, links):
    settings.EXEMPT_VIEW_PERMISSIONS = ['*']
    bob = User.objects.create_user('bob')
    grant(bob, 'netbox_authentik.groupmapping', ['view'])
    client.force_login(bob)
    link = UserSocialAuth.objects.get()
    assert client.get(f'/plugins/authentik/associations/{link.pk}/').status_code == 403
    effective = client.get('/plugins/authentik/group-mappings/effective/', {'link': link.pk})
    assert effective.status_code == 200
    assert 'alice' not in effective.content.decode()
    assert not bob.has_perm('netbox_authentik.view_authentikgroup')


@pytest.mark.parametrize('url', LINK_URLS)
def test_anonymous_visitors_see_no_links_without_login_required(settings, links, url):
    settings.EXEMPT_VIEW_PERMISSIONS = ['*']
    settings.LOGIN_REQUIRED = False
    response = Client().get(url)
    assert response.status_code in (302, 403)
    assert not shows_links(response)


def test_naming_the_links_in_the_exemption_still_opens_them_as_netbox_does_for_its_own_models(client, settings, links):
    settings.EXEMPT_VIEW_PERMISSIONS = ['social_django.usersocialauth']
    client.force_login(User.objects.create_user('bob'))
    assert shows_links(client.get('/api/plugins/authentik/associations/'))
