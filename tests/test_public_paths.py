"""Every dotted path the docs tell people to write, and every one the checks compare a configuration with,
imports: moving code between folders never breaks a configuration.py."""

import ast
import re

import pytest
from django.utils.module_loading import import_string

from tests.tools import layout

REPO = layout.ROOT.parent
# A module and a name in it at least: two-part names are logger names, permissions or check ids.
DOTTED = re.compile(r'(?<![\w.])netbox_authentik(?:\.[A-Za-z_]\w*){2,}')


def documented_paths():
    """Dotted paths in README.md and docs/."""
    texts = [REPO / 'README.md', *sorted((REPO / 'docs').rglob('*.md'))]
    return sorted({found for path in texts for found in DOTTED.findall(path.read_text())})


def checked_paths():
    """Dotted paths in the strings of the checks' module, of what it imports from the package, and of the
    PluginConfig (its middleware)."""
    edges = layout.import_edges()
    (checks,) = [name for name in layout.modules() if name.rpartition('.')[2] == 'checks']
    scanned = {checks, layout.PACKAGE, *edges[checks]}
    found = set()
    for name in scanned:
        for node in ast.walk(ast.parse(layout.modules()[name].read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.fullmatch(node.value):
                found.add(node.value)
    return sorted(found)


def test_the_scans_find_the_backend_the_pipeline_steps_and_the_middleware():
    documented, checked = documented_paths(), checked_paths()
    assert 'netbox_authentik.backends.AuthentikOIDCAuth' in documented
    assert 'netbox_authentik.linking.associate_existing_user' in documented
    assert 'netbox_authentik.pipeline.sync_groups' in checked
    assert any(path.endswith('Middleware') for path in checked), checked


@pytest.mark.parametrize('path', sorted(set(documented_paths() + checked_paths())))
def test_dotted_path_imports(path):
    assert import_string(path) is not None
