"""The SCIM 2.0 service provider, driven with the calls Authentik 2025.12.4's SCIM provider makes."""

import json
import time
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from social_django.models import UserSocialAuth

from netbox_authentik.models import AuthentikGroup, GroupMapping
from tests.fake_authentik import plugin_link_claim, recorded_claim

from .test_group_sync import plugin_config

pytestmark = pytest.mark.django_db

BASE = '/plugins/authentik/scim/v2/'
SCIM = 'application/scim+json'
USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User'
GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group'
PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp'
ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error'
SUB = 'a' * 64


def make_token(user, **fields):
    from users.models import Token

    token = Token(user=user, version=2, **fields)
    token.save()
    return token.get_auth_header_prefix() + token.token


@pytest.fixture
def provisioner():
    return get_user_model().objects.create_user('authentik-scim', is_superuser=True)


@pytest.fixture
def scim(client, provisioner):
    """An HTTP client that sends what Authentik sends: bearer token and SCIM content type on every request."""
    authorization = make_token(provisioner)

    def call(method, path, body=None, authorization=authorization, **extra):
        headers = {'HTTP_ACCEPT': SCIM, 'HTTP_USER_AGENT': 'authentik@2025.12.4'}
        if authorization:
            headers['HTTP_AUTHORIZATION'] = authorization
        data = json.dumps(body) if body is not None else ''
        response = getattr(client, method.lower())(BASE + path, data=data, content_type=SCIM, **{**headers, **extra})
        response.body = json.loads(response.content) if response.content else None
        return response

    return call


def user_body(username='ada', sub=SUB, active=True, email='ada@example.com', **extra):
    return {
        'schemas': [USER_SCHEMA],
        'userName': username,
        'active': active,
        'externalId': sub,
        'name': {'formatted': 'Ada Lovelace', 'familyName': 'Lovelace', 'givenName': 'Ada'},
        'displayName': 'Ada Lovelace',
        'emails': [{'value': email, 'type': 'other', 'primary': True}] if email else [],
        **extra,
    }


def group_body(name='netbox-admins', external_id='9f1c6a43-7a0e-4d6f-9a39-1d1f0c1e2a10'):
    return {'schemas': [GROUP_SCHEMA], 'displayName': name, 'externalId': external_id}


def members(op, *user_ids):
    return {
        'schemas': [PATCH_SCHEMA],
        'Operations': [{'op': op, 'path': 'members', 'value': [{'value': str(pk)} for pk in user_ids]}],
    }


def assert_error(response, status, scim_type=None):
    assert response.status_code == status, response.body
    assert response['Content-Type'].startswith(SCIM)
    assert response.body['schemas'] == [ERROR_SCHEMA]
    assert response.body['status'] == str(status)
    assert response.body['detail']
    if scim_type:
        assert response.body['scimType'] == scim_type


# -- discovery ----------------------------------------------------------------------------------------


def test_service_provider_config_announces_patch_filter_and_bulk(scim):
    response = scim('GET', 'ServiceProviderConfig')
    assert response.status_code == 200
    assert response['Content-Type'].startswith(SCIM)
    assert response.body['patch']['supported'] is True
    assert response.body['filter']['supported'] is True
    # Authentik splits its member PATCHes into requests of bulk.maxOperations operations.
    assert response.body['bulk'] == {'supported': False, 'maxOperations': 1000, 'maxPayloadSize': 0}
    # What NetBox does not offer says so: a client must never try a password change, sorting or ETags.
    assert [response.body[feature] for feature in ('changePassword', 'sort', 'etag')] == [{'supported': False}] * 3
    [scheme] = response.body['authenticationSchemes']
    assert (scheme['type'], scheme['primary']) == ('oauthbearertoken', True)
    assert response.body['meta']['location'] == 'http://testserver' + BASE + 'ServiceProviderConfig'


