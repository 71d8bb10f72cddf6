"""System checks: configuration problems named with the fix, never a crash."""

import logging

from django.core import checks

from . import settings as plugin_settings

logger = logging.getLogger(__name__)


@checks.register('netbox_authentik')
def check_plugin_settings(app_configs=None, **kwargs):
    """Unknown keys, wrong types and invalid choices in PLUGINS_CONFIG['netbox_authentik']."""
    return [
        checks.Error(message, hint="Fix PLUGINS_CONFIG['netbox_authentik'] in configuration.py.",
                     id='netbox_authentik.E010')
        for _name, message in plugin_settings.problems()
    ]


def log_configuration_problems():
    """Log check errors once at start-up: system checks do not run under gunicorn."""
    try:
        found = check_plugin_settings()
    except Exception:  # a broken configuration must never stop NetBox from starting
        logger.exception('netbox_authentik could not check its configuration')
        return
    for message in found:
        logger.error('%s: %s (%s)', message.id, message.msg, message.hint)
