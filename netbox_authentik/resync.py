"""Re-apply the effective rules now to every linked user, from the Authentik groups last seen for them.

After a rule change people keep their groups until they next sign in. The groups last seen are those
the link recorded at the last sign-in or SCIM push (linking.synced_groups); a dry run asks the preview
(mapping_rules.preview), a real run the code a sign-in uses (group_sync.apply_authentik_groups), which
writes the same change-log entries.
"""

from dataclasses import dataclass

from django.db import transaction
from social_django.models import UserSocialAuth

from . import mapping_rules
from .group_sync import apply_authentik_groups
from .linking import PROVIDER, synced_groups

MESSAGE = 'Groups and superuser status re-applied from the effective rules (last-seen Authentik groups)'


@dataclass(frozen=True)
class UserResync:
    """What re-applying the rules did (or would do) to one linked NetBox user."""

    username: str
    add: tuple = ()
    remove: tuple = ()
    superuser: bool | None = None  # the new status when it changes, else None

    @property
    def changed(self):
        return bool(self.add or self.remove) or self.superuser is not None

    def describe(self):
        parts = [f'+{name}' for name in self.add] + [f'-{name}' for name in self.remove]
        if self.superuser is not None:
            parts.append('superuser granted' if self.superuser else 'superuser revoked')
        return f'{self.username}: {", ".join(parts) or "unchanged"}'


@dataclass(frozen=True)
class Summary:
    """A whole run: the users it changed or would change, those unchanged, and those with no groups recorded."""

    dry_run: bool
    changed: tuple
    unchanged: int
    no_groups_recorded: tuple

    def describe(self):
        verb = 'would change' if self.dry_run else 'changed'
        text = f'{len(self.changed)} linked user(s) {verb}, {self.unchanged} unchanged'
        if self.no_groups_recorded:
            text += f', {len(self.no_groups_recorded)} skipped (no Authentik groups recorded yet)'
        return text + '.'


def resync(dry_run=False, username=None, actor=None, actor_name=None):
    """Re-apply the effective rules to every linked user (or the one named); return a Summary.

    One transaction: a failure changes nobody. The change log names `actor` (or `actor_name`) as the cause.
    """
    links = UserSocialAuth.objects.filter(provider=PROVIDER).select_related('user').order_by('user_id', '-pk')
    if username is not None:
        links = links.filter(user__username=username)
    config = mapping_rules.configuration()
    changed, unchanged, skipped, seen = [], 0, [], set()
    with transaction.atomic():
        for link in links:
            if link.user_id in seen:
                continue  # a second identity of the same user: the newest link speaks for them
            seen.add(link.user_id)
            authentik_groups = synced_groups(link)
            if authentik_groups is None:
                skipped.append(link.user.username)
                continue
            outcome = _preview(link, config) if dry_run else _apply(link, authentik_groups, config, actor, actor_name)
            if outcome.changed:
                changed.append(outcome)
            else:
                unchanged += 1
    return Summary(dry_run, tuple(changed), unchanged, tuple(skipped))


def _preview(link, config):
    preview = mapping_rules.preview(link, config)
    superuser = preview.superuser if preview.superuser_after != preview.is_superuser else None
    return UserResync(link.user.username, preview.add, preview.remove, superuser)


def _apply(link, authentik_groups, config, actor, actor_name):
    user = link.user
    before = set(user.groups.values_list('name', flat=True))
    was_superuser = user.is_superuser
    apply_authentik_groups(user, authentik_groups, message=MESSAGE, config=config, actor=actor, actor_name=actor_name)
    after = set(user.groups.values_list('name', flat=True))
    superuser = user.is_superuser if user.is_superuser != was_superuser else None
    return UserResync(user.username, tuple(sorted(after - before)), tuple(sorted(before - after)), superuser)
