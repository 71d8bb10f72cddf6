"""The plugin's configuration problems in the log, once per server process, and no sign-in while an E id stands.

System checks run for `netbox check`, `migrate` and `runserver`, never under gunicorn or uWSGI:
this module logs them at a server's first request. Management commands handle no request and
stay quiet.
"""

import logging

from django.conf import settings
from django.core import checks as django_checks
from django.core.signals import request_started
from django.utils.translation import gettext as _

from . import checks

logger = logging.getLogger(__name__)

LOG_AT_FIRST_REQUEST = 'netbox_authentik.log_configuration_problems'

# Models EXEMPT_VIEW_PERMISSIONS = ['*'] must not open, as NetBox keeps its own users.* out of it: identity
# links (usernames, emails, each person's sub and Authentik groups) and the groups Authentik pushed (members).
NEVER_VIEW_EXEMPT = (('social_django', 'usersocialauth'), ('netbox_authentik', 'authentikgroup'))


def keep_links_out_of_view_exemption():
    """Add the identity links and Authentik groups to NetBox's EXEMPT_EXCLUDE_MODELS, beside users.*.

    NetBox's permission_is_exempt() reads that list for every view check (pages, REST API, GraphQL,
    RestrictedQuerySet), so with `'*'` these models still need a real view permission. Naming one of them
    in EXEMPT_VIEW_PERMISSIONS by itself still exempts it, as it does for NetBox's own models.
    """
    excluded = tuple(settings.EXEMPT_EXCLUDE_MODELS)
    settings.EXEMPT_EXCLUDE_MODELS = excluded + tuple(model for model in NEVER_VIEW_EXEMPT if model not in excluded)


def log_at_server_start():
    """Log the problems at this process's first request: servers handle requests, management commands do not.

    ready() runs for every `netbox` command (`migrate`, `upgrade --help`, `shell`), which must stay
    quiet; gunicorn, uWSGI, `runserver` and ASGI servers all send request_started. Under gunicorn
    each worker process logs once.
    """
    request_started.connect(_log_once, dispatch_uid=LOG_AT_FIRST_REQUEST)


def _log_once(**kwargs):
    # disconnect() holds the signal's lock: of two concurrent first requests only one gets True.
    if request_started.disconnect(dispatch_uid=LOG_AT_FIRST_REQUEST):
        log_configuration_problems()


def log_configuration_problems():
    """Log each Warning once, with its hint: system checks do not run under gunicorn."""
    try:
        # No database here: apps may not be ready for queries while NetBox starts.
        found = checks.configuration_problems(databases=None)
    except Exception as error:  # a broken configuration must never stop NetBox from starting
        logger.warning('netbox_authentik could not check its configuration: %s', type(error).__name__)
        return
    _log(found)


def sign_in_refusal():
    """Return why sign-in through Authentik is refused while a problem with an E id stands (logged), else None.

    An E id means sign-in cannot work as configured: a setting NetBox would otherwise replace by its default
    (a misspelt required_groups, a timeout of '5') must not quietly sign people in under other rules.
    """
    found = [message for message in checks.configuration_problems(databases=None) if checks.breaks_sign_in(message)]
    if not found:
        return None
    for message in found:
        logger.error('Sign-in through Authentik refused: %s: %s HINT: %s', message.id, message.msg, message.hint)
    ids = ', '.join(sorted({message.id for message in found}))
    return _(
        'Sign-in through Authentik is unavailable until the NetBox administrator fixes its configuration (%(ids)s).'
    ) % {'ids': ids}


def log_backend_without_plugin():
    """Log E002 when the backend is used without the plugin, whose ready() then never logs anything.

    Meant for backends.py to call at import (social-auth imports it for the login page): without
    'netbox_authentik' in PLUGINS nothing else of the plugin is loaded, and no check runs.
    """
    _log(checks.check_plugin_installed())  # guarded: never raises


def _log(found):
    """Log Warnings (Info stays for `netbox check`), one line each with the hint; ERROR when sign-in cannot work."""
    for message in found:
        if message.level >= django_checks.WARNING:
            level = logging.ERROR if checks.breaks_sign_in(message) else logging.WARNING
            logger.log(level, '%s: %s HINT: %s', message.id, message.msg, message.hint)
