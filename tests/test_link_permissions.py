"""Who may manage identity links: only superusers create links or change a link's user, provider or uid.

A link decides who signs in as whom, and the group sync hands the linked account Authentik's
groups and superuser status. So an operator with NetBox's add or change permission on links must
not be able to re-point Ada's link to their own account, or link an admin's `sub` before the
admin's first sign-in. Unlinking stays with the delete permission.
"""

import html

import pytest
from social_django.models import UserSocialAuth
from users.models import User

from netbox_authentik.forms import AssociationForm
from netbox_authentik.links.linking import SUPERUSERS_ONLY
from tests.test_association_api import API_URL, api_user
from tests.test_association_views import ADD_URL, ALICE_SUB, LIST_URL, logged_in, make_link

pytestmark = pytest.mark.django_db

ADMIN_SUB = 'ad' * 32


@pytest.fixture
def ada():
    """A superuser who signs in through Authentik."""
    return User.objects.create_user('ada', is_superuser=True)


@pytest.fixture
def ada_link(ada):
    return make_link(ada, uid=ALICE_SUB)


@pytest.fixture
def bob_link():
    return make_link(User.objects.create_user('bob'), uid='b0' * 32)


def owner(uid):
    return UserSocialAuth.objects.get(uid=uid).user.username


def page_operator(client, actions=('view', 'add', 'change')):
    return logged_in(client, 'mallory', social_actions=actions, user_view=True)


# -- the pages -----------------------------------------------------------------------------------------


def test_operator_cannot_repoint_a_link_to_themselves_on_the_edit_page(client, ada_link):
    mallory = page_operator(client)
    page = client.post(
        f'{LIST_URL}{ada_link.pk}/edit/', {'user': mallory.pk, 'provider': 'authentik', 'uid': ALICE_SUB}
    )
    assert page.status_code == 200
    assert SUPERUSERS_ONLY in page.content.decode()
    assert owner(ALICE_SUB) == 'ada'


def test_operator_cannot_change_the_uid_of_someones_link_on_the_edit_page(client, bob_link):
    page_operator(client)
    page = client.post(
        f'{LIST_URL}{bob_link.pk}/edit/', {'user': bob_link.user_id, 'provider': 'authentik', 'uid': ADMIN_SUB}
    )
    assert SUPERUSERS_ONLY in page.content.decode()
    bob_link.refresh_from_db()
    assert bob_link.uid == 'b0' * 32


def test_operator_cannot_edit_a_superusers_link_on_the_page(client, ada_link):
    page_operator(client)
    page = client.post(
        f'{LIST_URL}{ada_link.pk}/edit/', {'user': ada_link.user_id, 'provider': 'oidc', 'uid': ALICE_SUB}
    )
    assert SUPERUSERS_ONLY in page.content.decode()
    ada_link.refresh_from_db()
    assert ada_link.provider == 'authentik'


def test_operator_cannot_pre_link_an_admins_sub_to_themselves_on_the_add_page(client):
    mallory = page_operator(client)
    page = client.post(ADD_URL, {'user': mallory.pk, 'provider': 'authentik', 'uid': ADMIN_SUB})
    assert page.status_code == 200
    assert SUPERUSERS_ONLY in page.content.decode()
    assert not UserSocialAuth.objects.exists()


def test_superuser_repoints_a_link_on_the_edit_page(client, bob_link):
    logged_in(client, 'admin', superuser=True)
    carol = User.objects.create_user('carol')
    response = client.post(
        f'{LIST_URL}{bob_link.pk}/edit/', {'user': carol.pk, 'provider': 'authentik', 'uid': bob_link.uid}
    )
    assert response.status_code == 302
    assert owner(bob_link.uid) == 'carol'


