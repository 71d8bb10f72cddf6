"""The association pages: list, detail, link, unlink, bulk unlink, permissions and the panel on a user's page."""

import re
from html import unescape

import pytest
from core.models import ObjectType
from django.contrib.messages import get_messages
from social_django.models import UserSocialAuth
from users.models import ObjectPermission, User

from tests.fake_authentik import plugin_link_claim, recorded_claim

pytestmark = pytest.mark.django_db

LIST_URL = '/plugins/authentik/associations/'
ADD_URL = LIST_URL + 'add/'
BULK_DELETE_URL = LIST_URL + 'delete/'
ALICE_SUB = 'a1' * 32
SECRETS = ('eyJhbGciOi.secret-id-token', 'secret-access-token', 'secret-refresh-token')


def grant(user, model, actions, constraints=None):
    """Give `user` a NetBox object permission on `model` (e.g. 'social_django.usersocialauth')."""
    app_label, model_name = model.split('.')
    permission = ObjectPermission.objects.create(
        name=f'{user.username} {model} {actions}', actions=actions, constraints=constraints
    )
    permission.object_types.add(ObjectType.objects.get(app_label=app_label, model=model_name))
    permission.users.add(user)


def logged_in(client, username, *, superuser=False, social_actions=(), user_view=False, constraints=None):
    user = User.objects.create_user(username, is_superuser=superuser)
    if social_actions:
        grant(user, 'social_django.usersocialauth', list(social_actions), constraints)
    if user_view:
        grant(user, 'users.user', ['view'])
    client.force_login(user)
    return user


def make_link(user, provider='authentik', uid=ALICE_SUB):
    """A link as a sign-in leaves it: tokens in extra_data next to what the pages may show."""
    return UserSocialAuth.objects.create(
        user=user,
        provider=provider,
        uid=uid,
        extra_data={
            'id': uid,
            'id_token': SECRETS[0],
            'access_token': SECRETS[1],
            'refresh_token': SECRETS[2],
            'token_type': 'Bearer',
            'groups': ['netbox-users', 'network-engineers'],
            'groups_synced_at': '2025-01-02T03:04:05+00:00',
            'auth_time': 1735787045,  # 2025-01-02 03:04:05 UTC
        },
    )


def make_bob_link():
    """An 'oidc' link (the generic backend's name) that never recorded a sign-in."""
    bob = User.objects.create_user('bob', email='bob@example.com')
    return UserSocialAuth.objects.create(user=bob, provider='oidc', uid='b2' * 32)


@pytest.fixture
def alice():
    return User.objects.create_user('alice', email='alice@example.com')


@pytest.fixture
def link(alice):
    return make_link(alice)


@pytest.fixture
def bob_link():
    return make_bob_link()


@pytest.fixture
def admin(client):
    return logged_in(client, 'admin', superuser=True)


def assert_no_tokens(content):
    text = content.decode() if isinstance(content, bytes) else content
    for secret in SECRETS:
        assert secret not in text


# -- list ------------------------------------------------------------------------------------------


