"""The identity link pages as a person reads them: what the list and the user page's panel show by default (so
that they fit a 1280 px window), one form for "no Authentik group", the provider as a choice, and the user an
identity is already linked to named to those who may see that user. tests/e2e/test_link_pages.py looks at the
same pages in a browser at 1280 and 1920 px."""

import html
import re
from types import SimpleNamespace

import pytest
from social_django.models import UserSocialAuth
from users.models import User

from netbox_authentik.links import linking
from netbox_authentik.tables import AssociationTable, UserAssociationTable
from tests.test_association_views import ADD_URL, ALICE_SUB, LIST_URL, grant, logged_in, make_bob_link, make_link

pytestmark = pytest.mark.django_db

DASH = '<span class="text-muted">&mdash;</span>'


@pytest.fixture
def admin(client):
    return logged_in(client, 'admin', superuser=True)


@pytest.fixture
def alice_link():
    return make_link(User.objects.create_user('alice', email='alice@example.com'))


def headers(page):
    return [html.unescape(re.sub(r'<[^>]+>', '', cell)).strip() for cell in re.findall(r'<th\b.*?</th>', page, re.S)]


def test_list_shows_the_user_with_email_beneath_and_no_rarely_needed_columns(client, admin, alice_link):
    page = client.get(LIST_URL).content.decode()
    assert headers(page)[1:] == [
        'User',
        'Authentik uid (sub)',
        'Identities of user',
        'Authentik groups (last sign-in)',
        'Last sign-in',
        '',  # the row actions
    ]
    user_cell = f'<a href="/users/users/{alice_link.user_id}/">alice</a>'
    assert f'{user_cell}<div class="small text-secondary">alice@<wbr>example.com</div>' in page


def test_every_column_can_still_be_chosen(client, admin, alice_link):
    page = client.get(LIST_URL).content.decode()
    available = set(re.findall(r'<option value="(\w+)"', page[page.index('name="available_columns"') :]))
    assert {'email', 'provider', 'created', 'provisioned_by_scim', 'scim_updated_at', 'modified'} <= available


def test_email_column_when_chosen_is_not_repeated_beneath_the_user(alice_link):
    table = AssociationTable(linking.associations(), exclude=())
    table.columns.show('email')
    rendered = table.rows[0].get_cell('user')
    assert 'alice@example.com' not in str(rendered)
    assert table.rows[0].get_cell('email') == 'alice@example.com'


@pytest.mark.parametrize('groups', [[], None])
def test_a_person_in_no_authentik_group_shows_the_same_dash_in_the_list_and_on_the_link_page(
    client, admin, alice_link, groups
):
    if groups is None:
        del alice_link.extra_data['groups']  # a token without a groups claim
    else:
        alice_link.extra_data['groups'] = groups
    alice_link.save()
    row = re.search(r'<tr\b[^>]*>(?:(?!</tr>).)*alice(?:(?!</tr>).)*</tr>', client.get(LIST_URL).content.decode(), re.S)
    assert DASH in row.group(0)
    detail = client.get(f'{LIST_URL}{alice_link.pk}/').content.decode()
    synced = re.search(r'Authentik groups</th>\s*<td>(.*?)</td>', detail, re.S)
    assert re.sub(r'<[^>]+>', '', synced.group(1).replace(DASH, 'DASH')).strip() == 'DASH'


def test_user_page_panel_shows_the_identity_its_last_sign_in_and_the_buttons_only(client, admin, alice_link):
    table = UserAssociationTable(linking.associations())
    assert [column.name for column in table.columns] == ['uid', 'last_sign_in', 'actions']
    page = client.get(f'/users/users/{alice_link.user_id}/').content.decode()
    panel = page[page.index('Authentik Identities') :]
    assert ALICE_SUB in panel and 'Unlink</a>' in panel
    assert 'Provisioned by SCIM' not in panel and 'Last SCIM update' not in panel


def test_link_form_offers_the_providers_as_a_choice(client, admin, alice_link):
    make_bob_link()  # an 'oidc' link left by the generic backend
    page = client.get(ADD_URL).content.decode()
    select = re.search(r'<select name="provider".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"', select) == ['authentik', 'oidc']


def test_link_form_refuses_a_provider_that_is_not_offered_and_links_nothing(client, admin):
    bob = User.objects.create_user('bob')
    page = client.post(ADD_URL, {'user': bob.pk, 'provider': 'authentik ', 'uid': ALICE_SUB})
    assert page.status_code == 200
    assert 'Select a valid choice.' in html.unescape(page.content.decode())
    assert not UserSocialAuth.objects.exists()


def test_taken_identity_names_its_user_to_a_superuser(alice_link):
    admin = User.objects.create_user('root', is_superuser=True)
    bob = User.objects.create_user('bob')
    problems = linking.link_problems(admin, bob, 'authentik', ALICE_SUB)
    assert problems['uid'] == "This Authentik identity is already linked to NetBox user 'alice'."