def test_operator_with_delete_permission_unlinks_on_the_page(client, ada_link):
    logged_in(client, 'mallory', social_actions=['view', 'delete'])
    assert client.post(f'{LIST_URL}{ada_link.pk}/delete/', {'confirm': 'true'}).status_code == 302
    assert not UserSocialAuth.objects.exists()
    assert User.objects.filter(username='ada').exists()


def test_form_without_a_request_refuses_to_link(ada):
    form = AssociationForm(data={'user': ada.pk, 'provider': 'authentik', 'uid': ADMIN_SUB})
    assert not form.is_valid()
    assert form.non_field_errors() == ['Unable to verify permission to link this user.']


def test_no_bulk_edit_or_bulk_import_page_exists_for_links(client, ada_link):
    logged_in(client, 'admin', superuser=True)
    for url in (f'{LIST_URL}edit/', f'{LIST_URL}import/'):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {'pk': [ada_link.pk], 'user': 1, '_apply': '1'}).status_code == 404, url


# -- the REST API ----------------------------------------------------------------------------------------


@pytest.fixture
def operator():
    """An API token of 'mallory', who holds every permission on links but is no superuser."""
    header = api_user('mallory', social_actions=['view', 'add', 'change', 'delete'])
    return User.objects.get(username='mallory'), header


def test_api_operator_cannot_pre_link_an_admins_sub(client, operator):
    mallory, header = operator
    response = client.post(API_URL, {'user': mallory.pk, 'uid': ADMIN_SUB}, content_type='application/json', **header)
    assert response.status_code == 403
    assert response.json() == {'detail': SUPERUSERS_ONLY}
    bulk = client.post(API_URL, [{'user': mallory.pk, 'uid': ADMIN_SUB}], content_type='application/json', **header)
    assert bulk.status_code == 403
    assert not UserSocialAuth.objects.exists()


def test_api_operator_cannot_repoint_with_patch_or_put(client, operator, ada_link):
    mallory, header = operator
    patch = client.patch(f'{API_URL}{ada_link.pk}/', {'user': mallory.pk}, content_type='application/json', **header)
    assert patch.status_code == 403
    put = client.put(
        f'{API_URL}{ada_link.pk}/',
        {'user': mallory.pk, 'provider': 'authentik', 'uid': ALICE_SUB},
        content_type='application/json',
        **header,
    )
    assert put.status_code == 403
    assert owner(ALICE_SUB) == 'ada'


def test_api_operator_cannot_repoint_with_bulk_patch_or_bulk_put(client, operator, ada_link, bob_link):
    mallory, header = operator
    patch = client.patch(
        API_URL,
        [{'id': bob_link.pk, 'uid': 'b1' * 32}, {'id': ada_link.pk, 'user': mallory.pk}],
        content_type='application/json',
        **header,
    )
    assert patch.status_code == 403
    put = client.put(
        API_URL,
        [{'id': ada_link.pk, 'user': mallory.pk, 'provider': 'authentik', 'uid': ALICE_SUB}],
        content_type='application/json',
        **header,
    )
    assert put.status_code == 403
    assert owner(ALICE_SUB) == 'ada'
    bob_link.refresh_from_db()
    assert bob_link.uid == 'b0' * 32  # the whole batch is refused


def test_api_operator_cannot_edit_a_superusers_link(client, operator, ada_link):
    _mallory, header = operator
    patch = client.patch(f'{API_URL}{ada_link.pk}/', {'uid': ADMIN_SUB}, content_type='application/json', **header)
    assert patch.status_code == 403
    bulk = client.patch(API_URL, [{'id': ada_link.pk, 'provider': 'oidc'}], content_type='application/json', **header)
    assert bulk.status_code == 403
    ada_link.refresh_from_db()
    assert (ada_link.provider, ada_link.uid) == ('authentik', ALICE_SUB)


def test_api_operator_with_delete_permission_unlinks(client, ada_link):
    header = api_user('mallory', social_actions=['view', 'delete'])
    assert client.delete(f'{API_URL}{ada_link.pk}/', **header).status_code == 204
    assert not UserSocialAuth.objects.exists()