def test_resource_types_and_schemas_list_users_and_groups(scim):
    assert {item['id'] for item in scim('GET', 'ResourceTypes').body['Resources']} == {'User', 'Group'}
    assert {item['id'] for item in scim('GET', 'Schemas').body['Resources']} == {USER_SCHEMA, GROUP_SCHEMA}
    assert scim('GET', f'Schemas/{USER_SCHEMA}').body['name'] == 'User'
    assert_error(scim('GET', 'Schemas/nope'), 404)


# -- users --------------------------------------------------------------------------------------------


def test_post_user_creates_a_linked_netbox_user(scim):
    response = scim('POST', 'Users', user_body())
    assert response.status_code == 201
    user = get_user_model().objects.get(username='ada')
    assert response.body['id'] == str(user.pk)
    assert (user.first_name, user.last_name, user.email, user.is_active) == ('Ada', 'Lovelace', 'ada@example.com', True)
    link = UserSocialAuth.objects.get(user=user)
    assert (link.provider, link.uid) == ('authentik', SUB)
    assert recorded_claim(link) == plugin_link_claim()
    assert link.extra_data['scim_provisioned'] is True and link.extra_data['scim_updated_at']
    assert not user.has_usable_password()


def test_post_user_gets_the_default_groups_as_a_first_sign_in_does(scim, settings):
    from users.models import Group

    Group.objects.create(name='Readers')
    settings.REMOTE_AUTH_DEFAULT_GROUPS = ['Readers', 'No such group']
    assert scim('POST', 'Users', user_body()).status_code == 201
    user = get_user_model().objects.get(username='ada')
    assert set(user.groups.values_list('name', flat=True)) == {'Readers'}


def test_post_user_without_email_sends_empty_emails(scim):
    response = scim('POST', 'Users', user_body(email=None))
    assert response.status_code == 201
    assert response.body['emails'] == []


def test_post_user_already_signed_in_adopts_the_linked_user(scim):
    user = get_user_model().objects.create_user('ada', email='old@example.com')
    UserSocialAuth.objects.create(user=user, provider='authentik', uid=SUB, extra_data={'groups': ['x']})
    response = scim('POST', 'Users', user_body())
    assert response.status_code == 201
    assert response.body['id'] == str(user.pk)
    assert get_user_model().objects.filter(username__iexact='ada').count() == 1
    user.refresh_from_db()
    assert user.email == 'ada@example.com'


def test_post_user_never_takes_over_an_unlinked_local_user(scim):
    local = get_user_model().objects.create_user('ada', is_superuser=True)
    response = scim('POST', 'Users', user_body())
    assert_error(response, 409, 'uniqueness')
    assert "'ada' already exists" in response.body['detail']
    assert not UserSocialAuth.objects.filter(user=local).exists()
    # Authentik then looks the user up by userName: an unlinked user is invisible, so it adopts nothing.
    found = scim('GET', 'Users?filter=userName+eq+%22ada%22')
    assert found.body['totalResults'] == 0 and found.body['Resources'] == []


def test_post_user_differing_in_case_only_is_refused(scim):
    get_user_model().objects.create_user('Ada')
    assert_error(scim('POST', 'Users', user_body('ada')), 409, 'uniqueness')


def authentik_pushes_user(scim, body):
    """POST /Users as Authentik 2025.12 does; return the id it then keeps for this person, or None.

    On 409 it looks the userName up (`filter=userName eq "…"`) and adopts the first user found, whoever it is.
    """
    response = scim('POST', 'Users', body)
    if response.status_code == 201:
        return response.body['id']
    if response.status_code != 409:
        return None
    found = scim('GET', 'Users?filter=' + quote(f'userName eq "{body["userName"]}"'))
    return found.body['Resources'][0]['id'] if found.body['Resources'] else None


def authentik_adds_member(scim, group_id, user_id):
    """Authentik adds a person to a group only once it keeps a SCIM id for that person."""
    if user_id is not None:
        assert scim('PATCH', f'Groups/{group_id}', members('add', user_id)).status_code == 200


