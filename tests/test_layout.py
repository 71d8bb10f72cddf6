"""The package's shape: data flows one way, no import circle, and nothing imports a module on a higher layer."""

import importlib

from tests.tools import layout

# Lower layers know nothing of higher ones; a module may import its own layer or lower ones (docs/development.md:
# "How the code is laid out").
LAYERS = (
    # pure helpers and the one accessor of settings
    {'settings', 'groups', 'logsafe', 'errors', 'nonces', 'scim_protocol', 'scim_filters', 'scim_patch', 'guide'},
    # the metadata cache, identity links, the login button, sign-in guards, claims, the plugin's models,
    # user changes in NetBox's change log, what the SCIM endpoint last saw
    {'metadata', 'linking', 'login_button', 'guards', 'claims', 'models', 'user_changes', 'scim_activity'},
    # Authentik's provider, token verification, the session registry, the effective mapping rules, the pipeline
    {
        'provider',
        'endpoint',
        'access',
        'resync',
        'tokens',
        'sessions',
        'mapping_rules',
        'group_sync',
        'pipeline',
        'link_plans',
        'provisioning',
        'scim_parsing',
        'scim_conflicts',
    },
    # the social-core backend, the static checks, API tokens in exchange for Authentik tokens
    {'backends', 'checks', 'startup', 'exchange'},
    # the HTTP edges, the live diagnostics and the Authentik blueprint NetBox writes for itself
    {'backchannel', 'logout', 'middleware', 'diagnostics', 'scim', 'blueprint'},
    # NetBox UI, REST API, commands and the plugin's entry point
    {
        'views',
        'forms',
        'tables',
        'filtersets',
        'api',
        'graphql',
        'template_content',
        'navigation',
        'urls',
        'management',
        '',
    },
)


def layer_of(module):
    """The layer of a module, by its first name below the package (a subpackage shares its layer)."""
    first = module.removeprefix(layout.PACKAGE).lstrip('.').split('.')[0]
    for number, names in enumerate(LAYERS):
        if first in names:
            return number
    raise AssertionError(f'{module} is in no layer: add it to LAYERS and to the table in docs/development.md')


def test_no_import_circle():
    assert layout.circles(layout.import_edges()) == []


def test_every_module_has_a_layer():
    for module in layout.modules():
        layer_of(module)


def test_no_module_imports_a_higher_layer():
    upward = [
        f'{importer} -> {target}'
        for importer, targets in layout.import_edges().items()
        for target in targets
        if layer_of(target) > layer_of(importer)
    ]
    assert upward == []


def test_layout_sees_imports_inside_functions_and_relative_ones():
    edges = layout.import_edges()
    # pipeline.py imports errors at the top, relatively; tokens are checked by the backend through a mixin.
    assert 'netbox_authentik.errors' in edges['netbox_authentik.pipeline']
    assert 'netbox_authentik.diagnostics' in edges['netbox_authentik.management.commands.authentik_check']


def test_public_names_stay_importable():
    backends = importlib.import_module('netbox_authentik.backends')
    for name in ('AuthentikOIDCAuth', 'AuthentikError', 'MalformedTokenError', 'normalize_endpoint', 'WELL_KNOWN'):
        assert hasattr(backends, name), name
    assert backends.AuthentikOIDCAuth.name == 'authentik'
