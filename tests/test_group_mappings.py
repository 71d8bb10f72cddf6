"""Group mapping rules as NetBox objects: the model, its pages, REST API and GraphQL, and who may write them.

A rule hands NetBox rights to whoever signs in with its Authentik group. A non-superuser allowed to
add, change or delete rules must never write one that grants superuser status or a NetBox group
they are not in themselves: on every path (page, import, bulk edit, bulk delete, API).
"""

import html
import json

import pytest
from core.models import ObjectChange
from django.core.exceptions import ValidationError
from users.models import Group, User

from netbox_authentik.models import GroupMapping
from tests.test_association_api import api_user, token_header
from tests.test_association_views import grant

pytestmark = pytest.mark.django_db

LIST_URL = '/plugins/authentik/group-mappings/'
API_URL = '/api/plugins/authentik/group-mappings/'
REFUSED = 'Only a superuser can create, change or delete a rule'


@pytest.fixture
def groups():
    return {name: Group.objects.create(name=name) for name in ('Ops', 'NOC', 'Admins')}


def rule(authentik_group, *netbox_groups, superuser=False, enabled=True, description=''):
    mapping = GroupMapping.objects.create(
        authentik_group=authentik_group, superuser=superuser, enabled=enabled, description=description
    )
    mapping.netbox_groups.set(netbox_groups)
    return mapping


def superuser_client(client):
    client.force_login(User.objects.create_user('root', is_superuser=True))
    return client


def operator(client, groups_in=(), actions=('view', 'add', 'change', 'delete')):
    """A non-superuser with every permission on rules, a member of groups_in."""
    user = User.objects.create_user('mallory')
    grant(user, 'netbox_authentik.groupmapping', list(actions))
    grant(user, 'users.group', ['view'])
    user.groups.set(groups_in)
    client.force_login(user)
    return user


def text(response):
    return html.unescape(response.content.decode())


# -- the model ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('authentik_group', 'message'),
    [
        ('', 'This field cannot be blank.'),
        ('   ', 'cannot be only spaces'),
        ('x' * 256, 'Ensure this value has at most 255 characters'),
        ('ops-[', "a '[' is never closed by ']'"),
        ('ops-[z-a]', 'matches nothing'),
    ],
)
def test_bad_authentik_group_is_a_clear_validation_error(authentik_group, message):
    with pytest.raises(ValidationError) as refused:
        GroupMapping(authentik_group=authentik_group).full_clean()
    assert message in str(refused.value.message_dict['authentik_group'])


@pytest.mark.parametrize('authentik_group', ['netbox-admins', 'ops-*', 'team-?', 'site-[ab]', 'lit-[[]x]', 'Réseau'])
def test_good_authentik_groups_pass(authentik_group):
    GroupMapping(authentik_group=authentik_group).full_clean()


def test_rule_is_a_change_logged_netbox_object(client, groups):
    superuser_client(client)
    client.post(f'{LIST_URL}add/', {'authentik_group': 'ops-*', 'netbox_groups': [groups['Ops'].pk], 'enabled': 'on'})
    mapping = GroupMapping.objects.get()
    assert [g.name for g in mapping.netbox_groups.all()] == ['Ops']
    change = ObjectChange.objects.get(changed_object_id=mapping.pk, changed_object_type__model='groupmapping')
    assert change.action == 'create'
    assert change.postchange_data['authentik_group'] == 'ops-*'
    assert client.get(f'{LIST_URL}{mapping.pk}/changelog/').status_code == 200
    assert client.get(f'{LIST_URL}{mapping.pk}/journal/').status_code == 200


# -- the pages -------------------------------------------------------------------------------------------


def test_list_detail_and_filters(client, groups):
    superuser_client(client)
    ops = rule('ops-*', groups['Ops'], description='every ops team')
    rule('netbox-admins', superuser=True)
    rule('retired-team', groups['NOC'], enabled=False)

    page = text(client.get(LIST_URL))
    assert 'Authentik Group Mappings' in page
    assert 'ops-*' in page and 'netbox-admins' in page and 'every ops team' in page
    filtered = text(client.get(LIST_URL, {'superuser': 'true'}))
    assert 'netbox-admins' in filtered and 'ops-*' not in filtered
    assert 'ops-*' in text(client.get(LIST_URL, {'glob': 'true'}))
    enabled = text(client.get(LIST_URL, {'enabled': 'true'}))
    assert 'ops-*' in enabled and 'retired-team' not in enabled
    assert 'ops-*' in text(client.get(LIST_URL, {'netbox_group_id': groups['Ops'].pk}))
    assert 'every ops team' in text(client.get(LIST_URL, {'q': 'ops team'}))

    detail = text(client.get(f'{LIST_URL}{ops.pk}/'))
    assert 'ops-*' in detail and 'Ops' in detail and 'every ops team' in detail


