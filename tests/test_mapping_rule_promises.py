"""What docs/groups.md promises about group mapping rules kept in NetBox, each pinned by a test that can fail.

Every worker keeps the rules in memory under a version token in Redis: a change that does not replace the
token leaves the other workers on the old rules, which is what the token checks below catch.
"""

import logging

import pytest
from django.core.cache import cache
from django_redis.cache import RedisCache
from social_django.models import UserSocialAuth
from users.models import User

from netbox_authentik.filtersets import GroupMappingFilterSet
from netbox_authentik.groups import rules as mapping_rules
from netbox_authentik.models import GroupMapping
from tests.fake_authentik import authentik_claims
from tests.test_group_mapping_sync import (
    groups_of,
    netbox_groups,
    plugin_config,
    rule,
    sign_in,
    user_changes,
)

pytestmark = pytest.mark.django_db
# Fixtures of tests/test_group_mapping_sync.py, requested here by name.
SHARED_FIXTURES = (sign_in, netbox_groups)


# -- every change to a rule's NetBox groups reaches every worker ------------------------------------------


@pytest.mark.parametrize('change', ['remove', 'clear', 'add', 'set'])
def test_changing_a_rules_netbox_groups_replaces_the_version_every_worker_reads(netbox_groups, change):
    mapping = rule('network-engineers', netbox_groups['Engineers'], netbox_groups['Ops'])
    assert mapping_rules.database_rules()[0].netbox_groups == ('Engineers', 'Ops')
    token = cache.get(mapping_rules.VERSION_KEY)

    related = mapping.netbox_groups
    expected = {
        'remove': lambda: (related.remove(netbox_groups['Ops']), ('Engineers',))[1],
        'clear': lambda: (related.clear(), ())[1],
        'add': lambda: (related.add(netbox_groups['Admins']), ('Admins', 'Engineers', 'Ops'))[1],
        'set': lambda: (related.set([netbox_groups['Users']]), ('Users',))[1],
    }[change]()

    assert cache.get(mapping_rules.VERSION_KEY) != token
    # This process still holds the old rules in memory: only the new token makes it reload them.
    assert mapping_rules.database_rules()[0].netbox_groups == expected


# -- Redis down: the rules come from the database ----------------------------------------------------------


def unreachable_redis():
    """A real Redis client for a port nothing listens on: every call fails as with Redis down."""
    return RedisCache('redis://127.0.0.1:1/0', {'OPTIONS': {'SOCKET_CONNECT_TIMEOUT': 1, 'SOCKET_TIMEOUT': 1}})


def test_sign_in_applies_the_database_rules_while_redis_is_down(sign_in, netbox_groups, monkeypatch, caplog):
    rule('network-*', netbox_groups['Engineers'])
    rule('netbox-admins', superuser=True)
    monkeypatch.setattr(mapping_rules, 'cache', unreachable_redis())

    response = sign_in('alice', ['network-engineers', 'netbox-admins'])

    assert response.status_code == 302 and response['Location'] == '/'
    assert groups_of('alice') == {'Engineers'}
    assert User.objects.get(username='alice').is_superuser
    assert 'reading the rules from the database' in caplog.text


def test_a_rule_change_while_redis_is_down_does_not_fail_and_applies(sign_in, netbox_groups, monkeypatch, caplog):
    mapping = rule('network-*', netbox_groups['Engineers'])
    monkeypatch.setattr(mapping_rules, 'cache', unreachable_redis())
    with caplog.at_level(logging.WARNING, logger='netbox_authentik'):
        mapping.netbox_groups.set([netbox_groups['Ops']])
    assert 'Could not publish the new group mapping rules version (ConnectionError): other workers keep' in (
        caplog.text
    )
    sign_in('alice', ['network-engineers'])
    assert groups_of('alice') == {'Ops'}


# -- the effective view --------------------------------------------------------------------------------


def linked(username, authentik_groups):
    user = User.objects.create(username=username)
    return UserSocialAuth.objects.create(
        user=user, provider='authentik', uid=username * 8, extra_data={'groups': list(authentik_groups)}
    )


def test_preview_never_offers_a_group_that_does_not_exist(netbox_groups):
    rule('ops-*', netbox_groups['Ops'])
    link = linked('alice', ['ops-core', 'network-engineers'])
    with plugin_config(group_map={'network-engineers': ['Ghosts', 'Engineers']}):
        preview = mapping_rules.preview(link)
    assert preview.add == ('Engineers', 'Ops')


def test_preview_offers_a_group_that_the_sign_in_would_create(netbox_groups):
    link = linked('alice', ['new-team'])
    with plugin_config(auto_create_groups=True, group_filter='new-*'):
        preview = mapping_rules.preview(link)
    assert preview.add == ('new-team',)


def test_preview_shows_the_groups_seen_and_those_a_rule_matches(netbox_groups):
    rule('ops-*', netbox_groups['Ops'])
    link = linked('alice', ['ops-core', 'unmatched', 'ops-edge'])

    preview = mapping_rules.preview(link)

    assert preview.authentik_groups == ('ops-core', 'unmatched', 'ops-edge')
    assert preview.matched_groups == ('ops-core', 'ops-edge')


