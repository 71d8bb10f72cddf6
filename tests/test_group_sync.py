"""Group sync on every sign-in, on NetBox's real database, through NetBox's own SSO views."""

import logging

import pytest
import responses
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from social_django.models import UserSocialAuth
from users.models import Group, User

from tests.fake_authentik import FakeAuthentik, authentik_claims, begin_sign_in, complete_sign_in

pytestmark = pytest.mark.django_db
MISSING = ...


def plugin_config(**values):
    return override_settings(PLUGINS_CONFIG={'netbox_authentik': values})


@pytest.fixture
def sign_in(client):
    """Sign in through Authentik as `username` with the given groups claim; return the response."""

    def _sign_in(username='alice', groups=('netbox-users',), **claims):
        client.logout()
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            fake = FakeAuthentik(mock)
            fake.register_metadata()
            query = begin_sign_in(client)
            fake.register_token(fake.sign(authentik_claims(username, groups=groups, nonce=query['nonce'], **claims)))
            if groups is None:
                # fetch_userinfo='auto' asks userinfo when the id_token lacks groups; it lacks them too.
                fake.register_userinfo(
                    authentik_claims(
                        username, groups=None, iss=..., aud=..., exp=..., iat=..., auth_time=..., acr=..., amr=...
                    )
                )
            return complete_sign_in(client, query['state'])

    return _sign_in


@pytest.fixture
def netbox_groups():
    return {name: Group.objects.create(name=name) for name in ('Admins', 'Engineers', 'Users', 'Manual')}


def groups_of(username):
    return set(User.objects.get(username=username).groups.values_list('name', flat=True))


MAP = {'netbox-admins': 'Admins', 'network-engineers': 'Engineers', 'netbox-users': ['Users']}


def test_mirror_mode_follows_authentik_for_managed_groups_only(sign_in, netbox_groups):
    with plugin_config(group_map=MAP):
        sign_in('alice', ['netbox-users', 'network-engineers'])
        user = User.objects.get(username='alice')
        user.groups.add(netbox_groups['Manual'])
        sign_in('alice', ['netbox-users'])
    assert groups_of('alice') == {'Users', 'Manual'}


def test_add_mode_only_ever_adds(sign_in, netbox_groups):
    with plugin_config(group_map=MAP, group_sync='add'):
        sign_in('alice', ['network-engineers'])
        sign_in('alice', ['netbox-users'])
    assert groups_of('alice') == {'Engineers', 'Users'}


def test_off_mode_leaves_groups_untouched(sign_in, netbox_groups):
    with plugin_config(group_map=MAP, group_sync='off'):
        sign_in('alice', ['network-engineers'])
    assert groups_of('alice') == set()


def test_protected_groups_are_never_removed(sign_in, netbox_groups):
    with plugin_config(group_map={**MAP, 'legacy': 'Manual'}, protected_groups=['Manual']):
        sign_in('alice', ['legacy', 'netbox-users'])
        sign_in('alice', [])
    assert groups_of('alice') == {'Manual'}


def test_superuser_granted_and_revoked_from_superuser_groups(sign_in, netbox_groups):
    with plugin_config(group_map=MAP, superuser_groups=['netbox-admins']):
        sign_in('ada', ['netbox-admins'])
        assert User.objects.get(username='ada').is_superuser
        sign_in('ada', ['netbox-users'])
        assert not User.objects.get(username='ada').is_superuser


def test_superuser_none_never_touches_status(sign_in):
    sign_in('ada', ['superusers', 'netbox-admins'])
    user = User.objects.get(username='ada')
    assert not user.is_superuser
    user.is_superuser = True
    user.save()
    sign_in('ada', [])
    assert User.objects.get(username='ada').is_superuser


def test_login_without_groups_claim_keeps_existing_groups(sign_in, netbox_groups, caplog):
    with plugin_config(group_map=MAP, superuser_groups=['netbox-admins']):
        sign_in('ada', ['netbox-admins', 'netbox-users'])
        with caplog.at_level(logging.WARNING, logger='netbox_authentik'):
            response = sign_in('ada', None)
    assert response.status_code == 302 and response['Location'] == '/'
    assert groups_of('ada') == {'Admins', 'Users'}
    assert User.objects.get(username='ada').is_superuser
    assert any('no groups claim' in record.getMessage() for record in caplog.records)