def test_a_new_person_never_lands_on_a_deleted_persons_account(scim, admins_mapping, caplog):
    former = scim('POST', 'Users', user_body('bob', sub='a' * 64)).body['id']
    assert scim('DELETE', f'Users/{former}').status_code == 204
    group_id = scim('POST', 'Groups', group_body()).body['id']

    # Another person gets the username bob in Authentik, and joins netbox-admins (a superuser rule).
    kept = authentik_pushes_user(scim, user_body('bob', sub='b' * 64, email='new-bob@example.com'))
    authentik_adds_member(scim, group_id, kept)

    assert kept is None
    old = get_user_model().objects.get(pk=former)
    assert (old.is_active, old.is_superuser, old.email) == (False, False, 'ada@example.com')
    assert not old.groups.exists() and not old.authentik_groups.exists()
    assert list(UserSocialAuth.objects.filter(user=old).values_list('uid', flat=True)) == ['a' * 64]
    assert not UserSocialAuth.objects.filter(uid='b' * 64).exists()
    assert get_user_model().objects.filter(username__iexact='bob').count() == 1
    error = next(record for record in caplog.records if record.levelname == 'ERROR')
    assert error.name == 'netbox_authentik.scim_conflicts'
    message = error.getMessage()
    assert "NetBox user 'bob'" in message and 'b' * 64 in message and 'a' * 64 in message
    assert 'deleted' in message and 'rename or delete' in message and 'link' in message


def test_the_refusal_is_400_uniqueness_so_authentik_never_looks_the_name_up(scim):
    scim('POST', 'Users', user_body('bob', sub='a' * 64))

    refused = scim('POST', 'Users', user_body('bob', sub='b' * 64))

    assert_error(refused, 400, 'uniqueness')
    assert 'another Authentik identity' in refused.body['detail'] and 'a' * 64 not in refused.body['detail']


def test_a_name_differing_in_case_never_adopts_an_active_account(scim, admins_mapping):
    first = scim('POST', 'Users', user_body('Ada', sub='a' * 64)).body['id']
    group_id = scim('POST', 'Groups', group_body()).body['id']

    kept = authentik_pushes_user(scim, user_body('ada', sub='b' * 64))
    authentik_adds_member(scim, group_id, kept)

    assert kept is None
    assert not get_user_model().objects.get(pk=first).is_superuser


def test_once_the_old_account_is_renamed_the_new_person_is_created(scim):
    former = scim('POST', 'Users', user_body('bob', sub='a' * 64)).body['id']
    scim('DELETE', f'Users/{former}')
    assert authentik_pushes_user(scim, user_body('bob', sub='b' * 64)) is None
    get_user_model().objects.filter(pk=former).update(username='bob-former')

    kept = authentik_pushes_user(scim, user_body('bob', sub='b' * 64))

    assert kept not in (None, former)
    assert UserSocialAuth.objects.get(user_id=kept).uid == 'b' * 64
    assert get_user_model().objects.get(pk=former).is_active is False


def test_once_the_old_account_is_linked_to_the_new_identity_it_is_adopted(scim):
    """The same person, deleted and created again in Authentik: the admin re-links and the history stays."""
    former = scim('POST', 'Users', user_body('bob', sub='a' * 64)).body['id']
    scim('DELETE', f'Users/{former}')
    UserSocialAuth.objects.filter(user_id=former).update(uid='b' * 64)

    kept = authentik_pushes_user(scim, user_body('bob', sub='b' * 64))

    assert kept == former
    assert get_user_model().objects.get(pk=former).is_active is True
    assert 'scim_deleted_at' not in UserSocialAuth.objects.get(user_id=former).extra_data


def test_delete_records_when_authentik_deleted_the_person(scim):
    pk = scim('POST', 'Users', user_body()).body['id']
    scim('DELETE', f'Users/{pk}')
    assert UserSocialAuth.objects.get(user_id=pk).extra_data['scim_deleted_at']


