"""Django settings for the test suite: NetBox's own settings with tests/netbox_configuration.py."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault('NETBOX_CONFIGURATION', 'tests.netbox_configuration')
os.environ.setdefault('NETBOX_ROOT', str(REPO / '.netbox'))

from netbox.settings import *  # noqa: E402,F403
