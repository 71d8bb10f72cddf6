"""Crafted input to every SCIM endpoint: each gets a SCIM error (or an empty answer), never a 500, and changes nothing.

Families: ids a Python `isdigit()` accepts but NetBox cannot use (non-ASCII digits, thousands of digits), page
bounds beyond PostgreSQL's, filters large or deep enough to exhaust a recursion, text PostgreSQL cannot store
(NUL, lone surrogates), methods a path does not offer, bodies too large or too deep, too many PATCH operations.
"""

import json
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from social_django.models import UserSocialAuth

from netbox_authentik.models import AuthentikGroup
from netbox_authentik.scim.filters import MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, MAX_FILTER_TERMS, filter_q
from netbox_authentik.scim.protocol import MAX_PATCH_OPERATIONS, ScimError
from netbox_authentik.scim.provisioning import USER_FILTERS

from . import test_scim
from .test_scim import BASE, ERROR_SCHEMA, PATCH_SCHEMA, SCIM, group_body, make_token, user_body

# The SCIM client and its token's user, as test_scim.py defines them.
scim, provisioner = test_scim.scim, test_scim.provisioner

pytestmark = pytest.mark.django_db

SUPERSCRIPT_TWO = '²'  # str.isdigit() is True, int() refuses it
ARABIC_THREE = '٣'  # int() reads it as 3: it must never name row 3
HUGE_ID = '9' * 5000
BIGINT_PLUS_ONE = str(2**63)
MANY_ORS = ' or '.join(['userName eq "x"'] * 700)
DEEP_BRACKETS = '(' * 1200 + 'userName eq "x"' + ')' * 1200
DEEP_NOTS = 'not (' * 300 + 'userName eq "x"' + ')' * 300


def patch(*operations):
    return {'schemas': [PATCH_SCHEMA], 'Operations': list(operations)}


def add_members(*values):
    return patch({'op': 'add', 'path': 'members', 'value': [{'value': value} for value in values]})


def with_name(**name):
    body = user_body('grace', sub='f' * 64)
    body['name'] = {**body['name'], **name}
    return body


