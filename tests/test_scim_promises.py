"""What docs/scim.md promises about SCIM provisioning, each pinned by a test that fails when the promise breaks.

Sessions are real: alice signs in through the fake Authentik in a browser of her own, and whether she is
still signed in is what NetBox's home page shows that browser.
"""

import csv
import html
import io
import re
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import DatabaseError
from django.test import Client, TestCase
from social_django.models import UserSocialAuth

from netbox_authentik.models import AuthentikGroup
from netbox_authentik.scim import provisioning
from tests.fake_authentik import authentik_claims, sign_in
from tests.test_backchannel_sessions import is_signed_in, session_key

from .test_group_sync import plugin_config
from .test_scim import assert_error, group_body, provisioner, scim, user_body

pytestmark = pytest.mark.django_db
# The SCIM client and its token's user, the fixtures of tests/test_scim.py, requested here by name.
SHARED_FIXTURES = (scim, provisioner)

ALICE_SUB = authentik_claims('alice')['sub']


@pytest.fixture
def alice(authentik):
    """alice, signed in through Authentik in a browser of her own: (browser, her SCIM id)."""
    browser = Client()
    sign_in(browser, authentik, 'alice', sid='sid-alice')
    assert is_signed_in(browser)
    user = get_user_model().objects.get(username='alice')
    return browser, str(user.pk)


def alice_body(pk, **fields):
    return user_body('alice', sub=ALICE_SUB, email='alice@example.com', id=pk, **fields)


# -- deactivation and deletion end sessions, and only once committed -----------------------------------


def test_deactivation_ends_the_persons_real_sessions(scim, alice):
    browser, pk = alice
    key = session_key(browser)
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert scim('PUT', f'Users/{pk}', alice_body(pk, active=False)).status_code == 200
    assert not Session.objects.filter(session_key=key).exists()
    assert not is_signed_in(browser)


def test_an_update_that_keeps_the_user_active_signs_nobody_out(scim, alice):
    browser, pk = alice
    with TestCase.captureOnCommitCallbacks(execute=True):
        renamed = alice_body(pk, name={'givenName': 'Alicia', 'familyName': 'Smith'})
        assert scim('PUT', f'Users/{pk}', renamed).status_code == 200
    assert get_user_model().objects.get(pk=pk).first_name == 'Alicia'
    assert is_signed_in(browser)


def test_a_deactivation_that_fails_later_in_the_request_signs_nobody_out(scim, alice, monkeypatch):
    browser, pk = alice

    def fail(link, groups=None):
        raise DatabaseError('the last write of the request failed')

    # The user is saved inactive first; the request then fails and is rolled back.
    monkeypatch.setattr(provisioning, '_mark_provisioned', fail)
    with TestCase.captureOnCommitCallbacks(execute=True) as callbacks:
        assert_error(scim('PUT', f'Users/{pk}', alice_body(pk, active=False)), 500)
    assert callbacks == []
    assert get_user_model().objects.get(pk=pk).is_active is True
    assert is_signed_in(browser)


def test_delete_user_ends_the_sessions_so_reactivation_does_not_revive_them(scim, alice):
    browser, pk = alice
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert scim('DELETE', f'Users/{pk}').status_code == 204
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert scim('PUT', f'Users/{pk}', alice_body(pk, active=True)).body['active'] is True
    assert get_user_model().objects.get(pk=pk).is_active is True
    assert not is_signed_in(browser)


def test_delete_user_in_delete_mode_ends_the_sessions(scim, alice):
    browser, pk = alice
    key = session_key(browser)
    with plugin_config(scim_user_delete='delete'), TestCase.captureOnCommitCallbacks(execute=True):
        assert scim('DELETE', f'Users/{pk}').status_code == 204
    assert not get_user_model().objects.filter(pk=pk).exists()
    assert not Session.objects.filter(session_key=key).exists()


# -- a refused request changes nothing, even after a write ----------------------------------------------


def test_put_group_that_renames_then_fails_keeps_no_rename(scim):
    group_id = scim('POST', 'Groups', group_body('netbox-admins')).body['id']
    body = {**group_body('netbox-owners'), 'members': [{'value': '999999'}]}
    # The rename is saved before the members are checked; the unknown member then refuses the request.
    assert_error(scim('PUT', f'Groups/{group_id}', body), 400)
    assert AuthentikGroup.objects.get(pk=group_id).display_name == 'netbox-admins'


@pytest.mark.parametrize('taken', ['bob', 'Bob', 'BOB'])
def test_put_renaming_a_user_onto_another_username_is_409(scim, taken):
    scim('POST', 'Users', user_body('bob', sub='b' * 64, email='bob@example.com'))
    pk = scim('POST', 'Users', user_body('ada')).body['id']
    response = scim('PUT', f'Users/{pk}', user_body(taken, id=pk))
    assert_error(response, 409, 'uniqueness')
    assert set(get_user_model().objects.values_list('username', flat=True)) >= {'ada', 'bob'}
    assert get_user_model().objects.get(pk=pk).username == 'ada'


