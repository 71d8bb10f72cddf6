"""Applying a user's Authentik groups to NetBox: managed groups and superuser status, change-logged.

Sign-in (pipeline.sync_groups, from the groups claim) and SCIM provisioning (from the groups Authentik
pushed) both call apply_authentik_groups: one set of rules (mapping_rules.plan_for, which the effective
view uses too), one way of writing them.
"""

import logging

from ..logsafe import safe, safe_names
from . import rules as mapping_rules
from . import user_changes

logger = logging.getLogger('netbox_authentik.group_sync')  # the name admins configure (README: Logging)


def apply_authentik_groups(user, authentik_groups, *, message, config=None, actor=None, actor_name=None):
    """Apply Authentik's groups (names, or None when unknown) to `user`.

    The change is recorded in NetBox's change log with `message`, caused by `actor` (default: the user).
    """
    from users.models import Group

    current = set(user.groups.values_list('name', flat=True))
    before = user_changes.user_state(current, user.is_superuser)
    # PLUGINS_CONFIG plus the enabled rules kept in NetBox (at most one query, when they changed).
    plan = mapping_rules.plan_for(authentik_groups, current, config)

    if plan.claim_missing:
        logger.warning(
            'Authentik sent no groups claim for %s; groups and superuser status left as they are '
            "(missing_groups_claim='keep'). Is the profile scope requested and mapped?",
            safe(user),
        )
    if plan.too_long:
        logger.warning(
            'Skipped %d group name(s) longer than NetBox allows for %s: %s',
            len(plan.too_long),
            safe(user),
            safe_names(sorted(plan.too_long)),
        )
    added = _apply_group_changes(user, plan, Group) if plan.changes_groups else []
    if plan.superuser is not None and plan.superuser != user.is_superuser:
        user.is_superuser = plan.superuser
        user.save(update_fields=['is_superuser'])
        logger.info(
            '%s superuser status for %s from Authentik groups', 'Granted' if plan.superuser else 'Revoked', safe(user)
        )
    # NetBox does not change-log users: the sync records its own changes, in the caller's transaction.
    after = user_changes.user_state((current - plan.remove) | set(added), user.is_superuser)
    user_changes.record_user_change(user, before, after, actor=actor, actor_name=actor_name, message=message)


def _apply_group_changes(user, plan, group_model):
    """Add and remove group memberships with a fixed number of queries, whatever the group count.

    Returns the names of the groups added.
    """
    if plan.create:
        group_model.objects.bulk_create([group_model(name=name) for name in sorted(plan.create)], ignore_conflicts=True)
    to_add = list(group_model.objects.filter(name__in=plan.add)) if plan.add else []
    missing = plan.add - {group.name for group in to_add}
    if missing:
        logger.warning('group_map names NetBox group(s) that do not exist: %s', safe_names(sorted(missing)))
    if to_add:
        user.groups.add(*to_add)
    if plan.remove:
        user.groups.remove(*group_model.objects.filter(name__in=plan.remove))
    added = sorted(group.name for group in to_add)
    if added or plan.remove:
        logger.info(
            'Synced Authentik groups for %s: added %d (%s); removed %d (%s)',
            safe(user),
            len(added),
            safe_names(added),
            len(plan.remove),
            safe_names(sorted(plan.remove)),
        )
    return added
