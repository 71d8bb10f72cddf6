"""The pure group mapping: Authentik groups plus settings in, NetBox changes out. No database."""

import pytest

from netbox_authentik.groups import (
    DATABASE,
    MappingRule,
    clean_groups_claim,
    configuration_rules,
    glob_problem,
    meets_required_groups,
    plan_groups,
)

BASE = {
    'group_sync': 'mirror',
    'group_map': {},
    'auto_create_groups': False,
    'group_filter': None,
    'protected_groups': [],
    'superuser_groups': None,
    'missing_groups_claim': 'keep',
}


def config(**overrides):
    return {**BASE, **overrides}


@pytest.mark.parametrize(
    ('raw', 'names', 'skipped'),
    [
        (['a', 'b'], ('a', 'b'), ()),
        ('netbox-admins', ('netbox-admins',), ()),
        ([], (), ()),
        (None, None, ()),
        (['a', 3, None, '', '  ', {'x': 1}, 'b'], ('a', 'b'), (3, None, '', '  ', {'x': 1})),
        (['a', 'a', 'b', 'a'], ('a', 'b'), ()),
        (['Admins', 'admins'], ('Admins', 'admins'), ()),
        (['Réseau Ops', 'net eng'], ('Réseau Ops', 'net eng'), ()),
        (42, None, (42,)),
        ({'groups': ['a']}, None, ({'groups': ['a']},)),
    ],
)
def test_groups_claim_is_cleaned_without_failing(raw, names, skipped):
    claim = clean_groups_claim(raw)
    assert claim.names == names
    assert claim.skipped == skipped


def test_mirror_adds_mapped_groups_and_removes_managed_ones_no_longer_sent():
    plan = plan_groups(
        ['network-engineers'],
        {'Admins', 'Manual'},
        config(group_map={'network-engineers': 'Engineers', 'netbox-admins': ['Admins', 'Ops']}),
    )
    assert plan.add == {'Engineers'}
    assert plan.remove == {'Admins'}  # managed (a group_map target) and no longer sent; 'Manual' is not managed
    assert plan.create == frozenset()


def test_add_mode_never_removes():
    plan = plan_groups([], {'Admins'}, config(group_sync='add', group_map={'netbox-admins': 'Admins'}))
    assert plan.add == frozenset() and plan.remove == frozenset()


def test_off_mode_touches_no_group_but_still_decides_superuser():
    plan = plan_groups(
        ['netbox-admins'],
        {'Admins'},
        config(group_sync='off', group_map={'x': 'Y'}, superuser_groups=['netbox-admins']),
    )
    assert (plan.add, plan.remove, plan.superuser) == (frozenset(), frozenset(), True)


def test_unmapped_groups_are_ignored_without_auto_create():
    plan = plan_groups(['authentik Admins', 'netbox-users'], set(), config(group_map={'netbox-users': 'Users'}))
    assert plan.add == {'Users'} and plan.create == frozenset()


def test_auto_create_respects_group_filter():
    plan = plan_groups(
        ['netbox-ops', 'authentik Admins'], set(), config(auto_create_groups=True, group_filter='netbox-*')
    )
    assert plan.add == {'netbox-ops'} and plan.create == {'netbox-ops'}


def test_auto_created_groups_are_managed_by_filter_and_mirrored():
    plan = plan_groups([], {'netbox-old', 'Manual'}, config(auto_create_groups=True, group_filter=['netbox-*']))
    assert plan.remove == {'netbox-old'}


def test_protected_and_default_groups_are_never_removed():
    plan = plan_groups(
        [],
        {'Admins', 'Default', 'Keep'},
        config(group_map={'a': ['Admins', 'Default', 'Keep']}, protected_groups=['Keep']),
        default_groups=['Default'],
    )
    assert plan.remove == {'Admins'}


def test_matching_is_exact_and_case_sensitive():
    plan = plan_groups(
        ['Network-Engineers'],
        set(),
        config(group_map={'network-engineers': 'Engineers'}, superuser_groups=['netbox-admins']),
    )
    assert plan.add == frozenset() and plan.superuser is False


def test_superuser_only_from_superuser_groups_never_from_lookalikes():
    cfg = config(superuser_groups=['netbox-admins'])
    assert plan_groups(['netbox-admins'], set(), cfg).superuser is True
    for lookalike in (['superusers'], ['netbox-admins '], ['NetBox-Admins'], ['netbox-admins-x'], ['admins']):
        assert plan_groups(lookalike, set(), cfg).superuser is False


def test_superuser_none_leaves_status_alone():
    assert plan_groups(['superusers'], set(), config()).superuser is None


def test_missing_claim_keep_changes_nothing():
    plan = plan_groups(None, {'Admins'}, config(group_map={'a': 'Admins'}, superuser_groups=['a']))
    assert plan.claim_missing and plan.superuser is None and not plan.changes_groups


def test_missing_claim_clear_treats_it_as_empty_list():
    plan = plan_groups(
        None, {'Admins'}, config(group_map={'a': 'Admins'}, superuser_groups=['a'], missing_groups_claim='clear')
    )
    assert plan.remove == {'Admins'} and plan.superuser is False