def test_menu_lists_group_mappings_beside_identity_links(client):
    superuser_client(client)
    page = text(client.get('/'))
    assert 'Identity Links' in page and 'Group Mappings' in page
    assert f'href="{LIST_URL}"' in page


def test_add_edit_delete_on_the_pages(client, groups):
    superuser_client(client)
    response = client.post(
        f'{LIST_URL}add/',
        {'authentik_group': 'noc', 'netbox_groups': [groups['NOC'].pk], 'enabled': 'on', 'description': 'first'},
    )
    assert response.status_code == 302
    mapping = GroupMapping.objects.get()
    client.post(
        f'{LIST_URL}{mapping.pk}/edit/',
        {'authentik_group': 'noc-*', 'netbox_groups': [groups['Ops'].pk], 'superuser': 'on', 'enabled': 'on'},
    )
    mapping.refresh_from_db()
    assert (mapping.authentik_group, mapping.superuser) == ('noc-*', True)
    assert list(mapping.netbox_groups.values_list('name', flat=True)) == ['Ops']
    client.post(f'{LIST_URL}{mapping.pk}/delete/', {'confirm': 'true'})
    assert not GroupMapping.objects.exists()


def test_add_page_refuses_bad_glob_with_its_reason(client):
    superuser_client(client)
    page = text(client.post(f'{LIST_URL}add/', {'authentik_group': 'ops-[', 'enabled': 'on'}))
    assert "Not a valid glob: a '[' is never closed by ']'" in page
    assert not GroupMapping.objects.exists()


def test_bulk_import_csv_yaml_and_json(client, groups):
    superuser_client(client)
    csv = (
        'authentik_group,netbox_groups,superuser,enabled,description\n'
        'ops-*,"Ops,NOC",false,true,from csv\nnetbox-admins,,true,true,\n'
    )
    response = client.post(f'{LIST_URL}import/', {'data': csv, 'format': 'csv', 'csv_delimiter': ','})
    assert response.status_code == 302, text(response)
    yaml = '- authentik_group: yaml-group\n  netbox_groups: [Admins]\n'
    assert client.post(f'{LIST_URL}import/', {'data': yaml, 'format': 'yaml'}).status_code == 302
    data = json.dumps([{'authentik_group': 'json-group', 'netbox_groups': ['NOC'], 'enabled': False}])
    assert client.post(f'{LIST_URL}import/', {'data': data, 'format': 'json'}).status_code == 302
    imported = {
        m.authentik_group: (sorted(m.netbox_groups.values_list('name', flat=True)), m.superuser, m.enabled)
        for m in GroupMapping.objects.all()
    }
    assert imported == {
        'ops-*': (['NOC', 'Ops'], False, True),
        'netbox-admins': ([], True, True),
        'yaml-group': (['Admins'], False, True),
        'json-group': (['NOC'], False, False),
    }


def test_import_row_naming_a_missing_netbox_group_is_refused_with_its_name(client, groups):
    superuser_client(client)
    csv = 'authentik_group,netbox_groups\nops,"Ops,Ghosts"\n'
    page = text(client.post(f'{LIST_URL}import/', {'data': csv, 'format': 'csv', 'csv_delimiter': ','}))
    assert 'Record 1 netbox_groups: No NetBox group is named Ghosts.' in page
    assert not GroupMapping.objects.exists()


def test_bulk_edit_and_bulk_delete(client, groups):
    superuser_client(client)
    first, second = rule('a', groups['Ops']), rule('b', groups['NOC'])
    client.post(
        f'{LIST_URL}edit/',
        {'pk': [first.pk, second.pk], '_apply': '1', 'enabled': 'false', 'netbox_groups': [groups['Admins'].pk]},
    )
    assert set(GroupMapping.objects.values_list('enabled', flat=True)) == {False}
    assert set(GroupMapping.objects.values_list('netbox_groups__name', flat=True)) == {'Admins'}
    client.post(f'{LIST_URL}delete/', {'pk': [first.pk, second.pk], '_confirm': '1', 'confirm': 'true'})
    assert not GroupMapping.objects.exists()


