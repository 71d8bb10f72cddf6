"""The README's and docs' snippets an admin copies are valid: Python runs as pasted, shell blocks are not empty."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / 'README.md'
DOCUMENTS = [README, *sorted((REPO / 'docs').glob('*.md'))]
FENCED_BLOCK = re.compile(r'^```(\w*)\n(.*?)^```', re.S | re.M)

SHOW_INFO = """
import logging, logging.config
logging.config.dictConfig(LOGGING)
logging.getLogger('netbox_authentik.pipeline').info('Synced Authentik groups for alice')
"""


def blocks(language):
    """(id, code) of every fenced block in `language` in the README and docs/*.md."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text()
        for match in FENCED_BLOCK.finditer(text):
            if match.group(1) == language:
                line = text[: match.start()].count('\n') + 1
                found.append(pytest.param(match.group(2), id=f'{document.relative_to(REPO)}:{line}'))
    return found


def assigns(code, name):
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id == name for target in node.targets)
        for node in ast.walk(ast.parse(code))
    )


@pytest.mark.parametrize('code', blocks('python'))
def test_python_block_runs_as_pasted(code):
    namespace = {}
    exec(compile(code, '<snippet>', 'exec'), namespace)  # noqa: S102 - the project's own documentation


@pytest.mark.parametrize('code', [block for block in blocks('python') if assigns(block.values[0], 'PLUGINS_CONFIG')])
def test_plugins_config_snippet_is_a_dict_of_dicts(code):
    namespace = {}
    exec(compile(code, '<snippet>', 'exec'), namespace)  # noqa: S102
    plugins_config = namespace['PLUGINS_CONFIG']
    assert isinstance(plugins_config, dict), type(plugins_config)  # `{'netbox_authentik': {...}}` is a set
    assert all(isinstance(settings, dict) for settings in plugins_config.values()), plugins_config


@pytest.mark.parametrize('code', blocks('sh'))
def test_shell_block_is_not_empty(code):
    assert code.strip()


def test_every_fenced_block_names_its_language():
    for document in DOCUMENTS:
        for match in FENCED_BLOCK.finditer(document.read_text()):
            assert match.group(1), f'{document.name}: a ``` block without a language: {match.group(2)[:60]!r}'


def test_logging_snippet_is_valid_python_and_shows_the_plugins_info_lines_with_time_level_and_logger():
    section = (REPO / 'docs' / 'operations.md').read_text().split('\n## Logging\n', 1)[1]
    snippet = re.search(r'```python\n(.*?)```', section, re.S).group(1)
    result = subprocess.run([sys.executable, '-c', snippet + SHOW_INFO], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO netbox_authentik\.pipeline: Synced Authentik groups for alice\n',
        result.stderr,
    ), result.stderr
