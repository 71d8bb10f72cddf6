"""The REST API at /api/plugins/authentik/associations/: CRUD, filters, NetBox permissions, no token leakage."""

import pytest
from social_django.models import UserSocialAuth
from users.constants import TOKEN_PREFIX
from users.models import Token, User

from tests.fake_authentik import plugin_link_claim, recorded_claim
from tests.test_association_views import ALICE_SUB, SECRETS, grant, make_bob_link, make_link

pytestmark = pytest.mark.django_db

API_URL = '/api/plugins/authentik/associations/'


def token_header(user, write_enabled=True):
    token = Token.objects.create(user=user, write_enabled=write_enabled)
    return {'HTTP_AUTHORIZATION': f'Bearer {TOKEN_PREFIX}{token.key}.{token.token}'}


def api_user(username, *, superuser=False, social_actions=(), constraints=None, write_enabled=True):
    user = User.objects.create_user(username, is_superuser=superuser)
    if social_actions:
        grant(user, 'social_django.usersocialauth', list(social_actions), constraints)
    return token_header(user, write_enabled)


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
def admin_header():
    return api_user('admin', superuser=True)


def assert_no_tokens(response):
    for secret in SECRETS:
        assert secret not in response.content.decode()
    assert 'extra_data' not in response.content.decode()


def test_list_and_retrieve_show_the_link_and_its_last_sign_in(client, admin_header, link):
    response = client.get(API_URL, **admin_header)
    assert response.status_code == 200
    assert response.json()['count'] == 1
    item = response.json()['results'][0]
    assert item['user']['username'] == 'alice'
    assert (item['provider'], item['uid']) == ('authentik', ALICE_SUB)
    assert item['groups'] == ['netbox-users', 'network-engineers']
    assert item['groups_synced_at'] == '2025-01-02T03:04:05+00:00'
    assert item['last_sign_in'] == '2025-01-02T03:04:05+00:00'
    assert item['url'].endswith(f'{API_URL}{link.pk}/')
    assert item['display_url'].endswith(f'/plugins/authentik/associations/{link.pk}/')
    assert_no_tokens(response)
    detail = client.get(f'{API_URL}{link.pk}/', **admin_header)
    assert detail.status_code == 200 and detail.json()['display'] == 'alice (authentik)'
    assert_no_tokens(detail)


def test_filters_by_user_provider_and_uid(client, admin_header, link, bob_link):
    def uids(**params):
        return {item['uid'] for item in client.get(API_URL, params, **admin_header).json()['results']}

    assert uids(user='alice') == {link.uid}
    assert uids(user_id=bob_link.user_id) == {bob_link.uid}
    assert uids(provider='oidc') == {bob_link.uid}
    assert uids(uid=link.uid) == {link.uid}
    assert uids(q='bob') == {bob_link.uid}


def test_extra_data_cannot_be_probed_through_filters(client, admin_header, link, bob_link):
    everything = client.get(API_URL, **admin_header).json()['results']
    for params in (
        {'extra_data__id_token__startswith': SECRETS[0][:5]},
        {'extra_data__id_token__startswith': 'no-such-prefix'},
    ):
        response = client.get(API_URL, params, **admin_header)
        assert response.status_code in (200, 400)
        if response.status_code == 200:
            assert {item['uid'] for item in response.json()['results']} == {item['uid'] for item in everything}


def test_ordering_by_the_id_token_is_ignored(client, admin_header, link, bob_link):
    # Sorted by id_token the order would be carol ('a…'), alice ('eyJ…'), bob (none); the default is by username.
    carol = User.objects.create_user('carol')
    UserSocialAuth.objects.create(
        user=carol, provider='authentik', uid='c4' * 32, extra_data={'id_token': 'a-sorts-first'}
    )

    def usernames(**params):
        response = client.get(API_URL, params, **admin_header)
        assert response.status_code == 200
        return [item['user']['username'] for item in response.json()['results']]

    assert usernames() == ['alice', 'bob', 'carol']
    assert usernames(ordering='user__username') == ['alice', 'bob', 'carol']
    assert usernames(ordering='-user__username') == ['carol', 'bob', 'alice']
    for ordering in ('extra_data__id_token', '-extra_data__id_token', 'extra_data'):
        assert usernames(ordering=ordering) == ['alice', 'bob', 'carol'], ordering


def test_export_templates_are_refused(client, admin_header, link):
    # A template sees the whole row, extra_data's id_token included; the list page refuses them too.
    from core.models import ObjectType
    from extras.models import ExportTemplate

    template = ExportTemplate.objects.create(
        name='leak', template_code='{% for link in queryset %}{{ link.extra_data.id_token }}{% endfor %}'
    )
    template.object_types.set([ObjectType.objects.get(app_label='social_django', model='usersocialauth')])
    response = client.get(API_URL, {'export': 'leak'}, **admin_header)
    assert response.status_code == 404
    assert_no_tokens(response)


