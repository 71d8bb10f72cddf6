"""Checks made at sign-in, where system checks cannot see: the plugin missing, a reusable subject mode,
a disabled NetBox account, Authentik's own refusal."""

import logging

from django.contrib import messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..logsafe import safe
from ..settings import PLUGIN_NAME, plugin_installed
from .errors import AuthentikError

logger = logging.getLogger('netbox_authentik.guards')  # the name admins configure (README: Logging)

# Subject modes whose `sub` is the username, email or UPN: another person can get it after a rename or deletion.
REUSABLE_SUBJECT_CLAIMS = ('preferred_username', 'nickname', 'email', 'upn')
_reusable_subject_logged = False
ACCESS_DENIED = gettext_lazy(
    'Authentik did not let you sign in to NetBox: your account is not allowed to use it, or the sign-in was '
    'cancelled. Ask your administrator if this is unexpected.'
)


def refusal_without_plugin(request):
    """Return why a sign-in is refused when the plugin is missing (logged, and shown on `request`), else None.

    Fail closed: with the backend but without 'netbox_authentik' in PLUGINS there is no group sync and
    no superuser revocation (a revoked admin would stay a superuser), and no system check runs.
    """
    if plugin_installed():
        return None
    logger.error(
        "Sign-in through Authentik refused: REMOTE_AUTH_BACKEND names the Authentik backend but '%s' is "
        'not in PLUGINS, so groups and superuser status would not be synced. Add it to PLUGINS in '
        'configuration.py.',
        PLUGIN_NAME,
    )
    text = _(
        "Sign-in through Authentik is switched off until the NetBox administrator adds 'netbox_authentik' "
        'to PLUGINS in configuration.py.'
    )
    if request is not None:
        # The plugin's error middleware is missing too, and NetBox's own shows only a generic text.
        messages.error(request, text, fail_silently=True)
    return text


def reusable_subject_claim(claims):
    """Return the claim that `sub` repeats when it is a reusable name (username, email, UPN), else None."""
    subject = (claims or {}).get('sub')
    if not isinstance(subject, str) or not subject:
        return None
    for name in REUSABLE_SUBJECT_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str) and value.casefold() == subject.casefold():
            return name
    return None


def warn_reusable_subject(claims):
    """Log a WARNING once per process when a sign-in shows a reusable subject mode; never raises."""
    global _reusable_subject_logged
    if _reusable_subject_logged:
        return
    try:
        claim = reusable_subject_claim(claims)
    except Exception:  # a warning must never fail a sign-in
        return
    if claim is None:
        return
    _reusable_subject_logged = True
    logger.warning(
        "Authentik's sub is the %s claim: the provider's Subject mode is based on the username, email "
        'or UPN, which another person can get after a rename or deletion and then sign in as the same '
        "NetBox user. Set the provider's Subject mode to 'Based on the User's hashed ID' (the default), "
        'ID or UUID; every sub changes then: see "Subject mode and existing links" in docs/links.md.',
        claim,
    )


def refuse_inactive(backend, user):
    """Refuse a sign-in that ends in an inactive NetBox user, with a message (social-core would bounce it silently).

    SCIM's `active: false` and an administrator's untick both make inactive users; social-core's own
    ALLOW_INACTIVE_USERS_LOGIN still lets them in where an admin sets it.
    """
    if getattr(user, 'is_active', True) or backend.setting('ALLOW_INACTIVE_USERS_LOGIN', False):
        return
    logger.info("Sign-in through Authentik refused: NetBox user '%s' is inactive.", safe(user))
    raise AuthentikError(backend, _('Your NetBox account is disabled.'))
