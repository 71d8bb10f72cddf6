"""Mapping Authentik groups onto NetBox groups and superuser status, as pure logic (no database).

Matching is exact and case-sensitive, as NetBox group names are: 'Admins' and 'admins' are
two different groups. Rules kept in NetBox (MappingRule, source 'database') may be globs.
"""

from dataclasses import dataclass, field
from fnmatch import fnmatchcase, translate

# Where a mapping rule comes from: PLUGINS_CONFIG's two settings, or a GroupMapping object in NetBox.
GROUP_MAP = 'group_map'
SUPERUSER_GROUPS = 'superuser_groups'
DATABASE = 'database'
GLOB_CHARACTERS = frozenset('*?[')


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


@dataclass(frozen=True)
class MappingRule:
    """One rule: an Authentik group (exact, or a glob when `glob`) onto NetBox group names and superuser status."""

    authentik_group: str
    netbox_groups: tuple[str, ...] = ()
    superuser: bool = False
    source: str = DATABASE
    glob: bool = False
    # The GroupMapping's id, for rules from the database.
    rule_id: int | None = None

    def matches(self, name):
        return fnmatchcase(name, self.authentik_group) if self.glob else name == self.authentik_group


def is_glob(pattern):
    """True when a rule's Authentik group is a glob (holds *, ? or [), not an exact name."""
    return not GLOB_CHARACTERS.isdisjoint(pattern)


def glob_problem(pattern):
    """Return what is wrong with a glob ('' when nothing): an unclosed [ or a class that matches nothing.

    fnmatch would silently read an unclosed [ as a literal and a reversed range as nothing at all.
    """
    position, length = 0, len(pattern)
    while position < length:
        character = pattern[position]
        position += 1
        if character != '[':
            continue
        end = position
        if end < length and pattern[end] == '!':
            end += 1
        if end < length and pattern[end] == ']':
            end += 1  # a ] first in a class is a literal ]
        end = pattern.find(']', end)
        if end < 0:
            return "a '[' is never closed by ']' (write [[] for a literal [)"
        position = end + 1
    if '(?!)' in translate(pattern):
        return 'a character range in it is reversed, such as [z-a], so it matches nothing'
    return ''


def configuration_rules(group_map, superuser_groups):
    """The rules PLUGINS_CONFIG's group_map and superuser_groups make (exact names only), in their order."""
    rules = [
        MappingRule(name, tuple(_as_list(targets)), source=GROUP_MAP)
        for name, targets in (group_map or {}).items()
        if isinstance(name, str)
    ]
    rules += [MappingRule(name, superuser=True, source=SUPERUSER_GROUPS) for name in _as_list(superuser_groups)]
    return tuple(rules)


class RuleIndex:
    """The rules, looked up by Authentik group: exact names by dictionary, globs one by one."""

    def __init__(self, rules):
        self.exact, self.globs = {}, []
        for rule in rules:
            if rule.glob:
                self.globs.append(rule)
            else:
                self.exact.setdefault(rule.authentik_group, []).append(rule)

    def matching(self, name):
        return self.exact.get(name, []) + [rule for rule in self.globs if rule.matches(name)]


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


def meets_required_groups(authentik_groups, required_groups):
    """True when one of the person's Authentik groups matches required_groups (names or globs; empty: anyone).

    authentik_groups is the cleaned claim (a sequence of names) or None when Authentik sent none: with
    required groups set, a person whose groups are unknown is refused, never let through.
    """
    patterns = _as_list(required_groups)
    if not patterns:
        return True
    return any(fnmatchcase(name, pattern) for name in authentik_groups or () for pattern in patterns)


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
    protected_groups, superuser_groups, missing_groups_claim), and optionally `rules`: more
    MappingRules (the enabled rules kept in NetBox), combined with the settings' own as one list.
    default_groups: REMOTE_AUTH_DEFAULT_GROUPS, never removed by the sync.
    max_name_length: NetBox's limit on group names; a longer desired name is left out (in `too_long`).
    """
    if authentik_groups is None:
        if config['missing_groups_claim'] != 'clear':
            return GroupPlan(claim_missing=True)
        authentik_groups = ()
    authentik_groups = set(authentik_groups)
    current_groups = set(current_groups)
    rules = configuration_rules(config['group_map'], config['superuser_groups']) + tuple(config.get('rules') or ())
    index = RuleIndex(rules)
    matched = {name: index.matching(name) for name in authentik_groups}

    # Superuser status is managed once superuser_groups is set (even to []) or any rule grants it.
    superuser = None
    if config['superuser_groups'] is not None or any(rule.superuser for rule in rules):
        superuser = any(rule.superuser for found in matched.values() for rule in found)

    if config['group_sync'] == 'off':
        return GroupPlan(superuser=superuser)

    desired, create = set(), set()
    for name in authentik_groups:
        # superuser_groups only grant status; the other rules add their NetBox groups.
        mapping = [rule for rule in matched[name] if rule.source != SUPERUSER_GROUPS]
        desired.update(target for rule in mapping for target in rule.netbox_groups)
        # Only group_map (configuration.py, written by the server's admin) stops a group's auto-creation. A rule
        # kept in NetBox never does: its writer could otherwise take every auto-created group away from
        # everyone (a '*' rule under mirror), which the "grant only what you hold" rule cannot see.
        if any(rule.source == GROUP_MAP for rule in mapping):
            continue
        if config['auto_create_groups'] and matches_filter(name, config['group_filter']):
            desired.add(name)
            create.add(name)

    # Authentik allows names of any length; creating a longer one would fail the whole sign-in.
    too_long = {name for name in desired if max_name_length is not None and len(name) > max_name_length}
    desired -= too_long
    create -= too_long

    managed = {target for rule in rules for target in rule.netbox_groups}
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
