"""The test configuration without the client secret (E004): for tests/test_startup.py."""

from tests.netbox_configuration import *  # noqa: F403

del SOCIAL_AUTH_AUTHENTIK_SECRET  # noqa: F821