def test_may_see_user_follows_netboxs_view_permission_on_that_user(alice_link):
    alice = alice_link.user
    viewer = User.objects.create_user('viewer')
    assert linking.may_see_user(linking.SERVER_OPERATOR, alice)
    assert linking.may_see_user(User.objects.create_user('root', is_superuser=True), alice)
    assert not linking.may_see_user(viewer, alice)
    assert not linking.may_see_user(None, alice)
    grant(viewer, 'users.user', ['view'], constraints={'username': 'someone-else'})
    viewer = User.objects.get(pk=viewer.pk)  # NetBox caches a user's permissions on the object
    assert not linking.may_see_user(viewer, alice)
    grant(viewer, 'users.user', ['view'], constraints={'username': 'alice'})
    viewer = User.objects.get(pk=viewer.pk)
    assert linking.may_see_user(viewer, alice)


def test_netbox_finds_the_link_pages_and_api_through_the_models_hooks(alice_link):
    from django.urls import resolve
    from utilities.views import get_action_url

    assert alice_link.get_absolute_url() == f'/plugins/authentik/associations/{alice_link.pk}/'
    assert get_action_url(UserSocialAuth, 'list') == '/plugins/authentik/associations/'
    assert get_action_url(alice_link, 'edit', kwargs={'pk': alice_link.pk}).endswith(f'/{alice_link.pk}/edit/')
    api = get_action_url(UserSocialAuth, 'list', rest_api=True)
    assert api == '/api/plugins/authentik/associations/'
    assert resolve(api).url_name == 'association-list'


def test_only_an_active_superuser_or_the_server_operator_may_manage_links():
    assert linking.may_manage_links(linking.SERVER_OPERATOR)
    assert linking.may_manage_links(User(username='root', is_superuser=True, is_active=True))
    assert not linking.may_manage_links(User(username='root', is_superuser=True, is_active=False))
    assert not linking.may_manage_links(User(username='staff', is_superuser=False, is_active=True))
    # Whatever is passed that is no user, or says only half of it, is no active superuser.
    half_users = (SimpleNamespace(is_superuser=True), SimpleNamespace(is_active=True))
    for nobody in (None, object(), 'root', *half_users):
        assert not linking.may_manage_links(nobody)


def test_editing_a_links_own_uid_is_not_a_second_identity(alice_link):
    root = User.objects.create_user('root', is_superuser=True)

    assert linking.link_problems(root, alice_link.user, 'authentik', 'a-new-sub', link=alice_link) == {}
    assert linking.other_identity(alice_link.user, 'authentik', exclude_pk=alice_link.pk) is None
    assert linking.other_identity(alice_link.user, 'authentik') == alice_link


@pytest.mark.parametrize(
    'extra_data, provisioned',
    [
        ({'scim_provisioned': True}, True),
        ({'scim_provisioned': 'true'}, False),
        ({'scim_provisioned': 1}, False),
        ({}, False),
        (None, False),
    ],
)
def test_provisioned_by_scim_is_true_only_for_scims_own_mark(extra_data, provisioned):
    assert linking.provisioned_by_scim(UserSocialAuth(extra_data=extra_data)) is provisioned


def test_install_url_hooks_gives_social_djangos_model_its_urls(monkeypatch, alice_link):
    # The plugin installs them when it starts; here on a model that has lost them.
    monkeypatch.delattr(UserSocialAuth, '_get_action_url')
    monkeypatch.delattr(UserSocialAuth, 'get_absolute_url')

    linking.install_url_hooks()

    assert alice_link.get_absolute_url() == f'/plugins/authentik/associations/{alice_link.pk}/'
    assert UserSocialAuth._get_action_url('list') == '/plugins/authentik/associations/'


def test_each_link_is_counted_with_its_users_identities(alice_link):
    bob_link = make_link(User.objects.create_user('bob'), uid='b' * 64)
    UserSocialAuth.objects.create(user=alice_link.user, provider='authentik', uid='second-alice')

    counts = dict(linking.with_identity_counts(linking.associations()).values_list('uid', 'user_identities'))

    assert counts == {alice_link.uid: 2, 'second-alice': 2, bob_link.uid: 1}


def test_the_last_scim_update_is_read_from_the_link_or_is_none():
    from datetime import datetime

    stamp = '2026-12-03T13:00:00+00:00'
    assert linking.scim_updated_at(UserSocialAuth(extra_data={'scim_updated_at': stamp})) == datetime.fromisoformat(
        stamp
    )
    for extra_data in ({'scim_updated_at': 'yesterday'}, {'scim_updated_at': 7}, {}, None):
        assert linking.scim_updated_at(UserSocialAuth(extra_data=extra_data)) is None