def test_wrong_setting_values_fall_back_to_defaults_at_run_time(settings):
    from netbox_authentik import settings as plugin_settings

    settings.PLUGINS_CONFIG = {
        'netbox_authentik': {
            'http_timeout': 0,
            'metadata_cache_seconds': -5,
            'group_sync': 'sync',
            'auto_create_groups': 'yes',
        }
    }
    assert plugin_settings.get('http_timeout') == 10
    assert plugin_settings.get('metadata_cache_seconds') == 3600
    assert plugin_settings.get('group_sync') == 'mirror'
    assert plugin_settings.get('auto_create_groups') is False


def test_names_longer_than_netbox_allows_are_left_out_and_reported():
    long_name = 'x' * 151
    plan = plan_groups(
        ['netbox-users', long_name, 'legacy'],
        {'Local'},
        config(auto_create_groups=True, group_map={'legacy': 'y' * 151}),
        max_name_length=150,
    )
    assert plan.add == {'netbox-users'}
    assert plan.create == {'netbox-users'}
    assert plan.too_long == {long_name, 'y' * 151}


def test_a_name_of_exactly_the_limit_is_kept():
    plan = plan_groups(['x' * 150], set(), config(auto_create_groups=True), max_name_length=150)
    assert plan.create == {'x' * 150}
    assert plan.too_long == frozenset()


# -- mapping rules kept in NetBox (MappingRule) next to group_map and superuser_groups ------------------------


def db_rule(authentik_group, *netbox_groups, superuser=False):
    return MappingRule(
        authentik_group,
        netbox_groups,
        superuser=superuser,
        source=DATABASE,
        glob=any(c in authentik_group for c in '*?['),
    )


def test_rules_and_group_map_are_one_list():
    plan = plan_groups(
        ['netbox-users', 'ops-core'], [], config(group_map={'netbox-users': 'Users'}, rules=(db_rule('ops-*', 'Ops'),))
    )
    assert plan.add == {'Users', 'Ops'}


def test_glob_rules_match_case_sensitively_and_exact_rules_literally():
    rules = (db_rule('ops-*', 'Ops'), db_rule('team-[ab]', 'Teams'), db_rule('lit-[[]x]', 'Literal'))
    plan = plan_groups(['OPS-core', 'team-a', 'team-c', 'lit-[x]'], [], config(rules=rules))
    assert plan.add == {'Teams', 'Literal'}


def test_superuser_from_a_rule_manages_status_without_superuser_groups():
    rules = (db_rule('ak-admins', superuser=True),)
    assert plan_groups(['ak-admins'], [], config(rules=rules)).superuser is True
    assert plan_groups(['other'], [], config(rules=rules)).superuser is False
    assert plan_groups(['other'], [], config(rules=(db_rule('x', 'X'),))).superuser is None


def test_groups_of_every_rule_are_managed_under_mirror():
    plan = plan_groups([], ['Ops', 'Manual'], config(rules=(db_rule('ops-*', 'Ops'),)))
    assert plan.remove == {'Ops'}


def test_a_group_group_map_matches_is_not_auto_created():
    plan = plan_groups(['ops-core', 'misc'], [], config(auto_create_groups=True, group_map={'ops-core': 'Ops'}))
    assert plan.add == {'Ops', 'misc'} and plan.create == {'misc'}


def test_a_database_rule_adds_its_groups_and_the_matched_group_is_still_auto_created():
    plan = plan_groups(['ops-core', 'misc'], [], config(auto_create_groups=True, rules=(db_rule('ops-*', 'Ops'),)))
    assert plan.add == {'Ops', 'ops-core', 'misc'} and plan.create == {'ops-core', 'misc'}


def test_a_database_rule_granting_nothing_cannot_strip_auto_created_groups():
    # A '*' rule with no NetBox group, written by someone who holds none: every auto-created group stays.
    current = {'netbox-users', 'network-engineers'}
    plan = plan_groups(current, current, config(auto_create_groups=True, rules=(db_rule('*'),)))
    assert plan.remove == frozenset() and plan.add == frozenset()


def test_configuration_rules_keep_their_sources_and_order():
    assert configuration_rules({'a': ['A', 'B'], 'b': 'B'}, ['admins']) == (
        MappingRule('a', ('A', 'B'), source='group_map'),
        MappingRule('b', ('B',), source='group_map'),
        MappingRule('admins', superuser=True, source='superuser_groups'),
    )


@pytest.mark.parametrize(
    ('pattern', 'problem'),
    [
        ('ops-*', ''),
        ('team-[ab]', ''),
        ('[!x]y', ''),
        ('[]]', ''),
        ('plain', ''),
        ('ops-[', 'never closed'),
        ('[!', 'never closed'),
        ('[z-a]', 'matches nothing'),
    ],
)
def test_glob_problems(pattern, problem):
    found = glob_problem(pattern)
    assert (problem in found) if problem else found == ''


@pytest.mark.parametrize(
    ('authentik_groups', 'required_groups', 'allowed'),
    [
        (('netbox-users',), [], True),
        ((), [], True),
        (None, [], True),
        (('netbox-users',), ['netbox-users'], True),
        (('netbox-admins', 'other'), ['netbox-*'], True),
        (('NetBox-Users',), ['netbox-users'], False),
        (('other',), ['netbox-users', 'netbox-*'], False),
        ((), ['netbox-users'], False),
        (None, ['netbox-users'], False),
    ],
)
def test_required_groups_let_in_only_members(authentik_groups, required_groups, allowed):
    assert meets_required_groups(authentik_groups, required_groups) is allowed
