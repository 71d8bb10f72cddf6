"""Mapping Authentik groups onto NetBox groups and superuser status, as pure logic (no database).

Matching is exact and case-sensitive, as NetBox group names are: 'Admins' and 'admins' are
two different groups.
"""

from dataclasses import dataclass, field
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class GroupsClaim:
    """The `groups` claim after clean-up: the names, or None when Authentik sent no usable claim."""

    names: tuple[str, ...] | None
    skipped: tuple = ()


@dataclass(frozen=True)
class GroupPlan:
    """What one sign-in should change: NetBox groups to add, remove and create, and superuser status."""

    add: frozenset[str] = field(default_factory=frozenset)
    remove: frozenset[str] = field(default_factory=frozenset)
    create: frozenset[str] = field(default_factory=frozenset)
    superuser: bool | None = None
    claim_missing: bool = False
    # NetBox group names longer than NetBox allows: never created or joined, so the sign-in goes on.
    too_long: frozenset[str] = field(default_factory=frozenset)

    @property
    def changes_groups(self):
        return bool(self.add or self.remove)


def clean_groups_claim(raw):
    """Return the usable group names of a raw `groups` claim: a list, a single string, or nothing.

    Non-string and empty items are skipped (and returned in `skipped`); duplicates collapse.
    """
    if raw is None:
        return GroupsClaim(None)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        return GroupsClaim(None, skipped=(raw,))
    names, skipped, seen = [], [], set()
    for item in raw:
        if not isinstance(item, str) or not item.strip():
            skipped.append(item)
        elif item not in seen:
            seen.add(item)
            names.append(item)
    return GroupsClaim(tuple(names), tuple(skipped))


def _as_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else [item for item in value if isinstance(item, str)]


def mapped_netbox_groups(authentik_group, group_map):
    """Return the NetBox group names one Authentik group maps to through group_map."""
    return _as_list(group_map.get(authentik_group))


def matches_filter(name, group_filter):
    """True when an Authentik group name passes group_filter (a glob or list of globs; None passes all)."""
    patterns = _as_list(group_filter)
    return not patterns or any(fnmatchcase(name, pattern) for pattern in patterns)


def plan_groups(authentik_groups, current_groups, config, default_groups=(), max_name_length=None):
    """Decide the NetBox side of one sign-in.

    authentik_groups: the cleaned claim (a sequence of names) or None when it was missing.
    current_groups: the NetBox group names the user is in now.
    config: the plugin settings (group_sync, group_map, auto_create_groups, group_filter,
    protected_groups, superuser_groups, missing_groups_claim).
    default_groups: REMOTE_AUTH_DEFAULT_GROUPS, never removed by the sync.
    max_name_length: NetBox's limit on group names; a longer desired name is left out (in `too_long`).
    """
    if authentik_groups is None:
        if config['missing_groups_claim'] != 'clear':
            return GroupPlan(claim_missing=True)
        authentik_groups = ()
    authentik_groups = set(authentik_groups)
    current_groups = set(current_groups)

    superuser = None
    if config['superuser_groups'] is not None:
        superuser = bool(authentik_groups & set(_as_list(config['superuser_groups'])))

    if config['group_sync'] == 'off':
        return GroupPlan(superuser=superuser)

    group_map = config['group_map'] or {}
    desired, create = set(), set()
    for name in authentik_groups:
        if name in group_map:
            desired.update(mapped_netbox_groups(name, group_map))
        elif config['auto_create_groups'] and matches_filter(name, config['group_filter']):
            desired.add(name)
            create.add(name)

    # Authentik allows names of any length; creating a longer one would fail the whole sign-in.
    too_long = {name for name in desired if max_name_length is not None and len(name) > max_name_length}
    desired -= too_long
    create -= too_long

    managed = {target for source in group_map for target in mapped_netbox_groups(source, group_map)}
    if config['auto_create_groups']:
        managed.update(name for name in current_groups if matches_filter(name, config['group_filter']))

    remove = set()
    if config['group_sync'] == 'mirror':
        never_removed = set(_as_list(config['protected_groups'])) | set(default_groups)
        remove = (current_groups & managed) - desired - never_removed
    return GroupPlan(
        add=frozenset(desired - current_groups),
        remove=frozenset(remove),
        create=frozenset(create - current_groups),
        superuser=superuser,
        too_long=frozenset(too_long),
    )
