"""What SCIM answers hold, value by value: what Authentik reads back and compares after each request.

Authentik stores the answer's `id`, and on a full sync compares what it reads with what it would send; an
attribute rendered wrong (an email not primary, a missing externalId, a wrong lastModified) makes it send the
change again, every sync.
"""

import pytest
from django.contrib.auth import get_user_model
from social_django.models import UserSocialAuth

from netbox_authentik.models import AuthentikGroup

from .test_scim import PATCH_SCHEMA, SUB, group_body, provisioner, scim, user_body

pytestmark = pytest.mark.django_db
# The SCIM client and its token's user, the fixtures of tests/test_scim.py, requested here by name.
SHARED_FIXTURES = (scim, provisioner)


def test_a_user_answer_holds_its_external_id_and_primary_email(scim):
    created = scim('POST', 'Users', user_body()).body
    replaced = scim('PUT', f'Users/{created["id"]}', user_body(id=created['id'], displayName='Ada L.')).body
    read = scim('GET', f'Users/{created["id"]}').body

    for body in (created, replaced, read):
        assert body['externalId'] == SUB
        assert body['emails'] == [{'value': 'ada@example.com', 'type': 'other', 'primary': True}]


def test_last_modified_is_the_last_scim_change_or_else_when_the_user_joined(scim):
    user = get_user_model().objects.create_user('ada')
    UserSocialAuth.objects.create(user=user, provider='authentik', uid=SUB, extra_data={})

    never_pushed = scim('GET', f'Users/{user.pk}').body
    assert never_pushed['meta']['lastModified'] == user.date_joined.isoformat()

    scim('PUT', f'Users/{user.pk}', user_body(id=str(user.pk)))
    pushed = scim('GET', f'Users/{user.pk}').body
    link = UserSocialAuth.objects.get(user=user)
    assert pushed['meta']['lastModified'] == link.extra_data['scim_updated_at'] != user.date_joined.isoformat()


def test_an_adopted_user_is_answered_with_the_authentik_groups_it_is_in(scim):
    ada = get_user_model().objects.create_user('ada')
    UserSocialAuth.objects.create(user=ada, provider='authentik', uid=SUB, extra_data={})
    ops = AuthentikGroup.objects.create(display_name='ops', external_id='ext-ops')
    ops.members.add(ada)

    body = scim('POST', 'Users', user_body()).body

    assert body['id'] == str(ada.pk)
    assert body['groups'] == [{'value': str(ops.pk), 'display': 'ops'}]


def test_a_new_user_is_answered_in_no_group(scim):
    assert scim('POST', 'Users', user_body()).body['groups'] == []


def test_a_group_answer_holds_its_external_id_only_when_it_has_one(scim):
    pushed = scim('POST', 'Groups', group_body('ops', 'ext-ops')).body
    assert pushed['externalId'] == 'ext-ops'
    assert scim('GET', f'Groups/{pushed["id"]}').body['externalId'] == 'ext-ops'

    bare = AuthentikGroup.objects.create(display_name='bare')
    assert 'externalId' not in scim('GET', f'Groups/{bare.pk}').body


def test_a_user_linked_to_two_identities_is_listed_once_with_its_first_link(scim):
    """`netbox authentik_link --allow-second-identity` can give one user two links: /Users must still answer."""
    ada = get_user_model().objects.create_user('ada')
    first = UserSocialAuth.objects.create(user=ada, provider='authentik', uid=SUB, extra_data={})
    UserSocialAuth.objects.create(user=ada, provider='authentik', uid='b' * 64, extra_data={})

    listed = scim('GET', 'Users')

    assert listed.status_code == 200, listed.body
    assert [(user['id'], user['externalId']) for user in listed.body['Resources']] == [(str(ada.pk), first.uid)]


def test_a_group_posted_with_members_has_them(scim):
    ada = scim('POST', 'Users', user_body()).body['id']
    body = {**group_body('ops', 'ext-ops'), 'members': [{'value': ada}]}

    pushed = scim('POST', 'Groups', body)

    assert pushed.status_code == 201
    assert [member['value'] for member in pushed.body['members']] == [ada]
    assert list(AuthentikGroup.objects.get(external_id='ext-ops').members.values_list('pk', flat=True)) == [int(ada)]