def test_export_lists_the_rules(client, groups):
    superuser_client(client)
    rule('ops-*', groups['Ops'])
    exported = client.get(LIST_URL, {'export': 'table'}).content.decode()
    assert 'ops-*' in exported and 'Ops' in exported


# -- who may write rules: the pages ------------------------------------------------------------------------


def test_operator_may_write_rules_within_their_own_groups(client, groups):
    operator(client, groups_in=[groups['Ops']])
    response = client.post(
        f'{LIST_URL}add/', {'authentik_group': 'ops-*', 'netbox_groups': [groups['Ops'].pk], 'enabled': 'on'}
    )
    assert response.status_code == 302
    assert GroupMapping.objects.filter(authentik_group='ops-*').exists()


@pytest.mark.parametrize(
    'form',
    [
        {'authentik_group': 'my-team', 'superuser': 'on', 'enabled': 'on'},
        {'authentik_group': 'my-team', 'netbox_groups': ['Admins'], 'enabled': 'on'},
        {'authentik_group': 'my-team', 'netbox_groups': ['Ops', 'Admins'], 'enabled': 'on'},
    ],
)
def test_operator_cannot_add_a_rule_granting_more_than_they_have(client, groups, form):
    operator(client, groups_in=[groups['Ops']])
    form = {**form, 'netbox_groups': [groups[name].pk for name in form.get('netbox_groups', ())]}
    page = text(client.post(f'{LIST_URL}add/', form))
    assert REFUSED in page
    assert not GroupMapping.objects.exists()


def test_operator_cannot_edit_a_rule_into_more_rights_nor_touch_a_superuser_rule(client, groups):
    own = rule('ops', groups['Ops'])
    admins = rule('netbox-admins', superuser=True)
    operator(client, groups_in=[groups['Ops']])
    page = text(
        client.post(
            f'{LIST_URL}{own.pk}/edit/',
            {'authentik_group': 'ops', 'superuser': 'on', 'netbox_groups': [groups['Ops'].pk]},
        )
    )
    assert REFUSED in page
    # Someone else's superuser rule is not there for them: re-pointing it at their own group is impossible.
    assert (
        client.post(f'{LIST_URL}{admins.pk}/edit/', {'authentik_group': 'my-team', 'superuser': 'on'}).status_code
        == 404
    )
    assert client.post(f'{LIST_URL}{admins.pk}/delete/', {'confirm': 'true'}).status_code == 404
    own.refresh_from_db()
    admins.refresh_from_db()
    assert own.superuser is False and admins.authentik_group == 'netbox-admins'


def test_operator_cannot_import_a_superuser_rule_or_foreign_group(client, groups):
    operator(client, groups_in=[groups['Ops']])
    for csv in ('authentik_group,superuser\nmy-team,true\n', 'authentik_group,netbox_groups\nmy-team,Admins\n'):
        page = text(client.post(f'{LIST_URL}import/', {'data': csv, 'format': 'csv', 'csv_delimiter': ','}))
        assert REFUSED in page
    assert not GroupMapping.objects.exists()


def test_operator_cannot_import_an_update_onto_a_superuser_rule(client, groups):
    admins = rule('netbox-admins', superuser=True)
    operator(client, groups_in=[groups['Ops']])
    csv = f'id,authentik_group\n{admins.pk},my-team\n'
    page = text(client.post(f'{LIST_URL}import/', {'data': csv, 'format': 'csv', 'csv_delimiter': ','}))
    assert f'Object with ID {admins.pk} does not exist' in page
    admins.refresh_from_db()
    assert admins.authentik_group == 'netbox-admins'


def test_operator_cannot_bulk_edit_rules_into_more_rights(client, groups):
    own = rule('ops', groups['Ops'])
    operator(client, groups_in=[groups['Ops']])
    for change in ({'superuser': 'true'}, {'netbox_groups': [groups['Admins'].pk]}):
        page = text(client.post(f'{LIST_URL}edit/', {'pk': [own.pk], '_apply': '1', **change}))
        assert REFUSED in page
    own.refresh_from_db()
    assert own.superuser is False
    assert list(own.netbox_groups.values_list('name', flat=True)) == ['Ops']