def test_login_without_groups_claim_clears_when_configured(sign_in, netbox_groups):
    with plugin_config(group_map=MAP, superuser_groups=['netbox-admins'], missing_groups_claim='clear'):
        sign_in('ada', ['netbox-admins', 'netbox-users'])
        sign_in('ada', None)
    assert groups_of('ada') == set()
    assert not User.objects.get(username='ada').is_superuser


def test_new_user_without_groups_claim_signs_in(sign_in, client):
    """The case that answers HTTP 500 with Authentik's documented pipeline."""
    response = sign_in('noclaim', None)
    assert response.status_code == 302 and response['Location'] == '/'
    assert client.get('/').status_code == 200
    assert UserSocialAuth.objects.filter(user__username='noclaim', provider='authentik').exists()


@pytest.mark.parametrize('claim', ['netbox-users', ['netbox-users', 7, None, ''], ['netbox-users', 'netbox-users']])
def test_single_string_bad_items_and_duplicates_are_tolerated(sign_in, netbox_groups, claim):
    with plugin_config(group_map=MAP):
        response = sign_in('alice', claim)
    assert response['Location'] == '/'
    assert groups_of('alice') == {'Users'}


def test_unusable_items_in_the_claim_are_logged(sign_in, netbox_groups, caplog):
    with plugin_config(group_map=MAP), caplog.at_level(logging.WARNING, logger='netbox_authentik'):
        sign_in('alice', ['netbox-users', 7, None, ''])
    assert 'Skipped 3 unusable item(s) in the groups claim of alice' in caplog.text


def test_unicode_spaces_and_case_are_matched_exactly(sign_in):
    Group.objects.create(name='Réseau Ops')
    with plugin_config(group_map={'réseau ops': 'Réseau Ops', 'Ops Team': 'Réseau Ops'}):
        sign_in('alice', ['Réseau Ops'])  # differs in case from the map key 'réseau ops'
        assert groups_of('alice') == set()
        sign_in('alice', ['Ops Team'])
    assert groups_of('alice') == {'Réseau Ops'}


def test_unmapped_authentik_groups_are_not_created_by_default(sign_in):
    sign_in('alice', ['authentik Admins', 'netbox-users'])
    assert not Group.objects.filter(name__in=['authentik Admins', 'netbox-users']).exists()


def test_auto_create_groups_with_filter(sign_in):
    with plugin_config(auto_create_groups=True, group_filter='netbox-*'):
        sign_in('alice', ['netbox-ops', 'authentik Admins'])
    assert groups_of('alice') == {'netbox-ops'}
    assert not Group.objects.filter(name='authentik Admins').exists()


def test_group_name_longer_than_netbox_allows_is_skipped_and_sign_in_goes_on(sign_in, caplog):
    long_name = 'netbox-' + 'x' * 150
    with plugin_config(auto_create_groups=True), caplog.at_level(logging.WARNING, logger='netbox_authentik'):
        response = sign_in('alice', ['netbox-ops', long_name])
    assert response['Location'] == '/'
    assert groups_of('alice') == {'netbox-ops'}
    assert not Group.objects.filter(name__startswith='netbox-x').exists()
    assert [record.getMessage() for record in caplog.records if 'longer than' in record.getMessage()] == [
        f'Skipped 1 group name(s) longer than NetBox allows for alice: {long_name}',
    ]


@override_settings(REMOTE_AUTH_DEFAULT_GROUPS=['Users'])
def test_remote_auth_default_groups_still_applied_and_kept(sign_in, netbox_groups):
    with plugin_config(group_map=MAP):
        sign_in('alice', ['network-engineers'])
        assert groups_of('alice') == {'Users', 'Engineers'}
        sign_in('alice', [])
    assert groups_of('alice') == {'Users'}


def test_last_seen_groups_and_time_recorded_on_the_link(sign_in):
    sign_in('alice', ['netbox-users', 'network-engineers'])
    link = UserSocialAuth.objects.get(user__username='alice')
    assert link.extra_data['groups'] == ['netbox-users', 'network-engineers']
    assert link.extra_data['groups_synced_at']


