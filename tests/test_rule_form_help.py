"""The rule form says which permission the NetBox group picker needs, and the picker really needs it."""

import pytest
from core.models import ObjectType
from django.test import Client
from users.models import Group, ObjectPermission, User

pytestmark = pytest.mark.django_db

ADD = '/plugins/authentik/group-mappings/add/'
PICKER_API = '/api/users/groups/'
SAYS = 'it stays empty without the permission to view groups'


def permitted(user, name, actions, app_label, model):
    permission = ObjectPermission.objects.create(name=name, actions=actions)
    permission.object_types.add(ObjectType.objects.get(app_label=app_label, model=model))
    permission.users.add(user)


@pytest.fixture
def writer():
    Group.objects.create(name='Network engineers')
    user = User.objects.create_user('writer')
    permitted(user, 'rules', ['view', 'add'], 'netbox_authentik', 'groupmapping')
    client = Client()
    client.force_login(user)
    return user, client


def test_rule_form_names_the_permission_the_picker_needs(writer):
    _user, client = writer
    page = client.get(ADD)
    assert page.status_code == 200
    assert SAYS in page.content.decode()


def test_picker_lists_groups_only_with_the_view_permission(writer):
    user, client = writer
    assert client.get(PICKER_API).status_code == 403
    permitted(user, 'groups', ['view'], 'users', 'group')
    answer = client.get(PICKER_API)
    assert answer.status_code == 200
    assert [group['name'] for group in answer.json()['results']] == ['Network engineers']
