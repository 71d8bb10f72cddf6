"""required_groups: who may use NetBox. A refused person leaves no user, link or group; SCIM keeps them inactive."""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from social_django.models import UserSocialAuth
from users.models import Group

from netbox_authentik import access, pipeline
from netbox_authentik.diagnostics import checks
from tests import test_group_sync, test_scim
from tests.fake_authentik import authentik_claims, login_page_messages

from .test_group_sync import plugin_config
from .test_scim import group_body, members, user_body

# The fixtures of the sign-in and SCIM tests, shared.
sign_in = test_group_sync.sign_in
scim, provisioner = test_scim.scim, test_scim.provisioner

pytestmark = pytest.mark.django_db

REFUSED = 'Your Authentik account is not allowed to use NetBox. Ask your administrator.'
# Would create NetBox groups and a superuser if the sign-in got that far.
GRANTING = {
    'group_map': {'netbox-users': 'Users', 'other': 'Others'},
    'auto_create_groups': True,
    'superuser_groups': ['other'],
}


def refused_logged(caplog):
    return [
        record
        for record in caplog.records
        if record.name == 'netbox_authentik.pipeline' and record.getMessage().startswith('Refused the sign-in')
    ]


def test_person_outside_required_groups_is_refused_and_leaves_nothing(client, sign_in, caplog):
    with plugin_config(required_groups=['netbox-users', 'netbox-admin*'], **GRANTING), caplog.at_level(logging.INFO):
        response = sign_in('bob', groups=['other'])
    assert login_page_messages(client, response) == [REFUSED]
    assert not get_user_model().objects.filter(username='bob').exists()
    assert not UserSocialAuth.objects.exists()
    assert not Group.objects.filter(name__in=['Users', 'Others']).exists()
    assert '_auth_user_id' not in client.session
    [record] = refused_logged(caplog)
    assert record.levelno == logging.WARNING
    assert 'required_groups lets in members of netbox-users, netbox-admin*; its groups: other.' in record.getMessage()
    assert 'eyJ' not in caplog.text  # no token in the log


def test_person_without_groups_claim_is_refused(client, sign_in, caplog):
    with plugin_config(required_groups=['netbox-users']), caplog.at_level(logging.WARNING):
        response = sign_in('bob', groups=None)
    assert login_page_messages(client, response) == [REFUSED]
    assert not get_user_model().objects.filter(username='bob').exists()
    assert 'its groups: unknown (no groups claim)' in refused_logged(caplog)[0].getMessage()


@pytest.mark.parametrize('groups', [['netbox-users'], ['other', 'netbox-admins']])
def test_member_of_a_required_group_or_glob_signs_in(client, sign_in, groups):
    with plugin_config(required_groups=['netbox-users', 'netbox-admin*']):
        response = sign_in('alice', groups=groups)
    assert response['Location'] == '/'
    assert get_user_model().objects.get(username='alice').pk == int(client.session['_auth_user_id'])


def test_empty_required_groups_lets_anyone_in(client, sign_in):
    with plugin_config(required_groups=[]):
        response = sign_in('bob', groups=[])
    assert response['Location'] == '/'


def test_linked_user_who_left_the_required_groups_is_refused_and_keeps_their_account_as_it_was(client, sign_in):
    with plugin_config(**GRANTING):
        sign_in('alice', groups=['netbox-users'])
    alice = get_user_model().objects.get(username='alice')
    link = UserSocialAuth.objects.get(user=alice)
    before = (
        set(alice.groups.values_list('name', flat=True)),
        alice.is_superuser,
        alice.last_login,
        link.extra_data,
        link.modified,
    )
    client.logout()
    with plugin_config(required_groups=['netbox-users'], **GRANTING):
        response = sign_in('alice', groups=['other'])  # would make her superuser in 'Others'
    assert login_page_messages(client, response) == [REFUSED]
    alice.refresh_from_db()
    link.refresh_from_db()
    assert (
        set(alice.groups.values_list('name', flat=True)),
        alice.is_superuser,
        alice.last_login,
        link.extra_data,
        link.modified,
    ) == before
    assert list(UserSocialAuth.objects.all()) == [link]
    assert not Group.objects.filter(name='Others').exists()
    assert '_auth_user_id' not in client.session


def test_malformed_required_groups_lets_nobody_in(client, authentik):
    # A misspelt glob must not quietly turn into "anyone": the item is E019 and sign-in stops before Authentik.
    with plugin_config(required_groups=['netbox-users', 'netbox-[admins']):
        assert access.allows(['netbox-users']) is False
        problems = checks.configuration_problems()
        response = client.post('/oauth/begin/authentik/')
    assert [problem.id for problem in problems] == ['netbox_authentik.E019']
    [message] = login_page_messages(client, response)
    assert message == (
        'Sign-in through Authentik is unavailable until the NetBox administrator fixes its configuration '
        '(netbox_authentik.E019).'
    )