@pytest.mark.parametrize(
    'unknown, shown',
    [
        (10, 'No SCIM user with id(s) 900000, 900001, 900002, 900003, 900004, 900005, 900006, 900007, 900008, 900009'),
        (
            11,
            'No SCIM user with id(s) 900000, 900001, 900002, 900003, 900004, 900005, 900006, 900007, 900008, 900009 '
            'and 1 more',
        ),
        (
            12,
            'No SCIM user with id(s) 900000, 900001, 900002, 900003, 900004, 900005, 900006, 900007, 900008, 900009 '
            'and 2 more',
        ),
    ],
)
def test_unknown_members_are_named_up_to_ten(scim, unknown, shown):
    body = {**group_body('ops', 'ext-ops'), 'members': [{'value': str(900000 + n)} for n in range(unknown)]}

    refused = scim('POST', 'Groups', body)

    assert refused.status_code == 400
    assert refused.body['detail'] == shown
    assert not AuthentikGroup.objects.filter(external_id='ext-ops').exists()


def test_an_unknown_member_id_is_named_by_its_first_forty_characters(scim):
    long_id = '9' * 30 + 'x' * 20
    body = {**group_body('ops', 'ext-ops'), 'members': [{'value': long_id}]}

    assert scim('POST', 'Groups', body).body['detail'] == f'No SCIM user with id(s) {long_id[:40]}'


def test_a_group_put_stores_a_new_external_id_and_an_unchanged_one_writes_nothing(scim):
    pushed = scim('POST', 'Groups', group_body('ops', 'ext-ops')).body
    group = AuthentikGroup.objects.get(pk=pushed['id'])

    scim('PUT', f'Groups/{pushed["id"]}', {**group_body('ops', 'ext-ops'), 'members': []})
    unchanged = AuthentikGroup.objects.get(pk=group.pk)
    assert unchanged.last_updated == group.last_updated

    scim('PUT', f'Groups/{pushed["id"]}', {**group_body('ops', 'ext-ops-2'), 'members': []})
    assert AuthentikGroup.objects.get(pk=group.pk).external_id == 'ext-ops-2'


@pytest.mark.parametrize('accept', ['text/html', 'application/xml', 'application/scim+json'])
def test_any_accept_header_gets_scim_json(scim, accept):
    # Authentik sends Accept: application/scim+json; a client asking for anything else still gets SCIM JSON.
    response = scim('GET', 'ServiceProviderConfig', HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response['Content-Type'].startswith('application/scim+json')
    assert response.body['schemas'] == ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig']


def test_each_answer_says_where_the_resource_lives(scim):
    ada = scim('POST', 'Users', user_body()).body
    ops = scim('POST', 'Groups', {**group_body('ops', 'ext-ops'), 'members': [{'value': ada['id']}]}).body

    base = 'http://testserver/plugins/authentik/scim/v2/'
    assert ada['meta']['location'] == f'{base}Users/{ada["id"]}'
    assert ops['meta']['location'] == f'{base}Groups/{ops["id"]}'
    assert ops['members'][0]['$ref'] == f'{base}Users/{ada["id"]}'


@pytest.mark.parametrize('path, ids', [('ResourceTypes', ['User', 'Group']), ('Schemas', None)])
def test_the_discovery_lists_are_whole_lists_from_the_first_item(scim, path, ids):
    listed = scim('GET', path).body

    assert (listed['startIndex'], listed['totalResults'], listed['itemsPerPage']) == (1, 2, 2)
    if ids:
        assert [document['id'] for document in listed['Resources']] == ids
    for document in listed['Resources']:
        assert scim('GET', f'{path}/{document["id"]}').body == document
    assert scim('GET', f'{path}/NoSuchThing').status_code == 404


@pytest.mark.parametrize('method', ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])
def test_a_path_scim_does_not_have_is_a_scim_404(scim, method):
    response = scim(method, 'Bulk', {} if method in ('POST', 'PUT', 'PATCH') else None)

    assert response.status_code == 404
    assert response.body['schemas'] == ['urn:ietf:params:scim:api:messages:2.0:Error']
    assert response.body['detail'] == 'No SCIM endpoint Bulk'


# -- PATCH paths: sub-attributes, and what cannot change ---------------------------------------------------


def patch_user(scim, pk, *operations):
    return scim('PATCH', f'Users/{pk}', {'schemas': [PATCH_SCHEMA], 'Operations': list(operations)})


def test_a_patch_of_one_sub_attribute_changes_only_it(scim):
    pk = scim('POST', 'Users', user_body()).body['id']

    assert patch_user(scim, pk, {'op': 'replace', 'path': 'name.givenName', 'value': 'Augusta'}).status_code == 200
    ada = get_user_model().objects.get(pk=pk)
    assert (ada.first_name, ada.last_name) == ('Augusta', 'Lovelace')

    assert patch_user(scim, pk, {'op': 'remove', 'path': 'name.familyName'}).status_code == 200
    ada.refresh_from_db()
    assert (ada.first_name, ada.last_name) == ('Augusta', '')