def test_put_renaming_a_user_onto_an_unlinked_local_user_is_409(scim):
    get_user_model().objects.create_user('Carol')
    pk = scim('POST', 'Users', user_body('ada')).body['id']
    assert_error(scim('PUT', f'Users/{pk}', user_body('carol', id=pk)), 409, 'uniqueness')
    assert get_user_model().objects.get(pk=pk).username == 'ada'


def test_put_changing_only_the_case_of_ones_own_username_is_allowed(scim):
    pk = scim('POST', 'Users', user_body('ada')).body['id']
    assert scim('PUT', f'Users/{pk}', user_body('Ada', id=pk)).status_code == 200
    assert get_user_model().objects.get(pk=pk).username == 'Ada'


@pytest.mark.parametrize('method', ['PUT', 'PATCH'])
def test_a_group_taking_another_groups_external_id_is_409(scim, method):
    scim('POST', 'Groups', group_body('first', external_id='ext-1'))
    second = scim('POST', 'Groups', group_body('second', external_id='ext-2')).body['id']
    if method == 'PUT':
        response = scim('PUT', f'Groups/{second}', group_body('second', external_id='ext-1'))
    else:
        body = {
            'schemas': ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
            'Operations': [{'op': 'replace', 'path': 'externalId', 'value': 'ext-1'}],
        }
        response = scim('PATCH', f'Groups/{second}', body)
    assert_error(response, 409, 'uniqueness')
    assert AuthentikGroup.objects.get(pk=second).external_id == 'ext-2'


# -- what is created and announced ----------------------------------------------------------------------


def test_post_user_with_active_false_creates_an_inactive_account(scim):
    response = scim('POST', 'Users', user_body(active=False))
    assert response.status_code == 201 and response.body['active'] is False
    assert get_user_model().objects.get(username='ada').is_active is False


def test_service_provider_config_says_bulk_is_not_supported(scim):
    bulk = scim('GET', 'ServiceProviderConfig').body['bulk']
    assert bulk['supported'] is False
    # Authentik reads maxOperations as the size of its PATCH chunks (0: everything in one request), so it
    # announces the endpoint's cap on PATCH operations, not bulk support.
    assert bulk['maxOperations'] == 1000


def make_scim_users(count):
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f'user{number:05}') for number in range(count)]
    )
    UserSocialAuth.objects.bulk_create(
        [UserSocialAuth(user=user, provider='authentik', uid=f'sub-{user.pk}', extra_data={}) for user in users]
    )


def test_pages_are_capped_at_a_thousand(scim):
    make_scim_users(1001)
    page = scim('GET', 'Users?startIndex=1&count=5000').body
    assert page['totalResults'] == 1001
    assert page['itemsPerPage'] == 1000 and len(page['Resources']) == 1000
    rest = scim('GET', 'Users?startIndex=1001&count=5000').body
    assert [user['userName'] for user in rest['Resources']] == ['user01000']


# -- filters ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    'attribute, value',
    [
        ('userName', 'ada'),
        ('userName', 'ADA'),
        ('externalId', 'b' * 64),
        ('displayName', 'carol'),
        ('emails', 'ada@example.com'),
        ('active', 'false'),
        ('id', None),
    ],
)
def test_ne_returns_the_complement_of_eq(scim, attribute, value):
    ids = [
        scim('POST', 'Users', user_body(name, sub=sub, email=f'{name}@example.com', active=active)).body['id']
        for name, sub, active in (('ada', 'a' * 64, True), ('bob', 'b' * 64, False), ('carol', 'c' * 64, True))
    ]
    value = ids[0] if value is None else value
    literal = value if value in ('true', 'false') else f'"{value}"'

    def found(operator):
        body = scim('GET', 'Users?filter=' + quote(f'{attribute} {operator} {literal}')).body
        return {user['id'] for user in body['Resources']}

    equal, different = found('eq'), found('ne')
    # eq finds the one user the value names (bob is the inactive one): ne is then everyone else.
    named = {'b' * 64: ids[1], 'false': ids[1], 'carol': ids[2]}.get(value, ids[0])
    assert equal == {named}
    assert equal and different
    assert equal.isdisjoint(different)
    assert equal | different == set(ids)


# -- the link pages show the SCIM fields' values -------------------------------------------------------


def scim_row(listing, uid):
    """The CSV export of the link list: {column: value} of the row with this uid."""
    rows = list(csv.DictReader(io.StringIO(listing)))
    [row] = [row for row in rows if row['Authentik uid (sub)'] == uid]
    return row


def detail_value(page, label):
    """The value cell (HTML) of a detail page's row."""
    match = re.search(rf'<th[^>]*>\s*{re.escape(label)}\s*</th>\s*<td[^>]*>(.*?)</td>', page, re.S)
    assert match, f'no row {label!r}'
    return match.group(1)


