"""Diagnostics of SCIM provisioning: the token Authentik pushes with, when it last pushed, what NetBox refused.

Only when provisioning is in use (a link SCIM provisioned, or a SCIM request on record). What the endpoint
saw comes from scim_activity (Django's cache); the token from the database, by id, never its secret.
"""

import time
from datetime import UTC, datetime, timedelta

from django.db import Error as DatabaseError
from django.utils import timezone
from social_django.models import UserSocialAuth

from .. import scim_activity
from ..linking import PROVIDER
from ..logsafe import safe
from ..models import PROVISION_PERMISSION
from .findings import Finding, error, ok, warning

# Authentik's full sync runs every 4 hours; no request for longer means it no longer reaches NetBox.
QUIET_SECONDS = 5 * 3600
EXPIRY_WARNING = timedelta(days=14)
TOKEN_HINT = (
    'Give the SCIM provider in Authentik a write-enabled token of an active user that is a superuser or holds '
    f'{PROVISION_PERMISSION}, then save the provider (it syncs again).'
)


def provisioning_findings(now=None):
    """The SCIM findings, or none when nothing says provisioning is in use."""
    try:
        in_use = UserSocialAuth.objects.filter(provider=PROVIDER, extra_data__scim_provisioned=True).exists()
    except DatabaseError as failure:
        return [
            error(
                'scim',
                f'Could not read the identity links: {type(failure).__name__}.',
                'Check the database settings and run `netbox migrate`.',
            )
        ]
    last = scim_activity.last_request()
    if not in_use and last is None:
        return []
    now = time.time() if now is None else now
    return [token_finding(last), activity_finding(last, now), refusals_finding(scim_activity.last_refusals())]


def token_finding(last):
    """The state of the token Authentik last pushed with: its user, permission, write access, expiry."""
    from users.models import Token

    if last is None:
        return warning(
            'scim_token',
            'Users were provisioned by SCIM, but no SCIM request is on record (kept 30 days in the cache).',
            'Check the SCIM provider in Authentik (URL, token); saving it starts a full sync.',
        )
    token = Token.objects.select_related('user').filter(pk=last['token_id']).first()
    if token is None:
        return error('scim_token', f'The token Authentik last pushed with (id {last["token_id"]}) is gone.', TOKEN_HINT)
    user = token.user
    problems = []
    if not user.is_active:
        problems.append(f"its user '{safe(user.username)}' is inactive")
    elif not (user.is_superuser or user.has_perm(PROVISION_PERMISSION)):
        problems.append(f"its user '{safe(user.username)}' is neither a superuser nor holds {PROVISION_PERMISSION}")
    if not token.enabled:
        problems.append('it is disabled')
    if token.is_expired:
        problems.append(f'it expired at {token.expires.isoformat(timespec="minutes")}')
    if not token.write_enabled:
        problems.append('it is read-only (SCIM changes get 403)')
    described = f"token id {token.pk} of user '{safe(user.username)}'"
    if problems:
        return error('scim_token', f'Authentik pushes with {described}, but {"; ".join(problems)}.', TOKEN_HINT)
    expiry = 'never expires' if token.expires is None else f'expires {token.expires.isoformat(timespec="minutes")}'
    if token.expires is not None and token.expires - timezone.now() < EXPIRY_WARNING:
        return warning(
            'scim_token',
            f'Authentik pushes with {described}, which {expiry}.',
            'Create a new token and paste it into the SCIM provider in Authentik before then.',
        )
    role = 'a superuser' if user.is_superuser else f'holds {PROVISION_PERMISSION}'
    return ok('scim_token', f'Authentik pushes with {described} ({role}, write-enabled, {expiry}).')


def activity_finding(last, now):
    """When Authentik last reached the SCIM endpoint."""
    if last is None:
        return warning(
            'scim_activity',
            'No SCIM request on record.',
            'Authentik runs a full sync every 4 hours and when the provider is saved.',
        )
    age = now - last['at']
    at = _when(last['at'])
    if age > QUIET_SECONDS:
        return warning(
            'scim_activity',
            f'The last SCIM request was at {at}, {age / 3600:.0f} hours ago.',
            'Authentik syncs every 4 hours: check that its SCIM provider is still attached to the application '
            "(Backchannel Providers) and its URL reaches NetBox, and look at the provider's sync status.",
        )
    return ok('scim_activity', f'The last SCIM request was at {at}.')


def refusals_finding(refusals):
    """The last refused SCIM request: Authentik shows only its status code, never NetBox's reason."""
    if not refusals:
        return ok('scim_refusals', 'No SCIM request refused recently.')
    last = refusals[0]
    return Finding(
        'scim_refusals',
        'warning',
        f'{len(refusals)} recent SCIM refusal(s); the last at {_when(last["at"])}: {last["method"]} {last["path"]} '
        f'-> {last["status"]} {last["detail"]}',
        "Each refusal is in NetBox's log at WARNING (logger netbox_authentik.scim), with its reason.",
    )


def _when(timestamp):
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec='seconds')