def test_create_links_a_user_with_the_authentik_provider_by_default(client, admin_header, alice):
    response = client.post(
        API_URL, {'user': {'username': 'alice'}, 'uid': ALICE_SUB}, content_type='application/json', **admin_header
    )
    assert response.status_code == 201, response.content
    assert response.json()['provider'] == 'authentik'
    link = UserSocialAuth.objects.get(provider='authentik', uid=ALICE_SUB)
    assert link.user == alice
    assert recorded_claim(link) == plugin_link_claim()


def test_create_rejects_bad_links(client, admin_header, link):
    other = User.objects.create_user('mallory')

    def errors(data):
        response = client.post(API_URL, data, content_type='application/json', **admin_header)
        assert response.status_code == 400, response.content
        return response.json()

    assert 'uid' in errors({'user': other.pk, 'uid': ALICE_SUB})  # already linked
    assert 'uid' in errors({'user': other.pk, 'uid': ''})
    assert 'uid' in errors({'user': other.pk, 'uid': 'x' * 256})
    assert 'user' in errors({'user': 999999, 'uid': 'fresh'})
    assert UserSocialAuth.objects.count() == 1


def test_update_and_delete(client, admin_header, link):
    response = client.patch(f'{API_URL}{link.pk}/', {'uid': 'renamed'}, content_type='application/json', **admin_header)
    assert response.status_code == 200 and response.json()['uid'] == 'renamed'
    assert client.delete(f'{API_URL}{link.pk}/', **admin_header).status_code == 204
    assert not UserSocialAuth.objects.exists()
    assert User.objects.filter(username='alice').exists()


def test_requests_without_a_token_or_permission_are_refused(client, link):
    assert client.get(API_URL).status_code == 403
    header = api_user('carol')
    assert client.get(API_URL, **header).status_code == 403
    assert client.get(f'{API_URL}{link.pk}/', **header).status_code == 403
    assert client.delete(f'{API_URL}{link.pk}/', **header).status_code == 403
    assert UserSocialAuth.objects.exists()


def test_view_permission_reads_but_cannot_write(client, link, alice):
    header = api_user('viewer', social_actions=['view'])
    assert client.get(API_URL, **header).json()['count'] == 1
    response = client.post(API_URL, {'user': alice.pk, 'uid': 'new'}, content_type='application/json', **header)
    assert response.status_code == 403
    assert client.delete(f'{API_URL}{link.pk}/', **header).status_code == 403
    assert UserSocialAuth.objects.count() == 1


def test_read_only_token_cannot_write_even_with_permission(client, alice):
    header = api_user('operator', social_actions=['view', 'add'], write_enabled=False)
    response = client.post(API_URL, {'user': alice.pk, 'uid': 'new'}, content_type='application/json', **header)
    assert response.status_code == 403
    assert not UserSocialAuth.objects.exists()


def test_permitted_user_unlinks_but_cannot_link(client, alice, link):
    header = api_user('operator', social_actions=['view', 'add', 'delete'])
    response = client.post(API_URL, {'user': alice.pk, 'uid': 'new'}, content_type='application/json', **header)
    assert response.status_code == 403
    assert client.delete(f'{API_URL}{link.pk}/', **header).status_code == 204
    assert not UserSocialAuth.objects.exists()


def test_constraints_limit_what_is_seen_and_created(client, link, bob_link, alice):
    header = api_user('oidc-operator', social_actions=['view', 'add'], constraints={'provider': 'oidc'})
    assert [item['uid'] for item in client.get(API_URL, **header).json()['results']] == [bob_link.uid]
    assert client.get(f'{API_URL}{link.pk}/', **header).status_code == 404
    response = client.post(
        API_URL, {'user': alice.pk, 'provider': 'authentik', 'uid': 'new'}, content_type='application/json', **header
    )
    assert response.status_code == 403
    assert not UserSocialAuth.objects.filter(uid='new').exists()


def test_only_a_superuser_may_link(client, alice):
    root = User.objects.create_user('root', is_superuser=True)
    header = api_user('operator', social_actions=['view', 'add'])
    for user in (root, alice):
        response = client.post(API_URL, {'user': user.pk, 'uid': 'attacker'}, content_type='application/json', **header)
        assert response.status_code == 403
    assert not UserSocialAuth.objects.exists()


def test_an_admin_can_grant_the_permission_through_netbox_api(client, admin_header, link):
    # NetBox's permission form offers only its own models; its REST API accepts social_django's.
    operator = User.objects.create_user('operator')
    response = client.post(
        '/api/users/permissions/',
        {
            'name': 'Manage Authentik identity links',
            'object_types': ['social_django.usersocialauth'],
            'actions': ['view', 'add', 'change', 'delete'],
            'users': [operator.pk],
        },
        content_type='application/json',
        **admin_header,
    )
    assert response.status_code == 201, response.content
    assert client.get(API_URL, **token_header(operator)).json()['count'] == 1


def test_openapi_schema_still_generates_and_lists_the_endpoint(client, admin_header):
    response = client.get('/api/schema/', {'format': 'json'}, **admin_header)
    assert response.status_code == 200
    schema = response.json()
    assert API_URL in schema['paths'] and f'{API_URL}{{id}}/' in schema['paths']
    fields = schema['components']['schemas']['Association']['properties']
    assert 'extra_data' not in fields and 'last_sign_in' in fields