@pytest.mark.parametrize(
    ('value', 'ids'),
    [
        (['netbox-users', 'netbox-*'], []),
        (['netbox-users', 5], ['netbox_authentik.E019']),
        (['[z-a]'], ['netbox_authentik.E019']),
        ('netbox-users', ['netbox_authentik.E010']),
    ],
)
def test_required_groups_problems_are_checks(value, ids):
    with plugin_config(required_groups=value):
        assert [problem.id for problem in checks.configuration_problems()] == ids
        assert access.required_groups() is (None if ids else value)


def test_a_pipeline_that_would_link_before_the_gate_is_e020():
    late = list(pipeline.AUTHENTIK_PIPELINE)
    late.remove(access.REQUIRE_GROUPS)
    late.insert(late.index('social_core.pipeline.user.create_user') + 1, access.REQUIRE_GROUPS)
    without = [step for step in pipeline.AUTHENTIK_PIPELINE if step != access.REQUIRE_GROUPS]
    for custom in (late, without):
        with override_settings(SOCIAL_AUTH_PIPELINE=custom), plugin_config(required_groups=['netbox-users']):
            assert 'netbox_authentik.E020' in [problem.id for problem in checks.configuration_problems()]
        with override_settings(SOCIAL_AUTH_PIPELINE=custom), plugin_config(required_groups=[]):
            assert 'netbox_authentik.E020' not in [problem.id for problem in checks.configuration_problems()]


# -- SCIM: Authentik pushes the user before its groups ---------------------------------------------------------


def active(pk):
    return get_user_model().objects.get(pk=pk).is_active


def test_scim_user_outside_required_groups_is_inactive_until_a_group_push_lets_them_in(scim):
    with plugin_config(required_groups=['netbox-admins']):
        created = scim('POST', 'Users', user_body())
        pk = created.body['id']
        assert created.status_code == 201 and active(pk) is False
        group_id = scim('POST', 'Groups', group_body('netbox-admins')).body['id']
        scim('PATCH', f'Groups/{group_id}', members('add', pk))
        assert active(pk) is True
        scim('PATCH', f'Groups/{group_id}', members('remove', pk))
        assert active(pk) is False
        # An update of the user itself while outside: still inactive.
        scim('PUT', f'Users/{pk}', user_body(id=pk))
        assert active(pk) is False


def test_scim_user_deactivated_by_authentik_stays_inactive_when_a_group_push_lets_them_in(scim):
    with plugin_config(required_groups=['netbox-admins']):
        pk = scim('POST', 'Users', user_body(active=False)).body['id']
        group_id = scim('POST', 'Groups', group_body('netbox-admins')).body['id']
        scim('PATCH', f'Groups/{group_id}', members('add', pk))
        assert active(pk) is False
        scim('PUT', f'Users/{pk}', user_body(id=pk))  # Authentik reactivates them
        assert active(pk) is True


def test_scim_user_held_then_deactivated_by_authentik_is_not_activated_by_a_group_push(scim):
    with plugin_config(required_groups=['netbox-admins']):
        pk = scim('POST', 'Users', user_body()).body['id']  # kept inactive: no group yet
        scim('PUT', f'Users/{pk}', user_body(active=False, id=pk))  # then Authentik deactivates them itself
        group_id = scim('POST', 'Groups', group_body('netbox-admins')).body['id']
        scim('PATCH', f'Groups/{group_id}', members('add', pk))
        assert active(pk) is False


def test_scim_without_required_groups_keeps_authentiks_active_flag(scim):
    pk = scim('POST', 'Users', user_body()).body['id']
    assert active(pk) is True


def test_groups_only_userinfo_gives_let_a_member_in(client, authentik, settings):
    """Authentik with "Include claims in id_token" off: the groups arrive from userinfo alone."""
    from tests.test_userinfo import sign_in as sign_in_with_userinfo

    settings.PLUGINS_CONFIG = {'netbox_authentik': {'required_groups': ['netbox-users'], 'fetch_userinfo': 'auto'}}
    userinfo = authentik_claims('alice', groups=['netbox-users'])

    user = sign_in_with_userinfo(client, authentik, userinfo=userinfo, groups=None)

    assert user.pk == int(client.session['_auth_user_id'])


def test_the_refusal_log_names_the_identity(client, sign_in, caplog):
    with plugin_config(required_groups=['netbox-users']), caplog.at_level(logging.WARNING):
        sign_in('bob', groups=['other'])
    [record] = refused_logged(caplog)
    assert f'Refused the sign-in of Authentik identity {authentik_claims("bob")["sub"]}:' in record.getMessage()