def detail_text(page, label):
    """The value of a detail page's row as the person reads it."""
    return ' '.join(html.unescape(re.sub(r'<[^>]+>', ' ', detail_value(page, label))).split())


def test_link_pages_show_the_scim_values(scim, client, provisioner):
    pk = scim('POST', 'Users', user_body()).body['id']
    pushed = UserSocialAuth.objects.get(user_id=pk)
    pushed.extra_data = {**pushed.extra_data, 'scim_updated_at': '2026-03-04T05:06:07+00:00'}
    pushed.save()
    signed_in_only = UserSocialAuth.objects.create(
        user=get_user_model().objects.create_user('bob'), provider='authentik', uid='b' * 64, extra_data={}
    )
    client.force_login(provisioner)

    listing = client.get('/plugins/authentik/associations/', {'export': ''}).content.decode()
    assert scim_row(listing, pushed.uid)['Provisioned by SCIM'] == 'True'
    assert scim_row(listing, pushed.uid)['Last SCIM update'].startswith('2026-03-04T05:06')
    assert scim_row(listing, signed_in_only.uid)['Provisioned by SCIM'] in ('', 'False')
    assert scim_row(listing, signed_in_only.uid)['Last SCIM update'] == ''

    detail = client.get(f'/plugins/authentik/associations/{pushed.pk}/').content.decode()
    assert 'mdi-check' in detail_value(detail, 'Provisioned by SCIM')
    assert detail_text(detail, 'Last SCIM update') == '2026-03-04 05:06:07'
    other = client.get(f'/plugins/authentik/associations/{signed_in_only.pk}/').content.decode()
    assert 'mdi-close' in detail_value(other, 'Provisioned by SCIM')
    assert detail_text(other, 'Last SCIM update') == '—'


@pytest.mark.parametrize(
    'expression, names',
    [
        ('userName sw "a" and active eq true', {'ada'}),
        ('userName sw "a" or userName eq "bob"', {'ada', 'amy', 'bob'}),
        ('not (userName sw "a") and active eq true', {'bob'}),
    ],
)
def test_and_or_not_combine_as_they_say(scim, expression, names):
    for name, sub, active in (('ada', 'a' * 64, True), ('amy', 'd' * 64, False), ('bob', 'b' * 64, True)):
        scim('POST', 'Users', user_body(name, sub=sub, email=f'{name}@example.com', active=active))
    body = scim('GET', 'Users?filter=' + quote(expression)).body
    assert {user['userName'] for user in body['Resources']} == names


@pytest.mark.parametrize('expression', ['emails[type eq "work"].value eq "x"', 'userName gt "a"'])
def test_filters_it_cannot_read_are_400_invalid_filter(scim, expression):
    assert_error(scim('GET', 'Users?filter=' + quote(expression)), 400, 'invalidFilter')


# Each refusal of a filter is a 400 invalidFilter through HTTP (a 401 would make Authentik re-authenticate,
# a 500 would make it retry): the empty filter, a node the translation does not know, a bool or id
# attribute with an operator or value it cannot take, a sub-attribute that is not offered.
@pytest.mark.parametrize(
    'expression',
    [
        ' ',
        'emails[type eq "work"]',
        'active gt true',
        'active eq "maybe"',
        'active ne 1',
        'id co "1"',
        'id gt "1"',
        'name.middleName eq "x"',
        'name eq "x"',
    ],
)
def test_each_filter_refusal_is_400_invalid_filter(scim, expression):
    scim('POST', 'Users', user_body('ada', sub='a' * 64, email='ada@example.com'))
    assert_error(scim('GET', 'Users?filter=' + quote(expression)), 400, 'invalidFilter')


# A sub-attribute is part of the path: `name.givenName` filters on the given name, not on `name`.
def test_a_sub_attribute_filter_reads_that_sub_attribute(scim):
    scim('POST', 'Users', user_body('ada', sub='a' * 64, email='ada@example.com'))
    bob = {'givenName': 'Bob', 'familyName': 'Lovelace'}
    scim('POST', 'Users', user_body('bob', sub='b' * 64, email='bob@example.com', name=bob))
    body = scim('GET', 'Users?filter=' + quote('name.givenName eq "Ada"')).body
    assert [user['userName'] for user in body['Resources']] == ['ada']


# `pr` (present): a text attribute is present when it is neither NULL nor empty.
@pytest.mark.parametrize(
    'expression, names',
    [
        ('emails pr', {'ada'}),
        ('not (emails pr)', {'bob'}),
        ('externalId pr', {'ada', 'bob'}),
        ('id pr', {'ada', 'bob'}),
    ],
)
def test_pr_matches_attributes_that_have_a_value(scim, expression, names):
    scim('POST', 'Users', user_body('ada', sub='a' * 64, email='ada@example.com'))
    scim('POST', 'Users', user_body('bob', sub='b' * 64, email=None))
    body = scim('GET', 'Users?filter=' + quote(expression)).body
    assert {user['userName'] for user in body['Resources']} == names
