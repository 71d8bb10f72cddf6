"""What the group sync tells the admin's log (logger `netbox_authentik.group_sync`), line by line: each line
comes with its change, and only then."""

import logging

import pytest
from users.models import Group, User

from netbox_authentik.groups.plan import GroupPlan
from netbox_authentik.groups.sync import _apply_group_changes

from .test_group_sync import MAP, groups_of, netbox_groups, plugin_config, sign_in

pytestmark = pytest.mark.django_db
# The fixtures of tests/test_group_sync.py, requested here by name.
SHARED_FIXTURES = (sign_in, netbox_groups)


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger='netbox_authentik.group_sync')
    return lambda: [
        (record.levelname, record.getMessage())
        for record in caplog.records
        if record.name == 'netbox_authentik.group_sync'
    ]


def test_groups_added_then_removed_are_each_logged(sign_in, netbox_groups, log):
    with plugin_config(group_map=MAP):
        sign_in('ada', ['netbox-users'])
        sign_in('ada', ['netbox-users', 'network-engineers'])
        sign_in('ada', ['network-engineers'])
        sign_in('ada', ['network-engineers'])  # nothing changes: no line
    assert log() == [
        ('INFO', 'Synced Authentik groups for ada: added 1 (Users); removed 0 (none)'),
        ('INFO', 'Synced Authentik groups for ada: added 1 (Engineers); removed 0 (none)'),
        ('INFO', 'Synced Authentik groups for ada: added 0 (none); removed 1 (Users)'),
    ]


def test_superuser_status_granted_and_revoked_are_logged(sign_in, netbox_groups, log):
    with plugin_config(superuser_groups=['netbox-admins']):
        sign_in('ada', ['netbox-admins'])
        sign_in('ada', ['netbox-admins'])
        sign_in('ada', ['netbox-users'])
    assert log() == [
        ('INFO', 'Granted superuser status for ada from Authentik groups'),
        ('INFO', 'Revoked superuser status for ada from Authentik groups'),
    ]


def test_a_missing_groups_claim_is_a_warning_only_when_it_is_missing(sign_in, netbox_groups, log):
    with plugin_config(group_map=MAP):
        sign_in('ada', [])
        assert log() == []
        sign_in('ada', None)
    [(level, message)] = log()
    assert level == 'WARNING' and message.startswith('Authentik sent no groups claim for ada;')


def test_a_mapped_group_that_does_not_exist_is_a_warning_only_then(sign_in, netbox_groups, log):
    with plugin_config(group_map={'netbox-users': 'Users'}):
        sign_in('ada', ['netbox-users'])
    with plugin_config(group_map={'netbox-users': ['Users', 'Gone']}):
        sign_in('bob', ['netbox-users'])
    assert [line for line in log() if line[0] == 'WARNING'] == [
        ('WARNING', 'group_map names NetBox group(s) that do not exist: Gone')
    ]
    assert groups_of('bob') == {'Users'}


def test_a_group_another_sign_in_created_meanwhile_is_joined_not_an_error():
    # Two first sign-ins at once both plan to create 'Ops'; the second finds it made.
    Group.objects.create(name='Ops')
    ada = User.objects.create_user('ada')

    added = _apply_group_changes(ada, GroupPlan(add=frozenset({'Ops'}), create=frozenset({'Ops'})), Group)

    assert added == ['Ops']
    assert groups_of('ada') == {'Ops'}
    assert Group.objects.filter(name='Ops').count() == 1