def test_one_word_name_keeps_no_blank_last_name(scim):
    """Authentik sends familyName ' ' for a one-word name."""
    body = user_body('plato', email=None)
    body['name'] = {'formatted': 'Plato', 'familyName': ' ', 'givenName': 'Plato'}

    response = scim('POST', 'Users', body)

    user = get_user_model().objects.get(username='plato')
    assert (user.first_name, user.last_name) == ('Plato', '')
    assert response.body['name'] == {'givenName': 'Plato', 'formatted': 'Plato'}
    assert response.body['displayName'] == 'Plato'


def test_put_user_active_false_deactivates_and_reactivation_restores(scim):
    pk = scim('POST', 'Users', user_body()).body['id']
    response = scim('PUT', f'Users/{pk}', user_body(active=False, id=pk))
    assert response.status_code == 200 and response.body['active'] is False
    assert get_user_model().objects.get(pk=pk).is_active is False
    assert scim('PUT', f'Users/{pk}', user_body(active=True, id=pk)).body['active'] is True
    assert get_user_model().objects.get(pk=pk).is_active is True


def test_deactivated_users_api_token_is_refused(scim, client):
    pk = scim('POST', 'Users', user_body()).body['id']
    user = get_user_model().objects.get(pk=pk)
    authorization = make_token(user)
    assert client.get('/api/status/', HTTP_AUTHORIZATION=authorization).status_code == 200
    scim('PUT', f'Users/{pk}', user_body(active=False, id=pk))
    response = client.get('/api/status/', HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 403
    assert 'inactive' in response.json()['detail']


# That deactivation really ends the person's sessions is shown with real sessions in test_scim_promises.py.


def test_delete_user_deactivates_by_default(scim):
    pk = scim('POST', 'Users', user_body()).body['id']
    assert scim('DELETE', f'Users/{pk}').status_code == 204
    user = get_user_model().objects.get(pk=pk)
    assert user.is_active is False
    assert scim('GET', f'Users/{pk}').body['active'] is False


def test_delete_user_deletes_when_configured(scim):
    pk = scim('POST', 'Users', user_body()).body['id']
    with plugin_config(scim_user_delete='delete'):
        assert scim('DELETE', f'Users/{pk}').status_code == 204
    assert not get_user_model().objects.filter(pk=pk).exists()


def test_put_user_cannot_repoint_the_link(scim):
    pk = scim('POST', 'Users', user_body()).body['id']
    assert_error(scim('PUT', f'Users/{pk}', user_body(sub='c' * 64, id=pk)), 400, 'mutability')
    assert UserSocialAuth.objects.get(user_id=pk).uid == SUB


def test_patch_user_active_false(scim):
    pk = scim('POST', 'Users', user_body()).body['id']
    body = {'schemas': [PATCH_SCHEMA], 'Operations': [{'op': 'replace', 'path': 'active', 'value': False}]}
    assert scim('PATCH', f'Users/{pk}', body).body['active'] is False


def test_unlinked_or_unknown_user_is_404(scim):
    local = get_user_model().objects.create_user('local')
    assert_error(scim('GET', f'Users/{local.pk}'), 404)
    assert_error(scim('PUT', 'Users/999999', user_body()), 404)
    assert_error(scim('DELETE', 'Users/abc'), 404)
    assert get_user_model().objects.get(pk=local.pk).is_active


@pytest.mark.parametrize(
    ('body', 'scim_type'),
    [
        ({'userName': 'ada'}, 'invalidSyntax'),  # no schemas
        (user_body(nickName='x'), 'invalidSyntax'),  # unknown attribute
        (user_body(username=''), 'invalidValue'),
        (user_body(username='a' * 151), 'invalidValue'),
        (user_body(active='maybe'), 'invalidValue'),
        (user_body(email='not an address'), 'invalidValue'),
        (user_body(sub=''), 'invalidValue'),
        ({**user_body(), 'name': {'givenName': 'x' * 151}}, 'invalidValue'),
        ({**user_body(), 'schemas': [USER_SCHEMA, 'urn:example:ext']}, 'invalidValue'),
    ],
)
def test_bad_user_bodies_are_400_and_change_nothing(scim, body, scim_type):
    assert_error(scim('POST', 'Users', body), 400, scim_type)
    assert not get_user_model().objects.exclude(username='authentik-scim').exists()


def test_body_that_is_not_json_is_400(scim, client):
    response = client.post(
        BASE + 'Users',
        data='{nope',
        content_type=SCIM,
        HTTP_AUTHORIZATION=make_token(get_user_model().objects.get(username='authentik-scim')),
    )
    assert response.status_code == 400
    assert json.loads(response.content)['scimType'] == 'invalidSyntax'


@pytest.mark.parametrize('expression', ['userName eq', 'nickName eq "x"', 'userName gt "a"', '((', 'userName eq "a" x'])
def test_bad_filters_are_400_invalid_filter(scim, expression):
    assert_error(scim('GET', 'Users?filter=' + quote(expression)), 400, 'invalidFilter')


def test_filters_on_external_id_and_pagination(scim):
    for number in range(5):
        scim('POST', 'Users', user_body(f'user{number}', sub=f'{number:064x}', email=None))
    found = scim('GET', f'Users?filter=externalId+eq+%22{3:064x}%22')
    assert [item['userName'] for item in found.body['Resources']] == ['user3']
    page = scim('GET', 'Users?startIndex=2&count=2')
    assert page.body['totalResults'] == 5 and page.body['startIndex'] == 2 and page.body['itemsPerPage'] == 2
    assert [item['userName'] for item in page.body['Resources']] == ['user1', 'user2']


# -- groups -------------------------------------------------------------------------------------------


@pytest.fixture
def admins_mapping():
    from users.models import Group

    operators = Group.objects.create(name='operators')
    rule = GroupMapping.objects.create(authentik_group='netbox-admins', superuser=True)
    rule.netbox_groups.add(operators)
    return operators


def test_group_push_maps_members_onto_netbox_groups_and_superuser(scim, admins_mapping):
    pk = scim('POST', 'Users', user_body()).body['id']
    created = scim('POST', 'Groups', group_body())
    assert created.status_code == 201 and created.body['id'] and created.body['members'] == []
    group_id = created.body['id']
    response = scim('PATCH', f'Groups/{group_id}', members('add', pk))
    assert response.status_code == 200
    user = get_user_model().objects.get(pk=pk)
    assert user.is_superuser and list(user.groups.values_list('name', flat=True)) == ['operators']
    link = UserSocialAuth.objects.get(user=user)
    assert link.extra_data['groups'] == ['netbox-admins'] and link.extra_data['groups_synced_at']

    from core.models import ObjectChange

    change = ObjectChange.objects.filter(changed_object_id=user.pk, changed_object_type__model='user').get()
    assert change.postchange_data == {'groups': ['operators'], 'is_superuser': True}
    assert change.user_name == 'authentik-scim'

    scim('PATCH', f'Groups/{group_id}', members('remove', pk))
    user.refresh_from_db()
    assert not user.is_superuser and not user.groups.exists()


def test_member_removal_by_filter_path(scim, admins_mapping):
    pk = scim('POST', 'Users', user_body()).body['id']
    group_id = scim('POST', 'Groups', group_body()).body['id']
    scim('PATCH', f'Groups/{group_id}', members('add', pk))
    body = {'schemas': [PATCH_SCHEMA], 'Operations': [{'op': 'remove', 'path': f'members[value eq "{pk}"]'}]}
    assert scim('PATCH', f'Groups/{group_id}', body).status_code == 200
    assert not get_user_model().objects.get(pk=pk).is_superuser


def test_authentiks_rename_without_path_or_schemas_is_accepted_and_re_evaluates(scim, admins_mapping):
    pk = scim('POST', 'Users', user_body()).body['id']
    group_id = scim('POST', 'Groups', group_body('staff')).body['id']
    scim('PATCH', f'Groups/{group_id}', members('add', pk))
    assert not get_user_model().objects.get(pk=pk).is_superuser
    rename = {
        'Operations': [
            {
                'op': 'replace',
                'value': {
                    'id': group_id,
                    'displayName': 'netbox-admins',
                    'schemas': [GROUP_SCHEMA],
                    'externalId': '9f1c6a43-7a0e-4d6f-9a39-1d1f0c1e2a10',
                },
            }
        ]
    }
    assert scim('PATCH', f'Groups/{group_id}', rename).status_code == 200
    assert scim('GET', f'Groups/{group_id}').body['displayName'] == 'netbox-admins'
    assert get_user_model().objects.get(pk=pk).is_superuser


def test_put_group_with_members_and_delete_group_re_evaluates(scim, admins_mapping):
    pk = scim('POST', 'Users', user_body()).body['id']
    group_id = scim('POST', 'Groups', group_body()).body['id']
    put = scim('PUT', f'Groups/{group_id}', {**group_body(), 'members': [{'value': pk}]})
    assert [member['value'] for member in put.body['members']] == [pk]
    assert get_user_model().objects.get(pk=pk).is_superuser
    assert scim('DELETE', f'Groups/{group_id}').status_code == 204
    assert not AuthentikGroup.objects.exists()
    assert not get_user_model().objects.get(pk=pk).is_superuser


def test_put_only_group_sync_as_authentik_sends_it_without_patch(scim, admins_mapping):
    """Authentik's default configuration (after a failed ServiceProviderConfig fetch): groups are PUT with their
    members, and `members` is left out once the group has none."""
    ada = scim('POST', 'Users', user_body()).body['id']
    bob = scim('POST', 'Users', user_body('bob', sub='b' * 64, email=None)).body['id']
    group_id = scim('POST', 'Groups', group_body()).body['id']

    scim('PUT', f'Groups/{group_id}', {**group_body(), 'id': group_id, 'members': [{'value': ada}, {'value': bob}]})
    assert {user.username for user in get_user_model().objects.filter(is_superuser=True)} >= {'ada', 'bob'}

    scim('PUT', f'Groups/{group_id}', {**group_body(), 'id': group_id, 'members': [{'value': bob}]})
    assert not get_user_model().objects.get(pk=ada).is_superuser
    assert get_user_model().objects.get(pk=bob).is_superuser

    put = scim('PUT', f'Groups/{group_id}', {**group_body(), 'id': group_id})
    assert put.status_code == 200 and put.body['members'] == []
    assert not get_user_model().objects.get(pk=bob).is_superuser
    assert not AuthentikGroup.objects.get().members.exists()


def test_a_group_pushed_again_after_its_connection_was_deleted_is_adopted_by_external_id(scim, admins_mapping):
    """Authentik never pushes a rename back to an earlier name; deleting the group's SCIM connection in
    Authentik makes it POST the group again, and NetBox adopts it by externalId with its members."""
    pk = scim('POST', 'Users', user_body()).body['id']
    group_id = scim('POST', 'Groups', group_body('netbox-admins')).body['id']
    scim('PATCH', f'Groups/{group_id}', members('add', pk))
    rename = {'Operations': [{'op': 'replace', 'value': {**group_body('staff'), 'id': group_id}}]}
    scim('PATCH', f'Groups/{group_id}', rename)
    assert not get_user_model().objects.get(pk=pk).is_superuser

    again = scim('POST', 'Groups', group_body('netbox-admins'))

    assert again.status_code == 201 and again.body['id'] == group_id
    assert again.body['displayName'] == 'netbox-admins'
    assert [member['value'] for member in again.body['members']] == [pk]
    assert AuthentikGroup.objects.count() == 1
    assert get_user_model().objects.get(pk=pk).is_superuser


def test_authentiks_one_operation_per_member_patch_costs_time_linear_in_the_operations():
    """Authentik sends one `add` operation per member; 10,000 of them once kept a worker busy for 27 s."""
    from netbox_authentik.scim.patch import apply_patch
    from netbox_authentik.scim.protocol import GROUP_NAMES

    count = 20000
    group = {'displayName': 'g', 'members': [{'value': str(n)} for n in range(count)]}
    operations = [('add', 'members', [{'value': str(count + n)}]) for n in range(count)]
    operations += [('remove', 'members', [{'value': str(n)}]) for n in range(0, count, 2)]

    started = time.perf_counter()
    patched = apply_patch(group, operations, GROUP_NAMES, {'members'})

    assert time.perf_counter() - started < 2.0
    assert len(patched['members']) == count + count // 2
    assert patched['members'][0] == {'value': '1'} and patched['members'][-1] == {'value': str(2 * count - 1)}


def test_groups_filter_on_display_name(scim):
    scim('POST', 'Groups', group_body('a', 'id-a'))
    scim('POST', 'Groups', group_body('b', 'id-b'))
    found = scim('GET', 'Groups?filter=displayName+eq+%22b%22')
    assert [item['displayName'] for item in found.body['Resources']] == ['b']


@pytest.mark.parametrize(
    'operations',
    [
        [{'op': 'move', 'path': 'members', 'value': []}],
        [{'op': 'add', 'path': 'owner', 'value': 'x'}],
        [{'op': 'add', 'path': 'members', 'value': 'not a list'}],
        [{'op': 'add', 'path': 'members', 'value': [{'value': '999999'}]}],
        [{'op': 'remove', 'path': 'members[display co "x"]'}],
        [{'op': 'add', 'path': 'displayName', 'value': 'x' * 256}],
        [],
    ],
)
def test_bad_patches_are_400_and_change_nothing(scim, operations):
    group_id = scim('POST', 'Groups', group_body()).body['id']
    response = scim('PATCH', f'Groups/{group_id}', {'schemas': [PATCH_SCHEMA], 'Operations': operations})
    assert response.status_code == 400, response.body
    assert response.body['schemas'] == [ERROR_SCHEMA] and response.body['scimType']
    assert AuthentikGroup.objects.get().display_name == 'netbox-admins'


def test_a_failed_request_changes_nothing(scim, admins_mapping):
    pk = scim('POST', 'Users', user_body()).body['id']
    group_id = scim('POST', 'Groups', group_body()).body['id']
    # The first operation is valid, the second is not: the whole PATCH is refused.
    body = {
        'schemas': [PATCH_SCHEMA],
        'Operations': [
            {'op': 'add', 'path': 'members', 'value': [{'value': pk}]},
            {'op': 'add', 'path': 'nonsense', 'value': 1},
        ],
    }
    assert_error(scim('PATCH', f'Groups/{group_id}', body), 400)
    assert not AuthentikGroup.objects.get().members.exists()
    assert not get_user_model().objects.get(pk=pk).is_superuser


# -- who may provision --------------------------------------------------------------------------------


def test_no_token_is_401(scim):
    response = scim('GET', 'Users', authorization=None)
    assert_error(response, 401)
    assert response['WWW-Authenticate'].startswith('Bearer')


def test_bad_token_is_401(scim):
    assert_error(scim('GET', 'Users', authorization='Bearer nbt_nokey.nosecret'), 401)


def test_session_without_token_is_401(scim, client, provisioner):
    client.force_login(provisioner)
    assert_error(scim('GET', 'Users', authorization=None), 401)


@pytest.mark.parametrize(
    'token_fields',
    [
        {'enabled': False},
        {'allowed_ips': ['192.0.2.0/24']},
    ],
)
def test_disabled_or_ip_restricted_tokens_are_401(scim, provisioner, token_fields):
    assert_error(scim('GET', 'Users', authorization=make_token(provisioner, **token_fields)), 401)


def test_expired_token_is_401(scim, provisioner):
    from users.models import Token

    authorization = make_token(provisioner)
    Token.objects.filter(user=provisioner).update(expires=timezone.now() - timedelta(minutes=1))
    assert_error(scim('GET', 'Users', authorization=authorization), 401)


def test_inactive_token_user_is_401(scim, provisioner):
    authorization = make_token(provisioner)
    provisioner.is_active = False
    provisioner.save()
    assert_error(scim('GET', 'Users', authorization=authorization), 401)


def test_read_only_token_reads_but_never_writes(scim, provisioner):
    authorization = make_token(provisioner, write_enabled=False)
    assert scim('GET', 'Users', authorization=authorization).status_code == 200
    assert_error(scim('POST', 'Users', user_body(), authorization=authorization), 403)
    assert not get_user_model().objects.filter(username='ada').exists()


def test_user_without_provision_permission_is_403(scim):
    ordinary = get_user_model().objects.create_user('ordinary')
    authorization = make_token(ordinary)
    refused = scim('GET', 'Users', authorization=authorization)
    assert_error(refused, 403)
    assert_error(scim('POST', 'Groups', group_body(), authorization=authorization), 403)
    assert not AuthentikGroup.objects.exists()
    # The reason is the missing permission, not a constraint the user does not have either.
    assert refused.body['detail'].startswith('The token must belong to a superuser or to a user with the provision')


def test_provision_permission_is_a_netbox_object_permission(scim):
    from core.models import ObjectType
    from users.models import ObjectPermission

    holder = get_user_model().objects.create_user('provisioner')
    permission = ObjectPermission.objects.create(name='SCIM', actions=['provision'])
    permission.object_types.set([ObjectType.objects.get_for_model(AuthentikGroup)])
    permission.users.add(holder)
    assert scim('POST', 'Users', user_body(), authorization=make_token(holder)).status_code == 201


# -- cost ---------------------------------------------------------------------------------------------


def queries_for(call):
    with CaptureQueriesContext(connection) as queries:
        call()
    return len(queries)


def test_queries_per_request_do_not_grow_with_the_number_of_users(scim, admins_mapping):
    def sync(count, prefix):
        ids = [
            scim('POST', 'Users', user_body(f'{prefix}{n}', sub=f'{prefix}{n:060x}', email=None)).body['id']
            for n in range(count)
        ]
        group_id = scim('POST', 'Groups', group_body(f'g{prefix}', f'ext-{prefix}')).body['id']
        scim('PATCH', f'Groups/{group_id}', members('add', *ids[:-1]))
        return ids, group_id

    def measure(count, prefix):
        ids, group_id = sync(count, prefix)
        return (
            queries_for(lambda: scim('POST', 'Users', user_body(f'{prefix}new', sub=f'{prefix}new'.ljust(64, '0')))),
            queries_for(lambda: scim('PATCH', f'Groups/{group_id}', members('add', ids[-1]))),
            queries_for(lambda: scim('GET', f'Users?filter=userName+eq+%22{prefix}5%22')),
            queries_for(lambda: scim('GET', 'Users?count=10')),
        )

    assert measure(10, 'a') == measure(100, 'b')


def test_a_full_sync_that_changes_nothing_writes_nothing(scim):
    pk = scim('POST', 'Users', user_body()).body['id']
    before = UserSocialAuth.objects.get(user_id=pk).extra_data

    with CaptureQueriesContext(connection) as queries:
        response = scim('PUT', f'Users/{pk}', user_body(id=pk))

    assert response.status_code == 200 and response.body['userName'] == 'ada'
    writes = [query['sql'] for query in queries if query['sql'].split()[0] in ('INSERT', 'UPDATE', 'DELETE')]
    assert writes == []
    assert UserSocialAuth.objects.get(user_id=pk).extra_data == before


# -- pages --------------------------------------------------------------------------------------------


def test_link_pages_show_provisioned_by_scim_and_the_last_update(scim, client, provisioner):
    pk = scim('POST', 'Users', user_body()).body['id']
    link = UserSocialAuth.objects.get(user_id=pk)
    client.force_login(provisioner)
    listing = client.get('/plugins/authentik/associations/').content.decode()
    assert 'Provisioned by SCIM' in listing and 'Last SCIM update' in listing
    detail = client.get(f'/plugins/authentik/associations/{link.pk}/').content.decode()
    assert 'Provisioned by SCIM' in detail and 'Last SCIM update' in detail