def test_a_sub_attribute_can_be_added_to_a_user_without_a_name(scim):
    pk = scim('POST', 'Users', {**user_body(), 'name': {}}).body['id']

    assert patch_user(scim, pk, {'op': 'add', 'path': 'name.familyName', 'value': 'King'}).status_code == 200
    assert get_user_model().objects.get(pk=pk).last_name == 'King'


@pytest.mark.parametrize(
    'operation, scim_type, detail',
    [
        ({'op': 'replace', 'path': 'active.value', 'value': False}, 'invalidPath', "'active' has no sub-attributes"),
        ({'op': 'replace', 'path': 'urn:example:x', 'value': 1}, 'invalidPath', "Unknown path 'urn:example:x'"),
        ({'op': 'replace', 'path': 'id', 'value': '999999'}, 'mutability', "'id' cannot be changed"),
        ({'op': 'remove', 'path': 'id'}, 'mutability', "'id' cannot be changed"),
    ],
)
def test_a_patch_that_cannot_apply_is_a_400_and_changes_nothing(scim, operation, scim_type, detail):
    pk = scim('POST', 'Users', user_body()).body['id']
    before = get_user_model().objects.filter(pk=pk).values().get()

    refused = patch_user(scim, pk, operation, {'op': 'replace', 'path': 'active', 'value': False})

    assert (refused.status_code, refused.body['scimType'], refused.body['detail']) == (400, scim_type, detail)
    assert get_user_model().objects.filter(pk=pk).values().get() == before


def test_a_patch_repeating_the_users_own_id_is_accepted(scim):
    pk = scim('POST', 'Users', user_body()).body['id']

    assert patch_user(scim, pk, {'op': 'replace', 'path': 'id', 'value': pk}).status_code == 200


@pytest.mark.parametrize(
    'operation, scim_type, detail',
    [
        ({'op': 'replace', 'path': '', 'value': 1}, 'invalidPath', 'path must be a non-empty string'),
        ({'op': 'replace', 'path': '   ', 'value': 1}, 'invalidPath', 'path must be a non-empty string'),
        ({'op': 'replace', 'path': 7, 'value': 1}, 'invalidPath', 'path must be a non-empty string'),
        ({'op': 'remove'}, 'noTarget', 'A remove operation needs a path'),
    ],
)
def test_a_patch_operation_with_a_bad_path_is_a_400(scim, operation, scim_type, detail):
    pk = scim('POST', 'Users', user_body()).body['id']

    refused = patch_user(scim, pk, operation)

    assert (refused.status_code, refused.body['scimType'], refused.body['detail']) == (400, scim_type, detail)


def test_add_merges_an_object_and_replace_replaces_it(scim):
    pk = scim('POST', 'Users', user_body()).body['id']

    patch_user(scim, pk, {'op': 'add', 'path': 'name', 'value': {'givenName': 'Augusta'}})
    ada = get_user_model().objects.get(pk=pk)
    assert (ada.first_name, ada.last_name) == ('Augusta', 'Lovelace')

    patch_user(scim, pk, {'op': 'replace', 'path': 'name', 'value': {'givenName': 'Ada'}})
    ada.refresh_from_db()
    assert (ada.first_name, ada.last_name) == ('Ada', '')


def test_a_patch_removing_a_groups_external_id_removes_it(scim):
    pushed = scim('POST', 'Groups', group_body('ops', 'ext-ops')).body

    removed = scim(
        'PATCH',
        f'Groups/{pushed["id"]}',
        {'schemas': [PATCH_SCHEMA], 'Operations': [{'op': 'remove', 'path': 'externalId'}]},
    )

    assert removed.status_code == 200
    assert AuthentikGroup.objects.get(pk=pushed['id']).external_id is None


def patch_group(scim, pk, *operations):
    return scim('PATCH', f'Groups/{pk}', {'schemas': [PATCH_SCHEMA], 'Operations': list(operations)})


@pytest.fixture
def ops_with_ada_and_bob(scim):
    ada = scim('POST', 'Users', user_body()).body['id']
    bob = scim('POST', 'Users', user_body('bob', sub='b' * 64, email='bob@example.com')).body['id']
    body = {**group_body('ops', 'ext-ops'), 'members': [{'value': ada}, {'value': bob}]}
    return scim('POST', 'Groups', body).body['id'], ada, bob


