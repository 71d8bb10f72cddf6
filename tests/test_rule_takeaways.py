"""A group mapping rule kept in NetBox can give, never take away: it cannot cancel auto-created groups.

A writer holding no group could otherwise add `'*' → nothing` and, under mirror with auto_create_groups,
strip every auto-created group from everyone at their next sign-in. Rules kept in NetBox never stop
auto-creation, and a rule granting neither a group nor superuser status is refused on every write path.
"""

import json

import pytest
from users.models import Group, User

from netbox_authentik.models import GroupMapping
from tests.fake_authentik import sign_in
from tests.test_association_api import api_user, token_header
from tests.test_association_views import grant
from tests.test_group_mappings import API_URL, LIST_URL, operator, rule, superuser_client, text

pytestmark = pytest.mark.django_db

GRANTS_NOTHING = 'A rule must grant at least one NetBox group or superuser status.'


@pytest.fixture
def mirror_with_auto_create(settings):
    settings.PLUGINS_CONFIG = {'netbox_authentik': {'group_sync': 'mirror', 'auto_create_groups': True}}


def test_a_rule_granting_nothing_already_stored_strips_no_auto_created_group(
    client, authentik, mirror_with_auto_create
):
    sign_in(client, authentik, 'alice', groups=['netbox-users', 'network-engineers'])
    alice = User.objects.get(username='alice')
    assert sorted(alice.groups.values_list('name', flat=True)) == ['netbox-users', 'network-engineers']
    GroupMapping.objects.create(authentik_group='*')  # written before such rules were refused

    sign_in(client.__class__(), authentik, 'alice', groups=['netbox-users', 'network-engineers'])

    assert sorted(alice.groups.values_list('name', flat=True)) == ['netbox-users', 'network-engineers']


def test_a_rule_of_a_writer_keeps_the_groups_it_matches_auto_created(client, authentik, mirror_with_auto_create):
    ops = Group.objects.create(name='Ops')
    rule('*', ops)  # e.g. written by someone who holds Ops: it adds Ops, it takes nothing

    sign_in(client, authentik, 'alice', groups=['netbox-users'])

    assert sorted(User.objects.get(username='alice').groups.values_list('name', flat=True)) == ['Ops', 'netbox-users']


def test_api_refuses_a_rule_granting_nothing_for_an_operator_and_a_superuser(client):
    operator_user = User.objects.create_user('mallory')
    grant(operator_user, 'netbox_authentik.groupmapping', ['view', 'add'])
    for header in (token_header(operator_user), api_user('admin', superuser=True)):
        response = client.post(
            API_URL, {'authentik_group': '*', 'netbox_groups': []}, content_type='application/json', **header
        )
        assert response.status_code == 400, response.content
        assert response.json() == {'non_field_errors': [GRANTS_NOTHING]}
    assert not GroupMapping.objects.exists()


def test_api_refuses_emptying_a_rule(client):
    ops = Group.objects.create(name='Ops')
    mapping = rule('ops', ops)
    header = api_user('admin', superuser=True)
    response = client.patch(f'{API_URL}{mapping.pk}/', {'netbox_groups': []}, content_type='application/json', **header)
    assert response.status_code == 400
    assert json.dumps(response.json()).count(GRANTS_NOTHING) == 1
    assert list(mapping.netbox_groups.values_list('name', flat=True)) == ['Ops']


def test_add_page_refuses_a_rule_granting_nothing(client):
    operator(client)
    page = text(client.post(f'{LIST_URL}add/', {'authentik_group': '*', 'enabled': 'on'}))
    assert GRANTS_NOTHING in page
    assert not GroupMapping.objects.exists()


def test_import_refuses_a_row_granting_nothing(client):
    superuser_client(client)
    csv = 'authentik_group,netbox_groups,superuser\n*,,false\n'
    page = text(client.post(f'{LIST_URL}import/', {'data': csv, 'format': 'csv', 'csv_delimiter': ','}))
    assert GRANTS_NOTHING in page
    assert not GroupMapping.objects.exists()


def test_bulk_edit_refuses_to_leave_a_rule_granting_nothing(client):
    ops = Group.objects.create(name='Ops')
    admins, grouped = rule('netbox-admins', superuser=True), rule('ops', ops)
    superuser_client(client)

    page = text(client.post(f'{LIST_URL}edit/', {'pk': [admins.pk, grouped.pk], '_apply': '1', 'superuser': 'false'}))
    assert f"{GRANTS_NOTHING} It would not for 'netbox-admins'." in page
    assert GroupMapping.objects.get(pk=admins.pk).superuser

    client.post(f'{LIST_URL}edit/', {'pk': [grouped.pk], '_apply': '1', '_nullify': ['netbox_groups']})
    assert list(grouped.netbox_groups.values_list('name', flat=True)) == ['Ops']


@pytest.fixture
def form_and_serializer_checks_off(monkeypatch):
    """The friendly checks gone: only GroupMapping's queryset remains."""
    monkeypatch.setattr('netbox_authentik.forms.rule_grants_nothing', lambda *args: False)
    monkeypatch.setattr('netbox_authentik.api.serializers.rule_grants_nothing', lambda *args: False)


def test_queryset_alone_refuses_a_rule_granting_nothing(client, form_and_serializer_checks_off):
    ops = Group.objects.create(name='Ops')
    grouped = rule('ops', ops)
    superuser_client(client)
    client.post(f'{LIST_URL}add/', {'authentik_group': '*', 'enabled': 'on'})
    client.post(f'{LIST_URL}edit/', {'pk': [grouped.pk], '_apply': '1', '_nullify': ['netbox_groups']})
    response = client.post(
        API_URL, {'authentik_group': '*'}, content_type='application/json', **api_user('admin', superuser=True)
    )
    assert response.status_code == 403
    assert list(GroupMapping.objects.values_list('authentik_group', 'netbox_groups__name')) == [('ops', 'Ops')]
