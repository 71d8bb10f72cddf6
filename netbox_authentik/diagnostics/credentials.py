"""Whether Authentik accepts NetBox's client ID and secret: one token request with a made-up code.

Authentik checks the client before the code: wrong credentials get `invalid_client`, right ones
`invalid_grant` for the code nobody issued. Nothing is created in Authentik, and neither the secret
nor the code is shown.
"""

import re
import secrets

from django.conf import settings

from ..endpoint import is_missing
from .findings import FetchError, error, ok, warning
from .http import send

CHECK = 'client_credentials'
KEY, SECRET = 'SOCIAL_AUTH_AUTHENTIK_KEY', 'SOCIAL_AUTH_AUTHENTIK_SECRET'
# Never registered anywhere: Authentik refuses the made-up code before it looks at this.
UNUSED_REDIRECT_URI = 'https://netbox-authentik-check.invalid/oauth/complete/authentik/'
FIX = (
    'Copy the Client ID and Client Secret from the provider (Authentik: Applications > Providers > your provider) '
    f'into {KEY} and {SECRET}.'
)


def is_placeholder(value):
    """True for a value still in angle brackets, as in an example configuration: '<client id>'."""
    return isinstance(value, str) and re.fullmatch(r'\s*<[^<>]*>\s*', value) is not None


def credentials_findings(discovery, timeout):
    """Ask the token endpoint with a made-up code whether it knows NetBox's client ID and secret."""
    client_id, client_secret = getattr(settings, KEY, None), getattr(settings, SECRET, None)
    if is_missing(client_id) or is_missing(client_secret):
        return []  # E003/E004 say so among the configuration findings
    placeholders = [name for name, value in ((KEY, client_id), (SECRET, client_secret)) if is_placeholder(value)]
    if placeholders:
        return [
            error(CHECK, f'{" and ".join(placeholders)} still hold the example placeholder in angle brackets.', FIX)
        ]
    token_endpoint = discovery.get('token_endpoint')
    if not isinstance(token_endpoint, str) or not token_endpoint.startswith(('http://', 'https://')):
        return [error(CHECK, 'Not checked: the discovery document names no token endpoint.', FIX)]
    form = {'grant_type': 'authorization_code', 'code': secrets.token_urlsafe(32), 'redirect_uri': UNUSED_REDIRECT_URI}
    methods = discovery.get('token_endpoint_auth_methods_supported')
    if methods is None or 'client_secret_basic' in methods:
        auth = (client_id, client_secret)
    else:
        auth, form = None, {**form, 'client_id': client_id, 'client_secret': client_secret}
    try:
        response = send(token_endpoint, timeout, method='POST', data=form, auth=auth)
    except FetchError as failure:
        return [error(CHECK, f'Not checked: {failure.message}', failure.hint)]
    try:
        code = response.json().get('error')
    except (ValueError, AttributeError):
        code = None
    if code == 'invalid_grant':
        return [ok(CHECK, 'Authentik accepts the client ID and secret (it refused a made-up code, as it should).')]
    if code == 'invalid_client':
        return [error(CHECK, 'Authentik refuses the client ID or secret (invalid_client): nobody can sign in.', FIX)]
    answer = f'HTTP {response.status_code}' + (f', {code!r}' if isinstance(code, str) else '')
    return [
        warning(
            CHECK,
            f'Could not tell whether the client ID and secret are right: the token endpoint answered {answer}.',
            "Check Authentik's logs, and any proxy in front of it.",
        )
    ]