def member_ids(group_pk):
    return sorted(str(pk) for pk in AuthentikGroup.objects.get(pk=group_pk).members.values_list('pk', flat=True))


def test_remove_members_without_a_value_removes_them_all(scim, ops_with_ada_and_bob):
    group, _ada, _bob = ops_with_ada_and_bob

    assert patch_group(scim, group, {'op': 'remove', 'path': 'members'}).status_code == 200

    assert member_ids(group) == []


def test_replace_members_leaves_only_those_given(scim, ops_with_ada_and_bob):
    group, _ada, bob = ops_with_ada_and_bob

    assert patch_group(scim, group, {'op': 'replace', 'path': 'members', 'value': [{'value': bob}]}).status_code == 200

    assert member_ids(group) == [bob]


@pytest.mark.parametrize(
    'operation, scim_type, detail',
    [
        (
            {'op': 'add', 'path': 'members[value eq "1"]', 'value': [{'value': '1'}]},
            'invalidPath',
            'A filter in the path of add is not supported',
        ),
        (
            {'op': 'add', 'path': 'members', 'value': [{'display': 'bob'}]},
            'invalidValue',
            "'members' takes a list of objects with a 'value'",
        ),
        (
            {'op': 'add', 'path': 'members', 'value': ['bob']},
            'invalidValue',
            "'members' takes a list of objects with a 'value'",
        ),
        (
            {'op': 'add', 'path': 'members', 'value': 'bob'},
            'invalidValue',
            "'members' takes a list of objects with a 'value'",
        ),
    ],
)
def test_a_members_patch_that_cannot_apply_is_a_400_and_changes_nothing(
    scim, ops_with_ada_and_bob, operation, scim_type, detail
):
    group, ada, bob = ops_with_ada_and_bob

    refused = patch_group(scim, group, operation)

    assert (refused.status_code, refused.body.get('scimType'), refused.body['detail']) == (400, scim_type, detail)
    assert member_ids(group) == sorted([ada, bob])


# -- what a User body may hold ---------------------------------------------------------------------------


def test_the_primary_email_is_the_one_stored_wherever_it_stands(scim):
    emails = [
        {'value': 'old@example.com', 'type': 'home'},
        {'value': 'ada@example.com', 'type': 'work', 'primary': True},
    ]
    pk = scim('POST', 'Users', {**user_body(), 'emails': emails}).body['id']
    assert get_user_model().objects.get(pk=pk).email == 'ada@example.com'

    # Without a primary, the first is taken.
    scim('PUT', f'Users/{pk}', {**user_body(id=pk), 'emails': [{'value': 'first@example.com'}, emails[0]]})
    assert get_user_model().objects.get(pk=pk).email == 'first@example.com'


@pytest.mark.parametrize('sent, active', [('True', True), ('false', False), ('FALSE', False), (True, True)])
def test_active_sent_as_a_string_is_read_as_the_boolean_it_names(scim, sent, active):
    pk = scim('POST', 'Users', user_body(active=sent)).body['id']

    assert get_user_model().objects.get(pk=pk).is_active is active


def test_a_username_of_exactly_the_length_netbox_allows_is_stored(scim):
    longest = get_user_model()._meta.get_field('username').max_length

    assert scim('POST', 'Users', user_body('a' * longest)).status_code == 201
    refused = scim('POST', 'Users', user_body('b' * (longest + 1), sub='b' * 64))
    assert refused.body['detail'] == f"'userName' is longer than NetBox allows ({longest} characters)"


@pytest.mark.parametrize(
    'change, detail',
    [
        ({'userName': None}, "'userName' is required"),
        ({'emails': ['ada@example.com']}, "'emails' must be a list of objects"),
        ({'emails': 'ada@example.com'}, "'emails' must be a list of objects"),
    ],
)
def test_a_user_body_that_cannot_be_read_says_why(scim, change, detail):
    refused = scim('POST', 'Users', {**user_body(), **change})

    assert (refused.status_code, refused.body['detail']) == (400, detail)
    assert (
        not get_user_model().objects.exists() or not get_user_model().objects.filter(email='ada@example.com').exists()
    )


def test_a_user_sent_without_active_is_active(scim):
    body = user_body()
    del body['active']

    pk = scim('POST', 'Users', body).body['id']

    assert get_user_model().objects.get(pk=pk).is_active is True


