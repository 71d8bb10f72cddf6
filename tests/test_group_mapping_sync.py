"""Rules kept in NetBox at sign-in: combined with PLUGINS_CONFIG, applied without a restart, written to NetBox's
change log, at a constant number of queries; the effective-rules page and `netbox authentik_check`."""

import html
import io

import pytest
import responses
from core.models import ObjectChange
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from social_django.models import UserSocialAuth
from users.models import Group, User

from netbox_authentik import mapping_rules
from netbox_authentik.models import GroupMapping
from netbox_authentik.user_changes import record_user_change, user_state
from tests.fake_authentik import FakeAuthentik, authentik_claims, begin_sign_in, complete_sign_in
from tests.test_association_views import grant

pytestmark = pytest.mark.django_db

EFFECTIVE_URL = '/plugins/authentik/group-mappings/effective/'


def plugin_config(**values):
    return override_settings(PLUGINS_CONFIG={'netbox_authentik': values})


@pytest.fixture
def sign_in(client):
    """Sign in through Authentik as `username` with the given groups claim; return the callback's response."""

    def _sign_in(username='alice', groups=('netbox-users',)):
        client.logout()
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            fake = FakeAuthentik(mock)
            fake.register_metadata()
            query = begin_sign_in(client)
            fake.register_token(fake.sign(authentik_claims(username, groups=groups, nonce=query['nonce'])))
            return complete_sign_in(client, query['state'])

    return _sign_in


@pytest.fixture
def netbox_groups():
    return {name: Group.objects.create(name=name) for name in ('Admins', 'Engineers', 'Users', 'Manual', 'Ops')}


def rule(authentik_group, *netbox_groups, superuser=False, enabled=True):
    mapping = GroupMapping.objects.create(authentik_group=authentik_group, superuser=superuser, enabled=enabled)
    mapping.netbox_groups.set(netbox_groups)
    return mapping


def groups_of(username):
    return set(User.objects.get(username=username).groups.values_list('name', flat=True))


def is_superuser(username):
    return User.objects.get(username=username).is_superuser


# -- database rules and PLUGINS_CONFIG together ---------------------------------------------------------


def test_database_rules_and_configuration_combine(sign_in, netbox_groups):
    rule('network-*', netbox_groups['Engineers'])
    rule('netbox-admins', superuser=True)
    rule('retired', netbox_groups['Ops'], enabled=False)
    with plugin_config(group_map={'netbox-users': 'Users'}):
        sign_in('alice', ['netbox-users', 'network-engineers', 'retired'])
        assert groups_of('alice') == {'Users', 'Engineers'}
        assert not is_superuser('alice')
        sign_in('ada', ['netbox-admins', 'network-core'])
    assert groups_of('ada') == {'Engineers'}
    assert is_superuser('ada')


def test_configuration_superuser_groups_and_a_database_superuser_rule_both_grant(sign_in):
    rule('ak-admins', superuser=True)
    with plugin_config(superuser_groups=['netbox-admins']):
        sign_in('ada', ['netbox-admins'])
        sign_in('bob', ['ak-admins'])
        sign_in('carl', ['netbox-users'])
    assert (is_superuser('ada'), is_superuser('bob'), is_superuser('carl')) == (True, True, False)


def test_mirror_removes_groups_a_database_rule_manages(sign_in, netbox_groups):
    rule('network-engineers', netbox_groups['Engineers'])
    sign_in('alice', ['network-engineers'])
    User.objects.get(username='alice').groups.add(netbox_groups['Manual'])
    sign_in('alice', ['netbox-users'])
    assert groups_of('alice') == {'Manual'}


def test_disabled_rule_no_longer_manages_its_groups(sign_in, netbox_groups):
    mapping = rule('network-engineers', netbox_groups['Engineers'])
    sign_in('alice', ['network-engineers'])
    mapping.enabled = False
    mapping.save()
    sign_in('alice', [])
    assert groups_of('alice') == {'Engineers'}


def test_database_rules_are_ignored_by_add_mode_for_removal(sign_in, netbox_groups):
    rule('network-engineers', netbox_groups['Engineers'])
    with plugin_config(group_sync='add'):
        sign_in('alice', ['network-engineers'])
        sign_in('alice', [])
    assert groups_of('alice') == {'Engineers'}


