"""The test configuration with the plugin's settings broken: for tests/test_startup.py."""

from tests.netbox_configuration import *  # noqa: F403

SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT = 'not a url'
PLUGINS_CONFIG = {
    'netbox_authentik': {
        'group_mapp': {'authentik Admins': 'Admins'},
        'group_map': {'netbox-users': 5},
        'login_button_label': 42,
    },
}