def test_superuser_sees_links_with_groups_and_last_sign_in(client, admin, link):
    page = client.get(LIST_URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'Authentik Identity Links' in html
    assert ALICE_SUB in html and 'alice@<wbr>example.com' in html  # beneath the user
    assert 'netbox-users, network-engineers' in html
    assert '2025-01-02 03:04' in html
    assert f'href="{ADD_URL}' in html
    assert f'href="{LIST_URL}{link.pk}/"' in html
    assert re.search(r'</i>\s*Unlink Selected\s*</button>', html)
    assert_no_tokens(html)


def test_quick_search_matches_username_email_and_uid(client, admin, link, bob_link):
    for query in ('alice', 'alice@example', ALICE_SUB[:10]):
        html = client.get(LIST_URL, {'q': query}).content.decode()
        assert ALICE_SUB in html and bob_link.uid not in html, query


def test_filters_by_user_provider_and_creation_date(client, admin, link, bob_link):
    def shown(**params):
        html = client.get(LIST_URL, params).content.decode()
        return {uid for uid in (link.uid, bob_link.uid) if uid in html}

    assert shown(user_id=link.user_id) == {link.uid}
    assert shown(user='bob') == {bob_link.uid}
    assert shown(provider='oidc') == {bob_link.uid}
    assert shown(created__after='2000-01-01T00:00:00Z') == {link.uid, bob_link.uid}
    assert shown(created__before='2000-01-01T00:00:00Z') == set()


def test_sorting_and_pagination(client, admin, link, bob_link):
    html = client.get(LIST_URL, {'sort': '-provider'}).content.decode()
    assert html.index(bob_link.uid) < html.index(link.uid)  # oidc before authentik
    # NetBox's paginator folds up to 5 orphans into the last page: 12 links make 2 pages of 6.
    for number in range(10):
        UserSocialAuth.objects.create(user=link.user, provider='zz-other', uid=f'other-{number}')
    html = client.get(LIST_URL, {'sort': 'provider', 'per_page': 6}).content.decode()
    assert link.uid in html and bob_link.uid in html
    assert len(re.findall(r'>other-\d<', html)) == 4
    assert 'page=2' in html


def test_csv_export_lists_links_without_tokens(client, admin, link):
    response = client.get(LIST_URL, {'export': 'table'})
    assert response.status_code == 200
    assert response['Content-Type'].startswith('text/csv')
    body = b''.join(response.streaming_content) if response.streaming else response.content
    text = body.decode()
    assert ALICE_SUB in text and 'netbox-users' in text and 'alice' in text
    assert_no_tokens(text)
    everything = client.get(LIST_URL, {'export': ''})
    body = b''.join(everything.streaming_content) if everything.streaming else everything.content
    assert ALICE_SUB in body.decode()
    assert_no_tokens(body)


# -- detail ------------------------------------------------------------------------------------------


def test_detail_page_shows_link_and_synced_groups_but_no_tokens(client, admin, link):
    page = client.get(f'{LIST_URL}{link.pk}/')
    assert page.status_code == 200
    html = page.content.decode()
    assert 'Authentik identity link of alice' in html
    assert re.search(r'</i>\s*Unlink\s*</a>', html)
    assert ALICE_SUB in html and 'netbox-users, network-engineers' in html
    assert f'{LIST_URL}{link.pk}/edit/' in html and f'{LIST_URL}{link.pk}/delete/' in html
    assert 'Authentik identity links' in html  # breadcrumb back to the list
    assert_no_tokens(html)


# -- add / edit --------------------------------------------------------------------------------------


def test_add_form_defaults_provider_to_authentik_and_preselects_user(client, admin, alice):
    html = client.get(ADD_URL, {'user': alice.pk}).content.decode()
    assert re.search(r'<option value="authentik"\s+selected\s*>authentik</option>', html)
    assert re.search(rf'<option value="{alice.pk}"\s+selected\s+>alice</option>', html)


def test_superuser_links_a_user(client, admin, alice):
    response = client.post(ADD_URL, {'user': alice.pk, 'provider': 'authentik', 'uid': ALICE_SUB})
    link = UserSocialAuth.objects.get(provider='authentik', uid=ALICE_SUB)
    assert link.user == alice
    assert recorded_claim(link) == plugin_link_claim()
    assert response.status_code == 302 and response['Location'] == f'{LIST_URL}{link.pk}/'


def test_form_rejects_a_uid_already_linked(client, admin, link):
    other = User.objects.create_user('mallory')
    page = client.post(ADD_URL, {'user': other.pk, 'provider': 'authentik', 'uid': ALICE_SUB})
    assert page.status_code == 200
    assert "This Authentik identity is already linked to NetBox user 'alice'." in unescape(page.content.decode())
    assert UserSocialAuth.objects.filter(uid=ALICE_SUB).get().user.username == 'alice'


def test_form_rejects_empty_and_too_long_uids(client, admin, alice):
    page = client.post(ADD_URL, {'user': alice.pk, 'provider': 'authentik', 'uid': '   '})
    assert 'This field is required.' in page.content.decode()
    page = client.post(ADD_URL, {'user': alice.pk, 'provider': 'authentik', 'uid': 'x' * 256})
    assert 'Ensure this value has at most 255 characters (it has 256).' in page.content.decode()
    assert not UserSocialAuth.objects.exists()


def test_form_rejects_a_user_that_does_not_exist(client, admin):
    page = client.post(ADD_URL, {'user': 999999, 'provider': 'authentik', 'uid': ALICE_SUB})
    assert page.status_code == 200
    assert 'Select a valid choice.' in page.content.decode()
    assert not UserSocialAuth.objects.exists()


def test_edit_changes_the_uid(client, admin, link):
    response = client.post(f'{LIST_URL}{link.pk}/edit/', {'user': link.user_id, 'provider': 'authentik', 'uid': 'new'})
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.uid == 'new' and link.extra_data['groups'] == ['netbox-users', 'network-engineers']


# -- unlink ------------------------------------------------------------------------------------------


def test_unlink_asks_for_confirmation_and_keeps_the_user(client, admin, link):
    page = client.get(f'{LIST_URL}{link.pk}/delete/')
    assert page.status_code == 200
    html = page.content.decode()
    assert 'Unlink Authentik identity?' in html
    assert 'NetBox user <strong>alice</strong> from the Authentik' in html
    assert 'Delete' not in html.split('<form', 1)[1].split('</form>', 1)[0]  # one word throughout: Unlink
    response = client.post(f'{LIST_URL}{link.pk}/delete/', {'confirm': 'true'})
    assert response.status_code == 302 and response['Location'] == LIST_URL
    assert not UserSocialAuth.objects.exists()
    assert User.objects.filter(username='alice').exists()
    # The message on the next page says what happened, in the same word.
    assert [str(m) for m in get_messages(response.wsgi_request)] == ['Unlinked the Authentik identity of alice']


def test_bulk_unlink_confirms_then_deletes_only_links(client, admin, link, bob_link):
    page = client.post(BULK_DELETE_URL, {'pk': [link.pk, bob_link.pk]})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'Unlink 2 Authentik identities?' in html
    assert re.search(r'>\s*Unlink 2 identities\s*</button>', html)
    # One word throughout the page's own text (the sidebar menu is NetBox's).
    assert 'Delete' not in html.split('id="delete-form"', 1)[1].split('id="object-list"', 1)[0]
    assert 'Bulk Delete' not in html
    assert UserSocialAuth.objects.count() == 2
    response = client.post(
        BULK_DELETE_URL, {'pk': [link.pk, bob_link.pk], 'confirm': 'true', '_confirm': '1', 'return_url': LIST_URL}
    )
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == ['Unlinked 2 Authentik identities']
    assert not UserSocialAuth.objects.exists()
    assert set(User.objects.filter(username__in=['alice', 'bob']).values_list('username', flat=True)) == {
        'alice',
        'bob',
    }


@pytest.mark.parametrize('pk', ['abc', '', '1e5', '-1', '١'])
def test_bulk_unlink_with_a_crafted_row_id_is_refused_and_unlinks_nothing(client, admin, link, pk):
    for data in ({'pk': [link.pk, pk]}, {'pk': [link.pk, pk], 'confirm': 'true', '_confirm': '1'}):
        response = client.post(BULK_DELETE_URL, data)
        assert response.status_code == 400
        assert 'each must be an id number' in response.content.decode()
    assert UserSocialAuth.objects.filter(pk=link.pk).exists()


# -- permissions ------------------------------------------------------------------------------------


def test_user_without_permission_gets_403_everywhere_and_no_menu_item(client, link):
    logged_in(client, 'carol', user_view=True)
    for url in (
        LIST_URL,
        ADD_URL,
        f'{LIST_URL}{link.pk}/',
        f'{LIST_URL}{link.pk}/edit/',
        f'{LIST_URL}{link.pk}/delete/',
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(BULK_DELETE_URL, {'pk': [link.pk], 'confirm': 'true', '_confirm': '1'}).status_code == 403
    assert UserSocialAuth.objects.exists()
    assert LIST_URL not in client.get('/').content.decode()


def test_anonymous_visitor_is_sent_to_the_login_page(client, link):
    response = client.get(LIST_URL)
    assert response.status_code == 302 and response['Location'].startswith('/login/')


def test_view_permission_shows_list_and_menu_but_not_add(client, link):
    logged_in(client, 'viewer', social_actions=['view'])
    html = client.get(LIST_URL).content.decode()
    assert ALICE_SUB in html
    assert f'href="{ADD_URL}' not in html
    assert client.get(ADD_URL).status_code == 403
    assert client.post(f'{LIST_URL}{link.pk}/delete/', {'confirm': 'true'}).status_code == 403
    home = client.get('/').content.decode()
    assert LIST_URL in home and 'Identity Links' in home


def test_permitted_user_unlinks_but_cannot_link(client, alice, link):
    logged_in(client, 'operator', social_actions=['view', 'add', 'delete'], user_view=True)
    page = client.post(ADD_URL, {'user': alice.pk, 'provider': 'authentik', 'uid': 'b3' * 32})
    assert page.status_code == 200
    assert (
        'Only a superuser can link an Authentik identity or change the user, provider or uid of a link.'
        in page.content.decode()
    )
    assert client.post(f'{LIST_URL}{link.pk}/delete/', {'confirm': 'true'}).status_code == 302
    assert not UserSocialAuth.objects.exists()


def test_only_a_superuser_may_link_a_superuser(client):
    root = User.objects.create_user('root', is_superuser=True)
    logged_in(client, 'operator', social_actions=['view', 'add'], user_view=True)
    page = client.post(ADD_URL, {'user': root.pk, 'provider': 'authentik', 'uid': 'attacker-sub'})
    assert page.status_code == 200
    assert (
        'Only a superuser can link an Authentik identity or change the user, provider or uid of a link.'
        in page.content.decode()
    )
    assert not UserSocialAuth.objects.exists()


def test_constrained_permission_shows_only_matching_links(client, link, bob_link):
    logged_in(client, 'oidc-viewer', social_actions=['view'], constraints={'provider': 'oidc'})
    html = client.get(LIST_URL).content.decode()
    assert bob_link.uid in html and link.uid not in html
    assert client.get(f'{LIST_URL}{link.pk}/').status_code == 404


def test_unlink_modal_says_unlink_not_delete(client, admin, link):
    html = client.get(f'{LIST_URL}{link.pk}/delete/', headers={'HX-Request': 'true'}).content.decode()
    assert 'Unlink Authentik identity' in html and '>Unlink</button>' in html
    assert 'Delete' not in html and 'Confirm Deletion' not in html


def test_list_shows_the_first_groups_of_a_person_in_many_and_a_count(client, admin, link):
    link.extra_data['groups'] = [f'group-{number:03d}' for number in range(500)]
    link.save()
    html = client.get(LIST_URL).content.decode()
    assert 'Authentik groups (last sign-in)' in html
    assert 'group-004' in html and 'group-005' not in html
    assert f'<a href="{LIST_URL}{link.pk}/" class="text-nowrap">and 495 more</a>' in html
    assert 'group-499' in client.get(f'{LIST_URL}{link.pk}/').content.decode()  # all of them on the detail page


def test_constrained_add_permission_refuses_links_outside_the_constraint(client, alice):
    logged_in(client, 'oidc-operator', social_actions=['view', 'add'], user_view=True, constraints={'provider': 'oidc'})
    page = client.post(ADD_URL, {'user': alice.pk, 'provider': 'authentik', 'uid': ALICE_SUB})
    assert page.status_code == 200
    assert not UserSocialAuth.objects.exists()


# -- the panel on NetBox's user page -------------------------------------------------------------


def test_user_page_shows_the_users_links_with_link_and_unlink(client, admin, link):
    html = client.get(f'/users/users/{link.user_id}/').content.decode()
    assert 'Authentik Identities' in html
    assert ALICE_SUB in html and '2025-01-02 03:04' in html
    assert f'{ADD_URL}?user={link.user_id}&amp;return_url=%2Fusers%2Fusers%2F{link.user_id}%2F' in html
    assert f'{LIST_URL}{link.pk}/delete/?return_url=/users/users/{link.user_id}/' in html
    assert 'aria-label="Unlink"><i class="mdi mdi-link-off"></i> Unlink</a>' in html  # a label, not an icon alone
    assert_no_tokens(html)


def test_user_page_panel_says_when_a_user_is_not_linked(client, admin, alice):
    html = client.get(f'/users/users/{alice.pk}/').content.decode()
    assert 'Authentik Identities' in html and 'Not linked to an Authentik identity' in html


def test_group_names_from_authentik_are_escaped_everywhere(client, admin, link):
    link.extra_data['groups'] = ['<script>alert(1)</script>']
    link.save()
    for url in (LIST_URL, f'{LIST_URL}{link.pk}/'):
        html = client.get(url).content.decode()
        assert '&lt;script&gt;alert(1)&lt;/script&gt;' in html, url
        assert '<script>alert(1)' not in html, url


def test_user_page_has_no_panel_without_view_permission(client, link):
    logged_in(client, 'carol', user_view=True)
    page = client.get(f'/users/users/{link.user_id}/')
    assert page.status_code == 200
    html = page.content.decode()
    assert 'Authentik Identities' not in html and ALICE_SUB not in html