def test_an_external_id_of_exactly_the_length_a_link_holds_is_stored(scim):
    longest = UserSocialAuth._meta.get_field('uid').max_length

    assert scim('POST', 'Users', user_body(sub='a' * longest)).status_code == 201
    refused = scim('POST', 'Users', user_body('bob', sub='b' * (longest + 1), email='bob@example.com'))
    assert refused.body['detail'] == f"'externalId' is longer than NetBox allows ({longest} characters)"


# -- what a Group body may hold --------------------------------------------------------------------------


@pytest.mark.parametrize(
    'change, status, scim_type, detail',
    [
        ({'owner': 'x'}, 400, 'invalidSyntax', 'Unknown attribute(s): owner'),
        ({'displayName': None}, 400, 'invalidValue', "'displayName' is required"),
        ({'externalId': 'e' * 256}, 400, 'invalidValue', "'externalId' must be a string of at most 255 characters"),
        ({'externalId': 7}, 400, 'invalidValue', "'externalId' must be a string of at most 255 characters"),
        ({'members': [{'display': 'ada'}]}, 400, 'invalidValue', "'members' must be a list of objects with a 'value'"),
        ({'members': ['1']}, 400, 'invalidValue', "'members' must be a list of objects with a 'value'"),
        ({'members': '1'}, 400, 'invalidValue', "'members' must be a list of objects with a 'value'"),
    ],
)
def test_a_group_body_that_cannot_be_read_says_why(scim, change, status, scim_type, detail):
    refused = scim('POST', 'Groups', {**group_body('ops', 'ext-ops'), **change})

    assert (refused.status_code, refused.body.get('scimType'), refused.body['detail']) == (status, scim_type, detail)
    assert not AuthentikGroup.objects.exists()


def test_a_group_external_id_of_exactly_255_characters_is_stored(scim):
    assert scim('POST', 'Groups', group_body('ops', 'e' * 255)).status_code == 201
    assert AuthentikGroup.objects.get().external_id == 'e' * 255


def test_schema_attributes_say_their_sub_attributes_and_reference_types(scim):
    from netbox_authentik.scim.protocol import _attribute, _names

    user_schema = scim('GET', 'Schemas/urn:ietf:params:scim:schemas:core:2.0:User').body
    name = next(attribute for attribute in user_schema['attributes'] if attribute['name'] == 'name')
    assert [sub['name'] for sub in name['subAttributes']] == ['formatted', 'familyName', 'givenName']
    group_schema = scim('GET', 'Schemas/urn:ietf:params:scim:schemas:core:2.0:Group').body
    members = next(attribute for attribute in group_schema['attributes'] if attribute['name'] == 'members')
    ref = next(sub for sub in members['subAttributes'] if sub['name'] == '$ref')
    assert ref['referenceTypes'] == ['User']

    # The schemas are built once, at import: the builder itself, called again.
    plain = _attribute('title')
    assert plain['description'] == 'title' and 'subAttributes' not in plain and 'referenceTypes' not in plain
    built = _attribute('owner', 'reference', sub=[plain], description='Who owns it.')
    assert (built['description'], built['subAttributes'], built['referenceTypes']) == (
        'Who owns it.',
        [plain],
        ['User'],
    )
    assert _names([built, _attribute('displayName')]) == {'owner': 'owner', 'displayname': 'displayName'}


def test_count_zero_answers_the_total_alone(scim):
    scim('POST', 'Users', user_body())

    for count in ('0', '-5'):
        listed = scim('GET', f'Users?count={count}').body
        assert (listed['totalResults'], listed['itemsPerPage'], listed['Resources']) == (1, 0, [])


@pytest.mark.parametrize(
    'query, keys',
    [
        ('attributes=userName', {'id', 'schemas', 'userName'}),
        ('attributes=name.givenName', {'id', 'schemas', 'name'}),
        ('attributes=userName,active', {'id', 'schemas', 'userName', 'active'}),
        (
            'excludedAttributes=emails,meta',
            {'id', 'schemas', 'userName', 'name', 'displayName', 'active', 'groups', 'externalId'},
        ),
        ('excludedAttributes=id,schemas', None),  # id and schemas always stay
    ],
)
def test_attributes_and_excluded_attributes_choose_what_is_answered(scim, query, keys):
    pk = scim('POST', 'Users', user_body()).body['id']
    everything = set(scim('GET', f'Users/{pk}').body)

    answered = set(scim('GET', f'Users/{pk}?{query}').body)

    assert answered == (keys if keys is not None else everything)
