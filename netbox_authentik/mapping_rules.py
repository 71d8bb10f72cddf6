"""The effective group mapping rules: PLUGINS_CONFIG's group_map and superuser_groups plus the enabled rules in NetBox.

Each process keeps the database rules in memory, tagged with a version token kept in Django's
cache (Redis, shared by every worker). Saving or deleting a rule, changing its NetBox groups, or
renaming or deleting a NetBox group replaces the token, so every worker reloads the rules at its
next sign-in: one query then, none while nothing changed, whatever the number of rules.
"""

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from . import settings as plugin_settings
from .groups import DATABASE, MappingRule, RuleIndex, configuration_rules, glob_problem, is_glob, plan_groups

logger = logging.getLogger(__name__)

VERSION_KEY = 'netbox_authentik:group_mappings:version'
GROUP_SETTINGS = (
    'group_sync',
    'group_map',
    'auto_create_groups',
    'group_filter',
    'protected_groups',
    'superuser_groups',
    'missing_groups_claim',
)


# This process's copy of the database rules and the version token they were loaded under, as one tuple
# so that a thread never sees the token of one load with the rules of another.
_loaded = (None, ())


def database_rules():
    """The enabled rules kept in NetBox, as MappingRules: from this process's memory while still current."""
    try:
        token = cache.get(VERSION_KEY)
        if token is None:
            # Never set, or Redis lost it: start a version that every worker then shares.
            cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
            token = cache.get(VERSION_KEY)
    except Exception as failure:  # Redis down: read the rules every time rather than fail the sign-in
        logger.warning(
            'Could not read the group mapping rules version from the cache (%s); reading the rules from the database.',
            type(failure).__name__,
        )
        return load_database_rules()
    loaded_token, rules = _loaded
    if token is None or token != loaded_token:
        rules = load_database_rules()
        _remember(token, rules)
    return rules


def _remember(token, rules):
    global _loaded
    _loaded = (token, rules)


def load_database_rules():
    """Read the enabled rules and their NetBox group names with one query, whatever their number."""
    from .models import GroupMapping

    rows = (
        GroupMapping.objects.filter(enabled=True)
        .order_by('pk')
        .values_list('pk', 'authentik_group', 'superuser', 'netbox_groups__name')
    )
    found = {}
    for pk, authentik_group, superuser, netbox_group in rows:
        rule = found.setdefault(pk, {'authentik_group': authentik_group, 'superuser': superuser, 'netbox_groups': []})
        if netbox_group is not None:
            rule['netbox_groups'].append(netbox_group)
    return tuple(
        MappingRule(
            rule['authentik_group'],
            tuple(sorted(rule['netbox_groups'])),
            superuser=rule['superuser'],
            source=DATABASE,
            glob=is_glob(rule['authentik_group']),
            rule_id=pk,
        )
        for pk, rule in found.items()
    )


def bump_version():
    """Make every worker reload the rules: now, and again once the change is committed.

    The second bump matters: a worker reading the rules between the first bump and the commit
    still sees the old rows, and would keep them under the new token.
    """

    def replace_token():
        try:
            cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        except Exception as failure:
            logger.warning(
                'Could not publish the new group mapping rules version (%s): other workers keep the '
                'rules they have until the next change.',
                type(failure).__name__,
            )

    replace_token()
    transaction.on_commit(replace_token)


def configuration():
    """The group settings plan_groups takes, with the enabled database rules as `rules`."""
    config = {name: plugin_settings.get(name) for name in GROUP_SETTINGS}
    config['rules'] = database_rules()
    return config


def plan_for(authentik_groups, current, config=None):
    """What the effective rules do to a user holding NetBox groups `current` who arrives with `authentik_groups`.

    The one call that sign-in, SCIM (group_sync) and the effective view (preview) share, so the view shows
    exactly what a sign-in would do.
    """
    from users.models import Group

    return plan_groups(
        authentik_groups,
        current,
        configuration() if config is None else config,
        default_groups=settings.REMOTE_AUTH_DEFAULT_GROUPS,
        max_name_length=Group._meta.get_field('name').max_length,
    )


def effective_rules(config=None):
    """Every rule in force: PLUGINS_CONFIG's first (group_map, then superuser_groups), then NetBox's."""
    config = configuration() if config is None else config
    return configuration_rules(config['group_map'], config['superuser_groups']) + tuple(config['rules'])


# -- what a linked user would get now ---------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """What the effective rules would do to one linked user at their next sign-in, from their last-seen groups."""

    authentik_groups: tuple | None
    current_groups: tuple
    is_superuser: bool
    # The Authentik groups some effective rule matches: those the rules act on.
    matched_groups: tuple = ()
    add: tuple = ()
    remove: tuple = ()
    superuser: bool | None = None
    claim_missing: bool = False

    @property
    def superuser_after(self):
        return self.is_superuser if self.superuser is None else self.superuser


def preview(association, config=None):
    """Apply the effective rules to the Authentik groups the link recorded at its last sign-in."""
    from users.models import Group

    from .linking import synced_groups

    config = configuration() if config is None else config
    user = association.user
    authentik_groups = synced_groups(association)
    current = frozenset(user.groups.values_list('name', flat=True))
    plan = plan_for(authentik_groups, current, config)
    existing = set(Group.objects.filter(name__in=plan.add).values_list('name', flat=True)) | plan.create
    index = RuleIndex(effective_rules(config))
    return Preview(
        matched_groups=tuple(name for name in authentik_groups or () if index.matching(name)),
        authentik_groups=None if authentik_groups is None else tuple(authentik_groups),
        current_groups=tuple(sorted(current)),
        is_superuser=user.is_superuser,
        # The sync adds only groups that exist (or that it creates); others are logged as missing.
        add=tuple(sorted(plan.add & existing)),
        remove=tuple(sorted(plan.remove)),
        superuser=plan.superuser,
        claim_missing=plan.claim_missing,
    )