def test_rule_added_changed_or_disabled_applies_at_the_next_sign_in(sign_in, netbox_groups):
    sign_in('alice', ['network-engineers'])
    assert groups_of('alice') == set()
    mapping = rule('network-*', netbox_groups['Engineers'])
    sign_in('alice', ['network-engineers'])
    assert groups_of('alice') == {'Engineers'}
    mapping.netbox_groups.set([netbox_groups['Ops']])
    sign_in('alice', ['network-engineers'])
    # No rule names Engineers any more: it is no longer managed, so the sync leaves it (as with group_map).
    assert groups_of('alice') == {'Engineers', 'Ops'}
    mapping.superuser = True
    mapping.save()
    sign_in('alice', ['network-engineers'])
    assert is_superuser('alice')
    mapping.delete()
    with plugin_config(superuser_groups=[]):
        sign_in('alice', ['network-engineers'])
    assert not is_superuser('alice')


def test_renamed_netbox_group_is_followed_at_once(sign_in, netbox_groups):
    rule('network-engineers', netbox_groups['Engineers'])
    mapping_rules.database_rules()
    netbox_groups['Engineers'].name = 'Network Engineers'
    netbox_groups['Engineers'].save()
    sign_in('alice', ['network-engineers'])
    assert groups_of('alice') == {'Network Engineers'}


def test_rule_left_without_groups_after_a_group_was_deleted_does_not_stop_sign_in(sign_in, netbox_groups):
    rule('network-engineers', netbox_groups['Engineers'])
    mapping_rules.database_rules()
    netbox_groups['Engineers'].delete()
    response = sign_in('alice', ['network-engineers'])
    assert response['Location'] == '/'
    assert groups_of('alice') == set()


def test_invalid_glob_stored_behind_the_forms_back_does_not_stop_sign_in(sign_in, netbox_groups):
    GroupMapping.objects.bulk_create([GroupMapping(authentik_group='ops-[')])
    response = sign_in('alice', ['ops-['])
    assert response['Location'] == '/'


# -- the per-process cache --------------------------------------------------------------------------------


def test_rules_are_read_once_then_again_only_after_a_change(netbox_groups):
    rule('a', netbox_groups['Ops'])
    with CaptureQueriesContext(connection) as first:
        assert [r.authentik_group for r in mapping_rules.database_rules()] == ['a']
    with CaptureQueriesContext(connection) as cached:
        mapping_rules.database_rules()
    rule('b', netbox_groups['Ops'])
    with CaptureQueriesContext(connection) as after_change:
        assert [r.authentik_group for r in mapping_rules.database_rules()] == ['a', 'b']
    assert (len(first), len(cached), len(after_change)) == (1, 0, 1)


def test_another_process_changing_the_version_makes_this_one_reload(netbox_groups):
    """What another worker's save leaves in Redis: a new version token, and the rows in the database."""
    mapping_rules.database_rules()
    GroupMapping.objects.bulk_create([GroupMapping(authentik_group='from-elsewhere')])  # no signal here
    assert mapping_rules.database_rules() == ()
    cache.set(mapping_rules.VERSION_KEY, 'set-by-another-worker', timeout=None)
    assert [r.authentik_group for r in mapping_rules.database_rules()] == ['from-elsewhere']


