"""A blueprint as YAML text: Authentik's tags (!Find, !KeyOf, !Env) and a comment above each entry.

PyYAML (which NetBox itself depends on) writes every value, so names and URLs are always quoted correctly;
the comments, which PyYAML cannot write, are put between the entries it renders.
"""

import textwrap
from dataclasses import dataclass

import yaml

COMMENT_WIDTH = 110


@dataclass(frozen=True)
class Find:
    """`!Find [model, [field, value]]`: the primary key of an object Authentik already has (None when missing)."""

    model: str
    field: str
    value: str


@dataclass(frozen=True)
class KeyOf:
    """`!KeyOf id`: the primary key of the object another entry of the same blueprint created or found."""

    entry_id: str


@dataclass(frozen=True)
class Env:
    """`!Env NAME`: an environment variable of the Authentik process that applies the blueprint."""

    name: str


class BlueprintDumper(yaml.SafeDumper):
    """A safe dumper that knows Authentik's three tags and keeps each mapping's keys in the order given."""


def _represent_find(dumper, find):
    pair = dumper.represent_sequence('tag:yaml.org,2002:seq', [find.field, find.value], flow_style=True)
    model = dumper.represent_scalar('tag:yaml.org,2002:str', find.model)
    return yaml.SequenceNode('!Find', [model, pair], flow_style=True)


BlueprintDumper.add_representer(Find, _represent_find)
BlueprintDumper.add_representer(KeyOf, lambda dumper, key_of: dumper.represent_scalar('!KeyOf', key_of.entry_id))
BlueprintDumper.add_representer(Env, lambda dumper, env: dumper.represent_scalar('!Env', env.name))


def dump(value):
    """One value as YAML text, keys in the order given, never wrapped."""
    return yaml.dump(
        value, Dumper=BlueprintDumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=10**6
    )


def comment_lines(paragraphs, indent=''):
    """Paragraphs as wrapped YAML comments; a line break inside a name cannot end the comment early."""
    lines = []
    for paragraph in paragraphs:
        for wrapped in textwrap.wrap(paragraph, COMMENT_WIDTH, break_long_words=False, break_on_hyphens=False):
            # splitlines() also breaks at \x85, \u2028 and \u2029, which YAML reads as line breaks too.
            lines += [f'{indent}# {line}'.rstrip() for line in wrapped.splitlines()]
    return ''.join(f'{line}\n' for line in lines)


def render(header, metadata_name, entries):
    """The whole blueprint: header comment, version, metadata and each (comment paragraphs, entry) pair."""
    text = comment_lines(header)
    text += dump({'version': 1, 'metadata': {'name': metadata_name}})
    text += 'entries:\n'
    for comment, entry in entries:
        text += '\n' + comment_lines(comment, indent='  ')
        text += ''.join(f'  {line}\n' if line else '\n' for line in dump([entry]).splitlines())
    return text