# case -> (method, path with {user} and {group} for existing ids, body, status, scimType)
REFUSED = {
    # ids
    'user_id_superscript': ('GET', 'Users/' + SUPERSCRIPT_TWO, None, 404, None),
    'user_id_arabic_digit': ('GET', 'Users/' + ARABIC_THREE, None, 404, None),
    'user_id_5000_digits': ('GET', 'Users/' + HUGE_ID, None, 404, None),
    'user_id_beyond_bigint': ('GET', 'Users/' + BIGINT_PLUS_ONE, None, 404, None),
    'put_user_superscript': ('PUT', 'Users/' + SUPERSCRIPT_TWO, user_body(), 404, None),
    'patch_user_5000_digits': (
        'PATCH',
        'Users/' + HUGE_ID,
        patch({'op': 'replace', 'path': 'active', 'value': False}),
        404,
        None,
    ),
    'delete_user_superscript': ('DELETE', 'Users/' + SUPERSCRIPT_TWO, None, 404, None),
    'group_id_superscript': ('GET', 'Groups/' + SUPERSCRIPT_TWO, None, 404, None),
    'delete_group_5000_digits': ('DELETE', 'Groups/' + HUGE_ID, None, 404, None),
    'member_superscript': ('PATCH', 'Groups/{group}', add_members(SUPERSCRIPT_TWO), 400, 'invalidValue'),
    'member_5000_digits': ('PATCH', 'Groups/{group}', add_members(HUGE_ID), 400, 'invalidValue'),
    'member_beyond_bigint': ('PATCH', 'Groups/{group}', add_members(BIGINT_PLUS_ONE), 400, 'invalidValue'),
    'member_not_a_string': ('PATCH', 'Groups/{group}', add_members(['1']), 400, 'invalidValue'),
    'put_group_member_superscript': (
        'PUT',
        'Groups/{group}',
        {**group_body(), 'members': [{'value': SUPERSCRIPT_TWO}]},
        400,
        'invalidValue',
    ),
    # pages
    'start_index_superscript': ('GET', 'Users?startIndex=' + SUPERSCRIPT_TWO, None, 400, 'invalidValue'),
    'count_5000_digits': ('GET', 'Users?count=' + HUGE_ID, None, 400, 'invalidValue'),
    # filters
    'filter_700_ors': ('GET', 'Users?filter=' + quote(MANY_ORS), None, 400, 'invalidFilter'),
    'filter_1200_brackets': ('GET', 'Users?filter=' + quote(DEEP_BRACKETS), None, 400, 'invalidFilter'),
    'filter_300_nots': ('GET', 'Groups?filter=' + quote(DEEP_NOTS), None, 400, 'invalidFilter'),
    'filter_25_terms': (
        'GET',
        'Users?filter=' + quote(' or '.join(['userName eq "x"'] * 25)),
        None,
        400,
        'invalidFilter',
    ),
    'filter_nul': ('GET', 'Users?filter=' + quote('userName eq "a\x00b"'), None, 400, 'invalidFilter'),
    'group_filter_nul': ('GET', 'Groups?filter=' + quote('displayName eq "\x00"'), None, 400, 'invalidFilter'),
    # text PostgreSQL cannot store
    'user_name_nul': ('POST', 'Users', user_body('gr\x00ace', sub='f' * 64), 400, 'invalidValue'),
    'given_name_nul': ('POST', 'Users', with_name(givenName='Gr\x00ace'), 400, 'invalidValue'),
    'display_name_nul': (
        'POST',
        'Users',
        {**user_body('grace', sub='f' * 64), 'displayName': '\x00'},
        400,
        'invalidValue',
    ),
    'external_id_nul': ('POST', 'Users', user_body('grace', sub='f' * 63 + '\x00'), 400, 'invalidValue'),
    'email_nul': ('POST', 'Users', user_body('grace', sub='f' * 64, email='g\x00@example.com'), 400, 'invalidValue'),
    'key_nul': ('POST', 'Users', {**user_body('grace', sub='f' * 64), 'x\x00': 1}, 400, 'invalidValue'),
    'user_name_lone_surrogate': ('POST', 'Users', user_body('gr\ud800ace', sub='f' * 64), 400, 'invalidValue'),
    'put_user_nul': ('PUT', 'Users/{user}', user_body('ada\x00'), 400, 'invalidValue'),
    'patch_user_nul': (
        'PATCH',
        'Users/{user}',
        patch({'op': 'replace', 'path': 'userName', 'value': 'a\x00'}),
        400,
        'invalidValue',
    ),
    'group_display_name_nul': ('POST', 'Groups', group_body('ops\x00', 'ext-nul'), 400, 'invalidValue'),
    'group_external_id_nul': ('POST', 'Groups', group_body('ops', 'ext\x00'), 400, 'invalidValue'),
    'group_rename_nul': (
        'PATCH',
        'Groups/{group}',
        patch({'op': 'replace', 'value': {'displayName': 'ops\x00'}}),
        400,
        'invalidValue',
    ),
    'member_value_nul': ('PATCH', 'Groups/{group}', add_members('1\x00'), 400, 'invalidValue'),
    # methods a path does not offer
    'post_to_a_user': ('POST', 'Users/{user}', user_body(), 405, None),
    'post_to_a_group': ('POST', 'Groups/{group}', group_body(), 405, None),
    'put_to_users': ('PUT', 'Users', user_body(), 405, None),
    'delete_groups': ('DELETE', 'Groups', None, 405, None),
    # bodies
    'json_nested_100000_deep': ('POST', 'Users', '[' * 100000 + ']' * 100000, 400, 'invalidSyntax'),
    'body_not_an_object': ('POST', 'Groups', [group_body()], 400, 'invalidSyntax'),
    'too_many_patch_operations': (
        'PATCH',
        'Groups/{group}',
        patch(*[{'op': 'add', 'path': 'members', 'value': [{'value': '{user}'}]}] * (MAX_PATCH_OPERATIONS + 1)),
        413,
        None,
    ),
}


@pytest.fixture
def existing(scim):
    """One SCIM user and one SCIM group, so that ids that exist are at hand."""
    user = scim('POST', 'Users', user_body()).body['id']
    group = scim('POST', 'Groups', group_body()).body['id']
    return {'user': user, 'group': group}


def everything():
    return (
        sorted(get_user_model().objects.values_list('pk', 'username', 'is_active', 'first_name', 'email')),
        sorted(UserSocialAuth.objects.values_list('pk', 'uid')),
        sorted(AuthentikGroup.objects.values_list('pk', 'display_name', 'external_id')),
        sorted(AuthentikGroup.members.through.objects.values_list('pk', flat=True)),
    )