def test_operator_bulk_edit_skips_rules_outside_their_rights(client, groups):
    admins = rule('netbox-admins', superuser=True)
    noc = rule('noc', groups['NOC'])
    operator(client, groups_in=[groups['Ops']])
    client.post(f'{LIST_URL}edit/', {'pk': [admins.pk, noc.pk], '_apply': '1', 'enabled': 'false'})
    assert set(GroupMapping.objects.values_list('enabled', flat=True)) == {True}


def test_operator_cannot_bulk_delete_rules_outside_their_rights(client, groups):
    admins = rule('netbox-admins', superuser=True)
    noc = rule('noc', groups['NOC'])
    own = rule('ops', groups['Ops'])
    operator(client, groups_in=[groups['Ops']])
    client.post(f'{LIST_URL}delete/', {'pk': [admins.pk, noc.pk, own.pk], '_confirm': '1', 'confirm': 'true'})
    assert set(GroupMapping.objects.values_list('authentik_group', flat=True)) == {'netbox-admins', 'noc'}


# -- the REST API -----------------------------------------------------------------------------------------


def test_api_create_read_filter_brief_update_delete(client, groups):
    header = api_user('admin', superuser=True)
    created = client.post(
        API_URL,
        {'authentik_group': 'ops-*', 'netbox_groups': [groups['Ops'].pk, groups['NOC'].pk], 'description': 'ops'},
        content_type='application/json',
        **header,
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body['authentik_group'] == 'ops-*'
    assert sorted(group['name'] for group in body['netbox_groups']) == ['NOC', 'Ops']
    assert body['superuser'] is False and body['enabled'] is True
    assert {'id', 'url', 'display', 'display_url', 'tags', 'custom_fields', 'created', 'last_updated'} <= set(body)

    rule('netbox-admins', superuser=True)
    listed = client.get(API_URL, {'superuser': 'true'}, **header).json()
    assert [item['authentik_group'] for item in listed['results']] == ['netbox-admins']
    brief = client.get(API_URL, {'brief': '1'}, **header).json()['results'][0]
    assert set(brief) == {'id', 'url', 'display', 'authentik_group', 'superuser', 'enabled', 'description'}
    by_group = client.get(API_URL, {'netbox_group': 'NOC'}, **header).json()
    assert [item['authentik_group'] for item in by_group['results']] == ['ops-*']

    patched = client.patch(
        f'{API_URL}{body["id"]}/',
        {'netbox_groups': [groups['Admins'].pk], 'enabled': False},
        content_type='application/json',
        **header,
    )
    assert [group['name'] for group in patched.json()['netbox_groups']] == ['Admins']
    assert client.delete(f'{API_URL}{body["id"]}/', **header).status_code == 204


@pytest.mark.parametrize(
    ('data', 'field', 'message'),
    [
        ({'authentik_group': ''}, 'authentik_group', 'This field may not be blank.'),
        ({'authentik_group': 'x' * 256}, 'authentik_group', 'no more than 255 characters'),
        ({'authentik_group': 'ops-['}, 'authentik_group', "a '[' is never closed"),
        ({'authentik_group': 'ops', 'netbox_groups': [987654]}, 'netbox_groups', 'object does not exist'),
    ],
)
def test_api_refuses_bad_rules_with_the_reason(client, data, field, message):
    header = api_user('admin', superuser=True)
    response = client.post(API_URL, data, content_type='application/json', **header)
    assert response.status_code == 400
    assert message in json.dumps(response.json()[field])


def test_api_operator_may_write_within_their_groups_only(client, groups):
    user = User.objects.create_user('mallory')
    user.groups.set([groups['Ops']])
    grant(user, 'netbox_authentik.groupmapping', ['view', 'add', 'change', 'delete'])
    header = token_header(user)
    ok = client.post(
        API_URL,
        {'authentik_group': 'ops', 'netbox_groups': [groups['Ops'].pk]},
        content_type='application/json',
        **header,
    )
    assert ok.status_code == 201
    for data in (
        {'authentik_group': 'mine', 'superuser': True},
        {'authentik_group': 'mine', 'netbox_groups': [groups['Admins'].pk]},
    ):
        refused = client.post(API_URL, data, content_type='application/json', **header)
        assert refused.status_code == 403
        assert REFUSED in refused.json()['detail']
    own = ok.json()['id']
    refused = client.patch(f'{API_URL}{own}/', {'superuser': True}, content_type='application/json', **header)
    assert refused.status_code == 403
    admins = rule('netbox-admins', superuser=True)
    assert (
        client.patch(
            f'{API_URL}{admins.pk}/', {'authentik_group': 'mine'}, content_type='application/json', **header
        ).status_code
        == 404
    )
    assert client.delete(f'{API_URL}{admins.pk}/', **header).status_code == 404
    assert set(GroupMapping.objects.values_list('authentik_group', 'superuser')) == {
        ('ops', False),
        ('netbox-admins', True),
    }


def test_api_bulk_delete_cannot_reach_rules_outside_the_operators_rights(client, groups):
    user = User.objects.create_user('mallory')
    grant(user, 'netbox_authentik.groupmapping', ['view', 'delete'])
    admins = rule('netbox-admins', superuser=True)
    response = client.delete(API_URL, [{'id': admins.pk}], content_type='application/json', **token_header(user))
    assert response.status_code in (400, 403, 404)
    assert GroupMapping.objects.filter(pk=admins.pk).exists()


def test_graphql_lists_rules(client, groups):
    header = api_user('admin', superuser=True)
    rule('ops-*', groups['Ops'], superuser=True)
    query = '{ authentik_group_mapping_list { authentik_group superuser netbox_groups { name } } }'
    response = client.post('/graphql/', {'query': query}, content_type='application/json', **header)
    assert response.status_code == 200, response.content
    assert response.json()['data']['authentik_group_mapping_list'] == [
        {'authentik_group': 'ops-*', 'superuser': True, 'netbox_groups': [{'name': 'Ops'}]}
    ]


# -- the second line: GroupMapping's queryset refuses the save even without the forms' and API's check ----------


@pytest.fixture
def checks_off(monkeypatch):
    """The friendly checks in the forms and the serializer gone: only NetBox's queryset check remains."""
    monkeypatch.setattr('netbox_authentik.forms.rule_authority_problem', lambda *args: '')
    monkeypatch.setattr('netbox_authentik.api.serializers.rule_authority_problem', lambda *args: '')


def test_queryset_alone_refuses_the_add_page_import_and_bulk_edit(client, groups, checks_off):
    own = rule('ops', groups['Ops'])
    operator(client, groups_in=[groups['Ops']])
    page = text(client.post(f'{LIST_URL}add/', {'authentik_group': 'mine', 'superuser': 'on', 'enabled': 'on'}))
    assert 'permission' in page.lower()
    client.post(
        f'{LIST_URL}import/',
        {'data': 'authentik_group,netbox_groups\nmine,Admins\n', 'format': 'csv', 'csv_delimiter': ','},
    )
    client.post(f'{LIST_URL}edit/', {'pk': [own.pk], '_apply': '1', 'superuser': 'true'})
    assert set(GroupMapping.objects.values_list('authentik_group', 'superuser')) == {('ops', False)}
    assert list(own.netbox_groups.values_list('name', flat=True)) == ['Ops']


def test_queryset_alone_refuses_the_api(client, groups, checks_off):
    user = User.objects.create_user('mallory')
    grant(user, 'netbox_authentik.groupmapping', ['view', 'add', 'change'])
    response = client.post(
        API_URL, {'authentik_group': 'mine', 'superuser': True}, content_type='application/json', **token_header(user)
    )
    assert response.status_code == 403
    assert not GroupMapping.objects.exists()


@pytest.mark.parametrize('action', ['edit', 'delete'])
@pytest.mark.parametrize('pk', ['abc', '', '1e5'])
def test_bulk_pages_refuse_a_crafted_row_id_and_change_nothing(client, groups, action, pk):
    superuser_client(client)
    mapping = rule('ops', groups['Ops'], description='kept')
    data = {'pk': [mapping.pk, pk], '_apply': '1', '_confirm': '1', 'confirm': 'true', 'description': 'changed'}
    response = client.post(f'{LIST_URL}{action}/', data)
    assert response.status_code == 400
    assert 'each must be an id number' in response.content.decode()
    mapping.refresh_from_db()
    assert mapping.description == 'kept'
