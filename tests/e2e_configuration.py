"""NetBox configuration for the end-to-end tests and the demo: tests/netbox_configuration.py, plus the plugin's
settings as JSON in NBA_PLUGINS_CONFIG (for example the group map and superuser groups of a scenario)."""

import json
import os

from tests.netbox_configuration import *  # noqa: F403

PLUGINS_CONFIG = {'netbox_authentik': json.loads(os.environ.get('NBA_PLUGINS_CONFIG') or '{}')}
# No calls to the Internet from a test or demo server (the dashboard's news feed, the plugin catalog).
ISOLATED_DEPLOYMENT = True
