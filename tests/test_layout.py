"""The package's shape: folders by concern, data flowing one way, no import circle, nothing imported from above.

The layers are in tests/tools/layout.py (LAYERS): one line per folder or top-level module, so a new module
inside a folder needs no change here.
"""

import ast
import importlib
import re
from pathlib import Path

from tests.tools import layout

REPO = Path(__file__).resolve().parents[1]


def test_no_import_circle_between_modules():
    assert layout.circles(layout.import_edges()) == []


def test_no_import_circle_between_folders_and_top_level_modules():
    assert layout.circles(layout.unit_edges()) == []


def test_every_folder_and_top_level_module_has_a_layer():
    assert layout.unplaced_units() == [], 'add it to LAYERS in tests/tools/layout.py and to the README table'


def test_nothing_imports_a_higher_layer_or_a_folder_beside_it():
    assert layout.upward_imports() == []


def test_each_folder_says_what_it_is_for():
    for unit in layout.units():
        if layout.is_folder(unit):
            init = layout.ROOT / unit / '__init__.py'
            assert ast.get_docstring(ast.parse(init.read_text())), f'{unit}/__init__.py has no docstring'


def test_readme_layout_table_names_every_folder_and_top_level_module():
    (text,) = [
        p.read_text()
        for p in (REPO / 'README.md', REPO / 'docs' / 'development.md')
        if p.exists() and '## How the code is laid out' in p.read_text()
    ]
    section = text.split('## How the code is laid out', 1)[1].split('\n## ', 1)[0]
    named = set(re.findall(r'`(\w*)/?`', section))
    for unit in layout.units():
        assert (unit or '__init__') in named, f'{unit or "__init__"} is missing from the README layout table'


def test_layout_sees_imports_inside_functions_and_relative_ones():
    edges = layout.import_edges()
    # The pipeline imports the sign-in errors at the top, relatively; the effective rules read the models
    # inside a function; the command imports the diagnostics absolutely.
    pipeline = {target for target in edges['netbox_authentik.pipeline'] if layout.unit_of(target) == 'signin'}
    assert pipeline, edges['netbox_authentik.pipeline']
    assert any('netbox_authentik.models' in targets for name, targets in edges.items() if name.endswith('rules'))
    assert 'netbox_authentik.diagnostics' in edges['netbox_authentik.management.commands.authentik_check']


def test_a_folder_importing_a_higher_layer_is_reported():
    edges = {'netbox_authentik.signin.tokens': {'netbox_authentik.scim.views'}}
    assert layout.upward_imports(edges) == ['netbox_authentik.signin.tokens -> netbox_authentik.scim.views']
    beside = {'netbox_authentik.signin.tokens': {'netbox_authentik.links.linking'}}
    assert layout.upward_imports(beside) == ['netbox_authentik.signin.tokens -> netbox_authentik.links.linking']
    assert layout.upward_imports({'netbox_authentik.scim.views': {'netbox_authentik.signin.tokens'}}) == []


def test_public_names_stay_importable():
    backends = importlib.import_module('netbox_authentik.backends')
    for name in ('AuthentikOIDCAuth', 'AuthentikError', 'MalformedTokenError', 'normalize_endpoint', 'WELL_KNOWN'):
        assert hasattr(backends, name), name
    assert backends.AuthentikOIDCAuth.name == 'authentik'