def fill(value, ids):
    """The case's body and path with the existing ids put in."""
    if isinstance(value, str):
        return value.replace('{user}', ids['user']).replace('{group}', ids['group'])
    if isinstance(value, list):
        return [fill(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    return value


@pytest.mark.parametrize(('method', 'path', 'body', 'status', 'scim_type'), REFUSED.values(), ids=REFUSED.keys())
def test_crafted_input_gets_a_scim_error_and_changes_nothing(
    scim, client, existing, method, path, body, status, scim_type
):
    before = everything()
    path, body = fill(path, existing), fill(body, existing)
    if isinstance(body, str):  # raw text, not JSON-encoded again
        response = raw(client, scim, method, path, body)
    else:
        response = scim(method, path, body)

    assert response.status_code == status, response.body
    assert response['Content-Type'].startswith(SCIM)
    assert response.body['schemas'] == [ERROR_SCHEMA]
    assert response.body['status'] == str(status)
    assert response.body['detail']
    assert response.body.get('scimType') == scim_type
    assert everything() == before


def raw(client, scim, method, path, text):
    authorization = make_token(get_user_model().objects.get(username='authentik-scim'))
    response = getattr(client, method.lower())(
        BASE + path, data=text, content_type=SCIM, HTTP_AUTHORIZATION=authorization
    )
    response.body = json.loads(response.content)
    return response


# case -> (path with {user}/{group}, what the answer lists)
EMPTY_ANSWERS = {
    'start_index_beyond_bigint': 'Users?startIndex=' + '9' * 20,
    'start_index_beyond_every_row': 'Groups?startIndex=999999',
    'filter_id_superscript': 'Users?filter=' + quote(f'id eq "{SUPERSCRIPT_TWO}"'),
    'filter_id_arabic_digit': 'Users?filter=' + quote(f'id eq "{ARABIC_THREE}"'),
    'filter_id_5000_digits': 'Users?filter=' + quote(f'id eq "{HUGE_ID[:900]}"'),
    'filter_members_superscript': 'Groups?filter=' + quote(f'members eq "{SUPERSCRIPT_TWO}"'),
    'filter_members_beyond_bigint': 'Groups?filter=' + quote(f'members.value eq "{BIGINT_PLUS_ONE}"'),
}


@pytest.mark.parametrize('path', EMPTY_ANSWERS.values(), ids=EMPTY_ANSWERS.keys())
def test_queries_that_name_nothing_get_an_empty_page(scim, existing, path):
    response = scim('GET', fill(path, existing))

    assert response.status_code == 200, response.body
    assert response.body['Resources'] == []


def test_a_body_larger_than_netbox_accepts_is_413(scim, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    body = user_body(email=None)
    body['name']['formatted'] = 'x' * 3000

    response = scim('POST', 'Users', body)

    assert response.status_code == 413, response.body
    assert response.body['schemas'] == [ERROR_SCHEMA] and 'DATA_UPLOAD_MAX_MEMORY_SIZE' in response.body['detail']
    assert not get_user_model().objects.filter(username='ada').exists()


def test_a_filter_with_brackets_inside_its_value_is_not_a_deep_filter(scim, existing):
    scim('POST', 'Groups', group_body('ops ((((((((((((x))))))))))))', 'ext-brackets'))

    found = scim('GET', 'Groups?filter=' + quote('displayName eq "ops ((((((((((((x))))))))))))"'))

    assert [group['displayName'] for group in found.body['Resources']] == ['ops ((((((((((((x))))))))))))']


def test_an_id_in_other_digits_never_names_that_user(scim, existing):
    """int('٣') is 3: a user's id written in Arabic-Indic digits must not name that user."""
    arabic = existing['user'].translate(str.maketrans('0123456789', '٠١٢٣٤٥٦٧٨٩'))

    assert scim('GET', 'Users/' + arabic).status_code == 404
    assert scim('DELETE', 'Users/' + arabic).status_code == 404
    assert get_user_model().objects.get(pk=existing['user']).is_active


def test_405_says_which_methods_the_path_offers(scim, existing):
    assert scim('POST', f'Users/{existing["user"]}', user_body())['Allow'] == 'GET, PUT, PATCH, DELETE, HEAD'
    assert scim('DELETE', 'Groups')['Allow'] == 'GET, POST, HEAD, OPTIONS'


# -- the filter bounds, at their edges (the crafted filters above are far past them) -----------------


def refusal(text):
    """The 400 invalidFilter detail filter_q gives `text`, or None when it reads it."""
    try:
        filter_q(text, USER_FILTERS)
    except ScimError as error:
        assert (error.status, error.scim_type) == (400, 'invalidFilter')
        return error.detail
    return None


def test_a_filter_of_exactly_the_length_bound_is_read():
    base = 'userName eq ""'
    at_bound = base[:-1] + 'a' * (MAX_FILTER_LENGTH - len(base)) + '"'
    assert len(at_bound) == MAX_FILTER_LENGTH
    assert refusal(at_bound) is None
    assert 'longer than' in refusal(at_bound[:-1] + 'a"')


def nested(depth, inner='userName eq "a"'):
    return '(' * depth + inner + ')' * depth


def test_brackets_are_counted_up_to_the_depth_bound():
    assert refusal(nested(MAX_FILTER_DEPTH)) is None
    assert 'brackets' in refusal(nested(MAX_FILTER_DEPTH + 1))
    # Counted after a quoted value too, and from the filter's first character.
    assert 'brackets' in refusal('userName eq "x" and ' + nested(MAX_FILTER_DEPTH + 1))


@pytest.mark.parametrize(
    'value',
    [
        '(((((((((((((',
        '[[[[[[[[[[[[[',
        'a\\',  # a backslash does not escape the closing quote: the parser knows no escapes
    ],
)
def test_brackets_inside_a_quoted_value_are_not_counted(value):
    assert refusal(f'userName eq "{value}"') is None
    # The value ends at its closing quote: brackets after it count again.
    assert 'brackets' in refusal(f'userName eq "{value}" and ' + nested(MAX_FILTER_DEPTH + 1))


def test_a_backslash_before_a_quote_hides_no_brackets():
    # The parser ends the value at `\"`; had the count read it as an escape, these brackets would go uncounted.
    assert 'brackets' in refusal('userName eq "a\\" and ' + nested(MAX_FILTER_DEPTH + 1, 'userName eq "b"'))


def test_comparisons_are_counted_up_to_the_terms_bound():
    def terms(count):
        return ' or '.join(f'userName eq "u{number}"' for number in range(count))

    assert refusal(terms(MAX_FILTER_TERMS)) is None
    assert 'comparisons' in refusal(terms(MAX_FILTER_TERMS + 1))


# -- the PATCH envelope at its edges --------------------------------------------------------------------


def test_a_patch_of_exactly_the_operations_bound_is_read():
    from netbox_authentik.scim.patch import patch_operations

    operation = {'op': 'replace', 'path': 'displayName', 'value': 'ops'}
    assert len(patch_operations(patch(*[operation] * MAX_PATCH_OPERATIONS))) == MAX_PATCH_OPERATIONS
    with pytest.raises(ScimError) as refused:
        patch_operations(patch(*[operation] * (MAX_PATCH_OPERATIONS + 1)))
    assert refused.value.status == 413


@pytest.mark.parametrize(
    'schemas', [['urn:ietf:params:scim:schemas:core:2.0:User'], [], 'urn:ietf:params:scim:api:messages:2.0:PatchOp']
)
def test_a_patch_with_other_schemas_is_refused(schemas):
    from netbox_authentik.scim.patch import patch_operations

    with pytest.raises(ScimError) as refused:
        patch_operations({'schemas': schemas, 'Operations': [{'op': 'replace', 'path': 'displayName', 'value': 'x'}]})
    assert (refused.value.status, refused.value.scim_type) == (400, 'invalidSyntax')


def test_an_id_names_a_row_up_to_postgresqls_largest_bigint():
    from netbox_authentik.scim.protocol import MAX_ID, resource_id

    assert MAX_ID == 2**63 - 1
    assert resource_id(str(MAX_ID)) == MAX_ID
    assert resource_id(MAX_ID) == MAX_ID
    assert resource_id('0000000000000000042') == 42  # 19 characters, the longest MAX_ID has
    for beyond in (str(MAX_ID + 1), '9' * 19, '1' * 20, '00000000000000000042'):
        assert resource_id(beyond) is None, beyond