# -- for `netbox authentik_check` -------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleFinding:
    """One line of `netbox authentik_check`: the same fields as the command's Finding."""

    check: str
    status: str
    message: str
    hint: str = ''

    def __iter__(self):
        return iter((self.check, self.status, self.message, self.hint))


CHECK = 'group_mapping_rules'


def describe(rule):
    """One line for a rule: its Authentik group, what it grants and where it comes from."""
    grants = [f"'{name}'" for name in rule.netbox_groups]
    if rule.superuser:
        grants.append('superuser')
    kind = 'glob ' if rule.glob else ''
    source = f'database rule #{rule.rule_id}' if rule.source == DATABASE else f'configuration ({rule.source})'
    return f"{kind}'{rule.authentik_group}' → {', '.join(grants) or 'nothing'} [{source}]"


def rule_findings():
    """The effective rules, one finding each, and warnings for rules that cannot do what they say."""
    try:
        return _rule_findings()
    except DatabaseError as failure:
        return [
            RuleFinding(
                CHECK,
                'error',
                f'Could not read the group mapping rules: {type(failure).__name__}.',
                'Check the database settings and run `netbox migrate`.',
            )
        ]


def _rule_findings():
    from users.models import Group

    config = configuration()
    rules = effective_rules(config)
    existing = set(
        Group.objects.filter(name__in={name for rule in rules for name in rule.netbox_groups}).values_list(
            'name', flat=True
        )
    )
    if config['group_sync'] == 'off':
        sync_note = ' group_sync is off: only superuser status is applied.'
    else:
        sync_note = ''
    if not rules:
        return [RuleFinding(CHECK, 'ok', f'No group mapping rules (configuration or NetBox).{sync_note}')]
    findings = [RuleFinding(CHECK, 'ok', f'{len(rules)} effective rule(s).{sync_note}')]
    findings += [RuleFinding(CHECK, 'ok', describe(rule)) for rule in rules]
    findings += _lapsed_writer_findings(rules)
    for rule in rules:
        if rule.source == DATABASE and not rule.netbox_groups and not rule.superuser:
            findings.append(
                RuleFinding(
                    CHECK,
                    'warning',
                    f"Database rule #{rule.rule_id} ('{rule.authentik_group}') maps onto no NetBox "
                    'group and grants no superuser status: it does nothing.',
                    'Its NetBox groups were probably deleted. Such a rule can no longer be edited: delete it at '
                    '/plugins/authentik/group-mappings/ and write a new one if needed.',
                )
            )
        missing = sorted(set(rule.netbox_groups) - existing)
        if missing and not (rule.source != DATABASE and config['auto_create_groups']):
            names = ', '.join(f"'{name}'" for name in missing)
            findings.append(
                RuleFinding(
                    CHECK,
                    'warning',
                    f'{describe(rule)} names NetBox group(s) that do not exist: {names}.',
                    'Create the groups in NetBox (Admin → Groups) or correct the rule.',
                )
            )
        if rule.glob and (problem := glob_problem(rule.authentik_group)):
            findings.append(
                RuleFinding(CHECK, 'warning', f'{describe(rule)}: not a valid glob: {problem}.', 'Correct the rule.')
            )
    return findings


def _lapsed_writer_findings(rules):
    """A warning for each database rule whose writer could no longer write it (models.writers_who_lost_authority)."""
    from .models import GroupMapping, writers_who_lost_authority

    by_id = {rule.rule_id: rule for rule in rules if rule.source == DATABASE}
    mappings = GroupMapping.objects.filter(pk__in=by_id).select_related('written_by').prefetch_related('netbox_groups')
    return [
        RuleFinding(
            CHECK,
            'warning',
            f'{describe(by_id[rule_id])}: {reason}, yet the rule still grants it.',
            'A rule keeps granting after its writer lost the right to write it. Review the rule at '
            f'/plugins/authentik/group-mappings/{rule_id}/: delete it, or have someone who holds what it grants '
            'save it again.',
        )
        for rule_id, reason in sorted(writers_who_lost_authority(mappings).items())
    ]


# -- signals: every change that alters the rules replaces the version token -------------------------------


@receiver((post_save, post_delete), sender='netbox_authentik.GroupMapping', dispatch_uid='nba_rules_saved')
def _rule_saved_or_deleted(sender, **kwargs):
    bump_version()


@receiver(m2m_changed, sender='netbox_authentik.GroupMapping_netbox_groups', dispatch_uid='nba_rule_groups')
def _rule_groups_changed(sender, action, **kwargs):
    if action in ('post_add', 'post_remove', 'post_clear'):
        bump_version()


@receiver((post_save, post_delete), sender='users.Group', dispatch_uid='nba_netbox_group_changed')
def _netbox_group_changed(sender, created=False, **kwargs):
    # A renamed group changes the names rules carry; a deleted one leaves its rules.
    if not created:
        bump_version()
