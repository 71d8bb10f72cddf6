"""Edges of the pure group logic that only mutation testing showed unpinned (docs/mutation.md)."""

import pytest

from netbox_authentik.groups import MappingRule, glob_problem, is_glob, mapped_netbox_groups

UNCLOSED = "a '[' is never closed by ']' (write [[] for a literal [)"


@pytest.mark.parametrize(
    'pattern, problem',
    [
        ('[]', UNCLOSED),  # a ] first in a class is a literal ]: the class is still open
        ('[!]', UNCLOSED),  # likewise after !
        ('[]a]', ''),
        ('[!]a]', ''),
        ('[a][', UNCLOSED),  # the search goes on right after a closed class
        ('[a]b[c]', ''),
    ],
)
def test_glob_problem_reads_classes_as_fnmatch_does(pattern, problem):
    assert glob_problem(pattern) == problem


def test_is_glob():
    assert is_glob('ops-*') is True and is_glob('team-?') is True and is_glob('site-[ab]') is True
    assert is_glob('netbox-admins') is False


def test_an_exact_rule_matches_its_name_only():
    rule = MappingRule('netbox-admins')
    assert rule.matches('netbox-admins') is True
    assert rule.matches('netbox-admins2') is False


def test_mapped_netbox_groups():
    assert mapped_netbox_groups('ops', {'ops': ['Ops', 'NOC'], 'x': 'X'}) == ['Ops', 'NOC']
    assert mapped_netbox_groups('x', {'x': 'X'}) == ['X']
    assert mapped_netbox_groups('none', {}) == []
