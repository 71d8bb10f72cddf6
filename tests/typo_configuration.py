"""The test configuration with a typo in the plugin's settings (E009): for tests/test_startup.py."""

from tests.netbox_configuration import *  # noqa: F403

PLUGINS_CONFIG = {'netbox_authentik': {'grup_map': {'netbox-users': 'Users'}}}