def test_version_is_bumped_again_when_the_change_commits(netbox_groups, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        rule('a', netbox_groups['Ops'])
    before_commit = cache.get(mapping_rules.VERSION_KEY)
    for callback in callbacks:
        callback()
    assert cache.get(mapping_rules.VERSION_KEY) != before_commit


# -- constant queries -----------------------------------------------------------------------------------


class Backend:
    name = 'authentik'

    def __init__(self, groups):
        self.groups = groups

    def authentik_groups(self, response):
        return self.groups


def sync_queries(rule_count):
    """Queries of one sign-in's group sync with rule_count database rules, cold (rules just changed) and warm."""
    from netbox_authentik.pipeline import sync_groups

    ops = Group.objects.get_or_create(name='Ops')[0]
    GroupMapping.objects.all().delete()
    mappings = GroupMapping.objects.bulk_create(
        [GroupMapping(authentik_group=f'team-{n:04}') for n in range(rule_count - 1)]
        + [GroupMapping(authentik_group='ops-*', superuser=True)]
    )
    GroupMapping.netbox_groups.through.objects.bulk_create(
        [GroupMapping.netbox_groups.through(groupmapping=m, group=ops) for m in mappings]
    )
    counts = []
    for attempt in ('cold', 'warm'):
        if attempt == 'cold':
            mapping_rules.bump_version()
        user = User.objects.create(username=f'user{User.objects.count()}')
        with CaptureQueriesContext(connection) as queries:
            sync_groups(Backend(['ops-core', 'team-0000']), user=user, response={})
        assert groups_of(user.username) == {'Ops'} and is_superuser(user.username)
        counts.append(len(queries))
    return counts


def test_sign_in_costs_the_same_queries_with_one_rule_and_with_a_thousand():
    sync_queries(1)  # NetBox's content types, cached for the process after the first change-log entry
    one, thousand = sync_queries(1), sync_queries(1000)
    assert one == thousand
    cold, warm = one
    assert cold == warm + 1


# -- NetBox's change log ----------------------------------------------------------------------------------


def user_changes(username):
    user = User.objects.get(username=username)
    return list(
        ObjectChange.objects.filter(
            changed_object_type__app_label='users', changed_object_type__model='user', changed_object_id=user.pk
        ).order_by('time')
    )


def test_sign_in_that_changes_groups_and_superuser_is_in_the_change_log(sign_in, netbox_groups, client):
    rule('network-engineers', netbox_groups['Engineers'])
    rule('netbox-admins', superuser=True)
    User.objects.create(username='alice').groups.add(netbox_groups['Manual'])
    UserSocialAuth.objects.create(
        user=User.objects.get(username='alice'), provider='authentik', uid=authentik_claims('alice')['sub']
    )
    response = sign_in('alice', ['network-engineers', 'netbox-admins'])

    [change] = user_changes('alice')
    assert change.action == 'update'
    assert change.user_name == 'alice'
    assert change.user == User.objects.get(username='alice')
    assert str(change.request_id) == response['X-Request-ID']
    assert change.prechange_data == {'groups': ['Manual'], 'is_superuser': False}
    assert change.postchange_data == {'groups': ['Engineers', 'Manual'], 'is_superuser': True}
    assert change.message == 'Groups and superuser status synced from Authentik at sign-in'

    # A superuser now, alice sees it on NetBox's Changelog page, filtered to users.
    listing = html.unescape(client.get('/core/changelog/', {'changed_object_type': 'users.user'}).content.decode())
    assert 'alice' in listing and 'Groups and superuser status synced from Authentik' in listing
    detail = html.unescape(client.get(f'/core/changelog/{change.pk}/').content.decode())
    assert 'Engineers' in detail and 'is_superuser' in detail


def test_removal_and_revocation_are_recorded(sign_in, netbox_groups):
    rule('network-engineers', netbox_groups['Engineers'])
    rule('netbox-admins', superuser=True)
    sign_in('alice', ['network-engineers', 'netbox-admins'])
    sign_in('alice', [])
    first, second = user_changes('alice')
    assert first.postchange_data == {'groups': ['Engineers'], 'is_superuser': True}
    assert second.prechange_data == {'groups': ['Engineers'], 'is_superuser': True}
    assert second.postchange_data == {'groups': [], 'is_superuser': False}
    assert first.request_id != second.request_id


def test_sign_in_that_changes_nothing_records_nothing(sign_in, netbox_groups):
    rule('network-engineers', netbox_groups['Engineers'])
    sign_in('alice', ['network-engineers'])
    sign_in('alice', ['network-engineers'])
    assert len(user_changes('alice')) == 1
    sign_in('bob', ['unmapped'])
    assert user_changes('bob') == []


def test_failed_sign_in_leaves_no_change_log_entry(sign_in, netbox_groups, monkeypatch):
    rule('network-engineers', netbox_groups['Engineers'])
    sign_in('alice', [])

    def fail(*args, **kwargs):
        raise RuntimeError('database went away')

    monkeypatch.setattr('social_core.pipeline.social_auth.load_extra_data', fail)
    response = sign_in('alice', ['network-engineers'])
    assert response['Location'] == '/login/'
    assert groups_of('alice') == set()
    assert user_changes('alice') == []


def test_record_user_change_is_reusable_outside_sign_in():
    """As SCIM provisioning would call it: its own request id and actor name."""
    user = User.objects.create(username='carol')
    change = record_user_change(
        user,
        user_state([], False),
        user_state(['Ops'], False),
        request_id='12345678-1234-5678-1234-567812345678',
        actor_name='authentik SCIM',
    )
    assert (change.user, change.user_name, str(change.request_id)) == (
        None,
        'authentik SCIM',
        '12345678-1234-5678-1234-567812345678',
    )
    assert record_user_change(user, user_state(['Ops'], True), user_state(['Ops'], True)) is None


# -- the effective rules page -------------------------------------------------------------------------------


def test_effective_page_lists_configuration_and_database_rules_with_their_source(client, netbox_groups):
    client.force_login(User.objects.create_user('root', is_superuser=True))
    mapping = rule('ops-*', netbox_groups['Ops'])
    rule('retired', netbox_groups['Ops'], enabled=False)
    with plugin_config(group_map={'netbox-users': ['Users', 'Ghosts']}, superuser_groups=['netbox-admins']):
        page = html.unescape(client.get(EFFECTIVE_URL).content.decode())
    assert 'configuration.py: group_map' in page and 'configuration.py: superuser_groups' in page
    assert f'NetBox rule #{mapping.pk}' in page and 'ops-*' in page and 'glob' in page
    assert 'Ghosts <span class="badge text-bg-warning">does not exist</span>' in page
    assert 'retired' not in page


def test_effective_page_shows_what_a_linked_user_would_get_now(client, netbox_groups):
    client.force_login(User.objects.create_user('root', is_superuser=True))
    alice = User.objects.create(username='alice')
    alice.groups.add(netbox_groups['Engineers'], netbox_groups['Manual'])
    link = UserSocialAuth.objects.create(
        user=alice, provider='authentik', uid='a' * 64, extra_data={'groups': ['ops-core', 'netbox-admins']}
    )
    rule('ops-*', netbox_groups['Ops'])
    rule('network-engineers', netbox_groups['Engineers'])
    rule('netbox-admins', superuser=True)
    page = html.unescape(client.get(EFFECTIVE_URL, {'link': link.pk}).content.decode())
    would_add = page.split('id="would-add"')[1].split('</tr>')[0]
    would_remove = page.split('id="would-remove"')[1].split('</tr>')[0]
    superuser = page.split('id="would-superuser"')[1].split('</tr>')[0]
    assert 'Ops' in would_add and 'Engineers' not in would_add
    assert 'Engineers' in would_remove and 'Manual' not in would_remove
    assert 'yes' in superuser and 'would be granted' in superuser
    # Only a preview: nothing changed.
    assert groups_of('alice') == {'Engineers', 'Manual'}


def test_effective_page_needs_view_permission_and_previews_only_with_link_permission(client, netbox_groups):
    user = User.objects.create_user('viewer')
    client.force_login(user)
    assert client.get(EFFECTIVE_URL).status_code == 403
    grant(user, 'netbox_authentik.groupmapping', ['view'])
    page = client.get(EFFECTIVE_URL).content.decode()
    assert 'Rules in force' in page and 'What a linked user would get now' not in page


# -- netbox authentik_check -------------------------------------------------------------------------------


def check_lines():
    stdout = io.StringIO()
    try:
        call_command('authentik_check', stdout=stdout, stderr=io.StringIO())
    except Exception:
        pass
    return [line for line in stdout.getvalue().splitlines() if 'group_mapping_rules:' in line]


def test_authentik_check_prints_the_effective_rules_and_flags_rules_that_do_nothing(authentik, netbox_groups):
    broken = rule('network-engineers', netbox_groups['Engineers'])
    rule('ops-*', netbox_groups['Ops'], superuser=True)
    netbox_groups['Engineers'].delete()
    with plugin_config(group_map={'netbox-users': 'Ghosts'}):
        lines = check_lines()
    assert lines == [
        '✓ group_mapping_rules: 3 effective rule(s).',
        "✓ group_mapping_rules: 'netbox-users' → 'Ghosts' [configuration (group_map)]",
        f"✓ group_mapping_rules: 'network-engineers' → nothing [database rule #{broken.pk}]",
        f"✓ group_mapping_rules: glob 'ops-*' → 'Ops', superuser [database rule #{broken.pk + 1}]",
        "! group_mapping_rules: 'netbox-users' → 'Ghosts' [configuration (group_map)] names NetBox group(s) that do "
        "not exist: 'Ghosts'. — Create the groups in NetBox (Admin → Groups) or correct the rule.",
        f"! group_mapping_rules: Database rule #{broken.pk} ('network-engineers') maps onto no NetBox group and grants "
        'no superuser status: it does nothing. — Its NetBox groups were probably deleted. Such a rule can no '
        'longer be edited: delete it at /plugins/authentik/group-mappings/ and write a new one if needed.',
    ]
