"""Sign-ins refused for a reason the person can act on: a disabled NetBox account, Authentik's own refusal."""

import logging

import pytest
from django.contrib.auth import get_user_model
from social_django.models import UserSocialAuth
from users.models import Group

from tests import test_group_sync
from tests.fake_authentik import begin_sign_in, login_page_messages

from .test_group_sync import plugin_config

pytestmark = pytest.mark.django_db

sign_in = test_group_sync.sign_in  # the fixture


def test_inactive_user_is_told_the_account_is_disabled_and_the_log_names_them(client, sign_in, caplog):
    Group.objects.create(name='Admins')
    sign_in('alice', groups=['netbox-users'])
    alice = get_user_model().objects.get(username='alice')
    alice.is_active = False
    alice.save()
    extra_data = UserSocialAuth.objects.get(user=alice).extra_data
    with plugin_config(group_map={'netbox-admins': 'Admins'}), caplog.at_level(logging.INFO):
        response = sign_in('alice', groups=['netbox-admins'])
    assert login_page_messages(client, response) == ['Your NetBox account is disabled.']
    assert '_auth_user_id' not in client.session
    assert [
        (record.levelno, record.getMessage()) for record in caplog.records if record.name == 'netbox_authentik.guards'
    ] == [(logging.INFO, "Sign-in through Authentik refused: NetBox user 'alice' is inactive.")]
    # The refused sign-in changed nothing on the disabled account.
    assert not alice.groups.exists()
    assert UserSocialAuth.objects.get(user=alice).extra_data == extra_data


def test_active_user_signs_in(client, sign_in):
    response = sign_in('alice', groups=['netbox-users'])
    assert response['Location'] == '/'
    assert '_auth_user_id' in client.session


def test_access_denied_by_authentik_gets_its_own_message(client, authentik, caplog):
    query = begin_sign_in(client)
    with caplog.at_level(logging.INFO):
        response = client.get(
            '/oauth/complete/authentik/',
            {'error': 'access_denied', 'error_description': 'Policy denied', 'state': query['state']},
        )
    [message] = login_page_messages(client, response)
    assert message.startswith('Authentik did not let you sign in to NetBox: your account is not allowed to use it')
    assert 'Authentik refused the sign-in (access_denied)' in caplog.text
    assert not get_user_model().objects.filter(username='alice').exists()


def test_other_authentik_errors_keep_the_generic_message(client, authentik):
    query = begin_sign_in(client)
    response = client.get('/oauth/complete/authentik/', {'error': 'server_error', 'state': query['state']})
    [message] = login_page_messages(client, response)
    assert not message.startswith('Authentik did not let you')