def test_failed_validation_changes_no_groups(client, netbox_groups):
    user = User.objects.create(username='alice')
    user.groups.add(netbox_groups['Admins'])
    # Linked to her Authentik identity: a token that got through would sync her groups (to none here).
    UserSocialAuth.objects.create(user=user, provider='authentik', uid=authentik_claims('alice')['sub'])
    with plugin_config(group_map=MAP), responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeAuthentik(mock)
        fake.register_metadata()
        query = begin_sign_in(client)
        fake.register_token(fake.sign(authentik_claims('alice', groups=[], nonce='wrong-nonce')))
        response = complete_sign_in(client, query['state'])
    assert response['Location'] == '/login/'
    assert groups_of('alice') == {'Admins'}


def test_sync_step_is_atomic(sign_in, netbox_groups, monkeypatch):
    with plugin_config(group_map=MAP, superuser_groups=['netbox-admins']):
        sign_in('ada', ['network-engineers'])

        def fail(*args, **kwargs):
            raise RuntimeError('database went away')

        monkeypatch.setattr('social_core.pipeline.social_auth.load_extra_data', fail)
        response = sign_in('ada', ['netbox-admins', 'netbox-users'])
    assert response['Location'] == '/login/'
    assert groups_of('ada') == {'Engineers'}
    assert not User.objects.get(username='ada').is_superuser


def test_other_backends_are_unaffected():
    from netbox_authentik.pipeline import sync_groups

    class OtherBackend:
        name = 'github'

        def authentik_groups(self, response):  # pragma: no cover - must never be called
            raise AssertionError('called for another backend')

    user = User.objects.create(username='gh')
    assert sync_groups(OtherBackend(), user=user, response={'groups': ['x']}) is None


@override_settings(
    SOCIAL_AUTH_AUTHENTIK_PIPELINE=[
        'social_core.pipeline.social_auth.social_details',
        'social_core.pipeline.social_auth.social_uid',
        'social_core.pipeline.social_auth.social_user',
        'social_core.pipeline.user.get_username',
        'social_core.pipeline.user.create_user',
        'social_core.pipeline.social_auth.associate_user',
        'social_core.pipeline.social_auth.load_extra_data',
        'social_core.pipeline.user.user_details',
    ]
)
def test_admin_supplied_pipeline_is_honoured(sign_in, netbox_groups):
    with plugin_config(group_map=MAP):
        sign_in('alice', ['netbox-users'])
    assert User.objects.filter(username='alice').exists()
    assert groups_of('alice') == set()  # the admin's pipeline has no sync_groups step


def test_sync_queries_do_not_grow_with_group_count(netbox_groups):
    """A user with 1,000 Authentik groups costs the same queries as one with 3."""
    from netbox_authentik.pipeline import sync_groups

    Group.objects.bulk_create([Group(name=f'g{i:04}') for i in range(1000)])

    class Backend:
        name = 'authentik'

        def __init__(self, groups):
            self.groups = groups

        def authentik_groups(self, response):
            return self.groups

    def queries_for(count):
        user = User.objects.create(username=f'user{count}')
        names = [f'g{i:04}' for i in range(count)]
        group_map = {name: name for name in names} | {'gone': 'Manual'}
        user.groups.add(netbox_groups['Manual'])
        with plugin_config(group_map=group_map), CaptureQueriesContext(connection) as ctx:
            sync_groups(Backend(names), user=user, response={})
        assert groups_of(user.username) == set(names)
        return len(ctx.captured_queries)

    # The first sync of a process also loads the mapping rules kept in NetBox and NetBox's content types.
    queries_for(2)
    assert queries_for(3) == queries_for(1000)


def test_sync_that_changes_nothing_writes_nothing(netbox_groups):
    from netbox_authentik.pipeline import sync_groups

    class Backend:
        name = 'authentik'

        def authentik_groups(self, response):
            return ['netbox-users']

    user = User.objects.create(username='steady')
    user.groups.add(netbox_groups['Users'])
    with plugin_config(group_map=MAP, superuser_groups=['netbox-admins']), CaptureQueriesContext(connection) as ctx:
        sync_groups(Backend(), user=user, response={})
    writes = [q['sql'] for q in ctx.captured_queries if not q['sql'].lstrip().upper().startswith('SELECT')]
    assert writes == []
