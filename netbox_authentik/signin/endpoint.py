"""SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT as a pure function: the forms an admin pastes and what is wrong with them.

The system check E005-E008/W001 (diagnostics/checks.py) and `authentik_check` both use it.
"""

import ipaddress
from urllib.parse import urlsplit

from django.core import checks

from .provider import normalize_endpoint

CONFIG = "PLUGINS_CONFIG['netbox_authentik']"
ENDPOINT = 'SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT'
ISSUER_EXAMPLE = 'https://authentik.example.com/application/o/<slug>/'
# Authentik serves these under /application/o/ for every application; none of them is an issuer.
SHARED_ENDPOINTS = ('authorize', 'token', 'userinfo', 'revoke', 'introspect')


def is_missing(value):
    """True for a setting that is unset or blank."""
    return value is None or (isinstance(value, str) and not value.strip())


def _is_loopback(host):
    if host == 'localhost' or host.endswith('.localhost'):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_problems(endpoint, application_slug=None):
    """Return the problems with SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT (E005-E008, W001), as a pure function."""
    if is_missing(endpoint):
        return [
            checks.Warning(
                f'{ENDPOINT} is missing or empty.',
                hint=f"Set it to the provider's OpenID Configuration Issuer, e.g. {ISSUER_EXAMPLE}",
                id='netbox_authentik.E005',
            )
        ]
    not_a_url = checks.Warning(
        f'{ENDPOINT} is {endpoint!r}, not an http(s) URL.',
        hint=f"Set it to the provider's OpenID Configuration Issuer, e.g. {ISSUER_EXAMPLE}",
        id='netbox_authentik.E006',
    )
    if not isinstance(endpoint, str):
        return [not_a_url]
    try:
        parts = urlsplit(endpoint.strip())
        host = parts.hostname
    except ValueError:
        return [not_a_url]
    if parts.scheme not in ('http', 'https') or not host:
        return [not_a_url]

    found = []
    path = urlsplit(normalize_endpoint(endpoint)).path + '/'
    if '/application/o/' in path:
        prefix, _sep, tail = path.partition('/application/o/')
        segments = [segment for segment in tail.split('/') if segment]
        issuer_example = f'{parts.scheme}://{parts.netloc}{prefix}/application/o/<slug>/'
        if not segments:
            where = 'at /application/o/ without an application slug'
        elif segments[0] in SHARED_ENDPOINTS:
            where = f"at Authentik's shared /application/o/{segments[0]}/ endpoint"
        elif len(segments) > 1:
            where = f'at /application/o/{"/".join(segments)}/, a page of the application'
            issuer_example = f'{parts.scheme}://{parts.netloc}{prefix}/application/o/{segments[0]}/'
        else:
            where = None
        if where:
            found.append(
                checks.Warning(
                    f"{ENDPOINT} points {where}, not at the application's issuer.",
                    hint=f"Use the application's issuer, {issuer_example} (Authentik: the provider's "
                    f'OpenID Configuration Issuer).',
                    id='netbox_authentik.E007',
                )
            )
    elif not application_slug:
        found.append(
            checks.Warning(
                f'{ENDPOINT} has no /application/o/<slug>/ path and application_slug is not set.',
                hint=f"Use the application's issuer, {ISSUER_EXAMPLE}, or set {CONFIG}['application_slug'] "
                "to the application's slug.",
                id='netbox_authentik.E008',
            )
        )
    if parts.scheme == 'http' and not _is_loopback(host):
        found.append(
            checks.Warning(
                f'{ENDPOINT} uses plain http to {host}: the client secret and tokens cross the network unencrypted.',
                hint='Use https:// (plain http is only safe to a loopback address).',
                id='netbox_authentik.W001',
            )
        )
    return found
