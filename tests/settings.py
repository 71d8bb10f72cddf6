"""Django settings for the test suite: NetBox's own settings with tests/netbox_configuration.py."""

import os
from pathlib import Path

from tests.tools import isolation

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault('NETBOX_CONFIGURATION', 'tests.netbox_configuration')
os.environ.setdefault('NETBOX_ROOT', str(REPO / '.netbox'))
# This run's own database name and Redis database, before NetBox reads the configuration.
isolation.ensure_run_names()

from netbox.settings import *  # noqa: E402,F403

# Runs and servers sharing a Redis database keep their cache keys apart (the tests clear only theirs).
CACHES['default']['KEY_PREFIX'] = os.environ.get('NBA_CACHE_PREFIX') or isolation.cache_key_prefix()  # noqa: F405