def test_preview_and_effective_rules_follow_the_configuration_they_are_given(netbox_groups):
    rule('ops-*', netbox_groups['Ops'])
    link = linked('alice', ['ops-core', 'network-engineers'])
    given = {**mapping_rules.configuration(), 'group_map': {'network-engineers': 'Engineers'}}

    assert mapping_rules.preview(link, given).add == ('Engineers', 'Ops')
    assert mapping_rules.preview(link).add == ('Ops',)  # without one: the settings in force
    assert [r.authentik_group for r in mapping_rules.effective_rules(given)] == ['network-engineers', 'ops-*']
    assert [r.authentik_group for r in mapping_rules.effective_rules()] == ['ops-*']


# -- the change log -------------------------------------------------------------------------------------


def test_change_log_lists_exactly_the_groups_added_and_removed(sign_in, netbox_groups):
    rule('ops-*', netbox_groups['Ops'])
    rule('network-engineers', netbox_groups['Engineers'])
    alice = User.objects.create(username='alice')
    alice.groups.add(netbox_groups['Engineers'], netbox_groups['Manual'])
    UserSocialAuth.objects.create(user=alice, provider='authentik', uid=authentik_claims('alice')['sub'])

    # Ghosts is mapped but does not exist: it is not joined, so the change log must not list it.
    with plugin_config(group_map={'ops-core': ['Ghosts']}):
        sign_in('alice', ['ops-core'])

    assert groups_of('alice') == {'Manual', 'Ops'}
    [change] = user_changes('alice')
    assert change.prechange_data == {'groups': ['Engineers', 'Manual'], 'is_superuser': False}
    assert change.postchange_data == {'groups': ['Manual', 'Ops'], 'is_superuser': False}


# -- the rule list's filters filter ---------------------------------------------------------------------


def filtered(**query):
    found = GroupMappingFilterSet(query, GroupMapping.objects.all()).qs
    return sorted(found.values_list('authentik_group', flat=True))


def test_rule_list_filters_leave_rules_out(netbox_groups):
    rule('ops-*', netbox_groups['Ops'])
    rule('team-?', netbox_groups['Engineers'])
    rule('site-[ab]', netbox_groups['Users'])
    rule('netbox-admins', superuser=True)
    rule('network-engineers', netbox_groups['Engineers'], netbox_groups['Ops'])
    GroupMapping.objects.filter(authentik_group='network-engineers').update(description='core routing team')

    everything = filtered()
    assert len(everything) == 5
    assert filtered(glob='true') == ['ops-*', 'site-[ab]', 'team-?']
    assert filtered(glob='false') == ['netbox-admins', 'network-engineers']
    assert filtered(netbox_group_id=[netbox_groups['Ops'].pk]) == ['network-engineers', 'ops-*']
    assert filtered(q='routing') == ['network-engineers']
    assert filtered(q='site') == ['site-[ab]']


def test_rule_list_page_filters_leave_rules_out(client, netbox_groups):
    client.force_login(User.objects.create_user('root', is_superuser=True))
    rule('ops-*', netbox_groups['Ops'])
    rule('network-engineers', netbox_groups['Engineers'])
    page = client.get('/plugins/authentik/group-mappings/', {'glob': 'true'}).content.decode()
    assert 'ops-*' in page and 'network-engineers' not in page
    page = client.get('/plugins/authentik/group-mappings/', {'netbox_group_id': netbox_groups['Engineers'].pk})
    assert 'network-engineers' in page.content.decode() and 'ops-*' not in page.content.decode()
    page = client.get('/plugins/authentik/group-mappings/', {'q': 'network'}).content.decode()
    assert 'network-engineers' in page and 'ops-*' not in page


def test_rules_the_database_cannot_read_are_an_error_finding_not_a_crash(monkeypatch):
    from django.db import DatabaseError

    def unreadable():
        raise DatabaseError('relation "netbox_authentik_groupmapping" does not exist')

    monkeypatch.setattr(mapping_rules, '_rule_findings', unreadable)

    [finding] = mapping_rules.rule_findings()

    assert (finding.status, finding.message) == ('error', 'Could not read the group mapping rules: DatabaseError.')
    assert finding.hint == 'Check the database settings and run `netbox migrate`.'


def test_a_rule_whose_glob_cannot_be_read_is_a_warning_finding(netbox_groups):
    # The form refuses such a glob; a row written past it (raw SQL, an old version) is still reported.
    rule('ops-[core', netbox_groups['Ops'])

    findings = mapping_rules.rule_findings()

    warnings = [finding.message for finding in findings if finding.status == 'warning']
    assert len(warnings) == 1 and ': not a valid glob: ' in warnings[0], warnings


@pytest.mark.parametrize('auto_create, warned', [(False, True), (True, False)])
def test_a_mapped_group_that_does_not_exist_is_a_warning_unless_the_sync_creates_it(auto_create, warned):
    with plugin_config(group_map={'new-team': 'New Team'}, auto_create_groups=auto_create):
        findings = mapping_rules.rule_findings()

    warnings = [finding.message for finding in findings if finding.status == 'warning']
    missing = "'new-team' → 'New Team' [configuration (group_map)] names NetBox group(s) that do not exist: 'New Team'."
    assert warnings == ([missing] if warned else [])
