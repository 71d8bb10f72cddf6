"""The Authentik backend without the plugin in PLUGINS (E002): for tests/test_startup.py."""

from tests.netbox_configuration import *  # noqa: F403

PLUGINS = []
PLUGINS_CONFIG = {}