def test_api_superuser_repoints_with_patch_and_bulk_patch(client, bob_link):
    header = api_user('admin', superuser=True)
    carol = User.objects.create_user('carol')
    response = client.patch(f'{API_URL}{bob_link.pk}/', {'user': carol.pk}, content_type='application/json', **header)
    assert response.status_code == 200, response.content
    assert owner(bob_link.uid) == 'carol'
    bulk = client.patch(API_URL, [{'id': bob_link.pk, 'uid': 'fresh'}], content_type='application/json', **header)
    assert bulk.status_code == 200, bulk.content
    assert owner('fresh') == 'carol'


def test_api_unchanged_values_are_not_a_change(client, operator, bob_link):
    _mallory, header = operator
    response = client.patch(
        f'{API_URL}{bob_link.pk}/', {'uid': bob_link.uid}, content_type='application/json', **header
    )
    assert response.status_code == 200


# -- one identity per user, unless asked ------------------------------------------------------------------


def test_page_refuses_a_second_identity_unless_allowed(client, bob_link):
    logged_in(client, 'admin', superuser=True)
    data = {'user': bob_link.user_id, 'provider': 'authentik', 'uid': 'second-sub'}
    page = client.post(ADD_URL, data)
    assert page.status_code == 200
    assert (
        f"NetBox user 'bob' is already linked to authentik identity {bob_link.uid}: a second identity would "
        'let two people sign in as this user.'
    ) in html.unescape(page.content.decode())
    assert UserSocialAuth.objects.count() == 1
    assert client.post(ADD_URL, {**data, 'allow_second_identity': 'on'}).status_code == 302
    assert set(UserSocialAuth.objects.filter(user=bob_link.user).values_list('uid', flat=True)) == {
        bob_link.uid,
        'second-sub',
    }


def test_page_refuses_to_repoint_a_link_onto_a_user_who_has_one(client, ada_link, bob_link):
    logged_in(client, 'admin', superuser=True)
    page = client.post(
        f'{LIST_URL}{ada_link.pk}/edit/', {'user': bob_link.user_id, 'provider': 'authentik', 'uid': ALICE_SUB}
    )
    assert "NetBox user 'bob' is already linked" in html.unescape(page.content.decode())
    assert owner(ALICE_SUB) == 'ada'


def test_api_refuses_a_second_identity_unless_allowed(client, bob_link):
    header = api_user('admin', superuser=True)
    data = {'user': bob_link.user_id, 'uid': 'second-sub'}
    response = client.post(API_URL, data, content_type='application/json', **header)
    assert response.status_code == 400
    assert response.json() == {
        'user': [
            f"NetBox user 'bob' is already linked to authentik identity {bob_link.uid}: "
            'a second identity would let two people sign in as this user.'
        ]
    }
    response = client.post(API_URL, {**data, 'allow_second_identity': True}, content_type='application/json', **header)
    assert response.status_code == 201, response.content
    assert 'allow_second_identity' not in response.json()
    assert UserSocialAuth.objects.filter(user=bob_link.user).count() == 2


def test_list_shows_and_filters_users_with_several_identities(client, ada_link, bob_link):
    logged_in(client, 'admin', superuser=True)
    UserSocialAuth.objects.create(user=bob_link.user, provider='authentik', uid='second-sub')
    page = client.get(LIST_URL).content.decode()
    assert 'Identities of user' in page
    assert (
        page.count('<span class="badge text-bg-warning" title="Several identities can sign in as this user">2</span>')
        == 2
    )
    several = client.get(LIST_URL, {'several_identities': 'true'}).content.decode()
    assert bob_link.uid in several and 'second-sub' in several and ALICE_SUB not in several
    single = client.get(LIST_URL, {'several_identities': 'false'}).content.decode()
    assert ALICE_SUB in single and bob_link.uid not in single
