"""What SCIM provisioning tells the admin's log (logger `netbox_authentik.provisioning`), line by line.

An admin reads these to learn why an account appeared, went inactive or came back; each line must come when
its change happens, and only then.
"""

import logging

import pytest
from django.contrib.auth import get_user_model
from users.models import Group

from .test_group_sync import plugin_config
from .test_scim import BASE, group_body, members, provisioner, scim, user_body

pytestmark = pytest.mark.django_db
# The SCIM client and its token's user, the fixtures of tests/test_scim.py, requested here by name.
SHARED_FIXTURES = (scim, provisioner)


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger='netbox_authentik.provisioning')
    return lambda: [
        (record.levelname, record.getMessage())
        for record in caplog.records
        if record.name == 'netbox_authentik.provisioning'
    ]


def test_creating_deactivating_and_reactivating_are_each_logged_once(scim, log):
    pk = scim('POST', 'Users', user_body()).body['id']
    assert log() == [('INFO', 'SCIM created NetBox user ada')]

    scim('PUT', f'Users/{pk}', user_body(id=pk, name={'givenName': 'Ada', 'familyName': 'King'}))
    assert log() == [('INFO', 'SCIM created NetBox user ada')]  # a change that keeps the user active: no line

    scim('PUT', f'Users/{pk}', user_body(id=pk, active=False))
    scim('PUT', f'Users/{pk}', user_body(id=pk, active=True))
    assert log()[1:] == [
        ('INFO', 'SCIM deactivated NetBox user ada: its sessions end and its API tokens stop working'),
        ('INFO', 'SCIM reactivated NetBox user ada'),
    ]


def test_deleting_in_delete_mode_is_logged_with_the_groups_the_user_was_in(scim, log):
    pk = scim('POST', 'Users', user_body()).body['id']
    group = scim('POST', 'Groups', group_body('ops', 'ext-ops')).body['id']
    scim('PATCH', f'Groups/{group}', members('add', pk))

    with plugin_config(scim_user_delete='delete'):
        assert scim('DELETE', f'Users/{pk}').status_code == 204

    assert ('INFO', 'SCIM deleted NetBox user ada (1 Authentik group(s))') in log()
    assert not get_user_model().objects.filter(pk=pk).exists()


def test_default_groups_that_do_not_exist_are_an_error_and_only_then(scim, log, settings):
    Group.objects.create(name='Readers')
    settings.REMOTE_AUTH_DEFAULT_GROUPS = ['Readers']
    scim('POST', 'Users', user_body())
    assert [line for line in log() if line[0] == 'ERROR'] == []

    settings.REMOTE_AUTH_DEFAULT_GROUPS = ['Readers', 'No such group']
    scim('POST', 'Users', user_body('bob', sub='b' * 64, email='bob@example.com'))
    assert [line for line in log() if line[0] == 'ERROR'] == [
        ('ERROR', 'REMOTE_AUTH_DEFAULT_GROUPS names group(s) that do not exist: No such group')
    ]


def test_a_request_that_fails_is_logged_with_its_traceback(scim, caplog, monkeypatch):
    from django.db import DatabaseError

    from netbox_authentik.scim import provisioning

    pk = scim('POST', 'Users', user_body()).body['id']

    def fail(link, groups=None, deleted=False):
        raise DatabaseError('the last write of the request failed')

    monkeypatch.setattr(provisioning, '_mark_provisioned', fail)
    with caplog.at_level(logging.ERROR, logger='netbox_authentik.scim'):
        response = scim('PUT', f'Users/{pk}', user_body(id=pk, active=False))

    assert response.status_code == 500
    assert response.body['detail'] == 'NetBox could not carry out the request: DatabaseError'
    [record] = [record for record in caplog.records if record.name == 'netbox_authentik.scim']
    assert record.getMessage() == f'SCIM request PUT {BASE}Users/{pk} failed'
    assert record.exc_info
