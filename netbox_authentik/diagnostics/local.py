"""Diagnostics that need no Authentik: the system checks, the URIs to register, NetBox's groups."""

from typing import NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks as django_checks
from django.db import Error as DatabaseError

from .. import checks
from .. import settings as plugin_settings
from ..endpoint import _is_loopback as is_loopback
from .findings import Finding, error, ok, warning

PLACEHOLDER_ORIGIN = 'https://<netbox-host>'


def configuration_findings():
    """The plugin's system checks (without the database one: netbox_groups covers it), one finding each."""
    problems = checks.configuration_problems(databases=None)
    if not problems:
        return [ok('configuration', "configuration.py passes the plugin's system checks.")]
    return [Finding(problem.id, configuration_status(problem), problem.msg, problem.hint or '') for problem in problems]


def configuration_status(problem):
    """'error' for what stops sign-in (an E id, reported to Django as a Warning so NetBox still starts)."""
    if checks.breaks_sign_in(problem) or problem.level >= django_checks.ERROR:
        return 'error'
    return 'warning' if problem.level >= django_checks.WARNING else 'info'


def netbox_origin(base_url, http):
    """Return (scheme://host NetBox is reached at, where that came from), or (None, None) when it cannot be known.

    --base-url first; then CSRF_TRUSTED_ORIGINS, the one NetBox setting that holds whole origins; then the
    first host name in ALLOWED_HOSTS (https, or http with --http) that is not a loopback address, which is
    rarely how people's browsers reach NetBox; a loopback one last.
    """
    if base_url:
        try:
            parts = urlsplit(base_url.strip())
            valid = parts.scheme in ('http', 'https') and parts.hostname
        except ValueError:
            valid = False
        base_path = '/' + settings.BASE_PATH.strip('/')
        if not valid or parts.path.rstrip('/') not in ('', base_path.rstrip('/')) or parts.query:
            raise ValueError(f'--base-url {base_url!r}: give the scheme and host, e.g. https://netbox.example.com.')
        return f'{parts.scheme}://{parts.netloc}', '--base-url'
    for origin in getattr(settings, 'CSRF_TRUSTED_ORIGINS', None) or []:
        parts = urlsplit(origin) if isinstance(origin, str) else None
        if parts and parts.scheme in ('http', 'https') and parts.hostname and '*' not in origin:
            return f'{parts.scheme}://{parts.netloc}', 'CSRF_TRUSTED_ORIGINS'
    hosts = [
        host
        for host in getattr(settings, 'ALLOWED_HOSTS', None) or []
        if isinstance(host, str) and host and '*' not in host and not host.startswith('.')
    ]
    hosts.sort(key=_is_loopback)  # stable: the first non-loopback host, else the first loopback one
    if not hosts:
        return None, None
    return f'{"http" if http else "https"}://{hosts[0]}', 'ALLOWED_HOSTS'


def _is_loopback(host):
    return is_loopback(host.strip('[]'))


def registration_findings(origin, source=None):
    """The redirect, post-logout and back-channel logout URIs to register on the Authentik provider."""
    found = []
    if origin is None:
        found.append(
            warning(
                'netbox_url',
                "NetBox's address is unknown: neither CSRF_TRUSTED_ORIGINS nor ALLOWED_HOSTS names a host.",
                'Pass --base-url https://netbox.example.com to print the exact URIs.',
            )
        )
    elif source == 'ALLOWED_HOSTS' and _is_loopback(urlsplit(origin).hostname or ''):
        found.append(
            warning(
                'netbox_url',
                f"NetBox's address taken from ALLOWED_HOSTS is a loopback address ({origin}): browsers elsewhere "
                'cannot use URIs built on it.',
                'Pass --base-url https://netbox.example.com (the address people type), or list that host first in '
                'ALLOWED_HOSTS.',
            )
        )
    uris = netbox_uris(origin or PLACEHOLDER_ORIGIN)
    found += [
        Finding(
            'redirect_uri',
            'info',
            uris.redirect_uri,
            'Register it on the Authentik provider as a Strict redirect URI (Authorization), '
            'or apply `netbox authentik_blueprint`.',
        ),
        Finding(
            'post_logout_redirect_uri',
            'info',
            uris.post_logout_redirect_uri,
            'Register it on the provider as a redirect URI of type Post Logout (used from Authentik 2026.5).',
        ),
        Finding(
            'backchannel_logout_uri',
            'info',
            uris.backchannel_logout_uri,
            "Set it as the provider's Back-Channel Logout URI (Authentik 2025.8+, preview), "
            'or apply `netbox authentik_blueprint`.',
        ),
    ]
    return found


class NetBoxURIs(NamedTuple):
    """The addresses of this NetBox that Authentik is told about."""

    root: str
    redirect_uri: str
    post_logout_redirect_uri: str
    backchannel_logout_uri: str
    scim_url: str


def netbox_uris(origin):
    """NetBox's addresses under origin (scheme://host) and BASE_PATH, with or without its trailing slash."""
    base_path = settings.BASE_PATH.strip('/')
    root = f'{origin}/{base_path}/' if base_path else f'{origin}/'
    return NetBoxURIs(
        root=root,
        redirect_uri=f'{root}oauth/complete/authentik/',
        post_logout_redirect_uri=plugin_settings.get('post_logout_redirect_uri') or f'{root}login/',
        backchannel_logout_uri=f'{root}plugins/authentik/backchannel-logout/',
        scim_url=f'{root}plugins/authentik/scim/v2/',
    )


def netbox_groups_finding():
    """The NetBox groups that group_map names must exist, unless the plugin creates them."""
    if plugin_settings.get('group_sync') == 'off':
        return ok('netbox_groups', 'group_sync is off: group_map is not used.')
    names = checks.group_map_netbox_groups(plugin_settings.get('group_map'))
    if not names:
        return ok('netbox_groups', 'group_map maps no NetBox groups.')
    if plugin_settings.get('auto_create_groups'):
        return ok('netbox_groups', 'auto_create_groups is on: missing NetBox groups are created at sign-in.')
    try:
        missing = checks.missing_netbox_groups(names)
    except DatabaseError as failure:
        return error(
            'netbox_groups',
            f'Could not read the NetBox groups: {type(failure).__name__}.',
            'Check the database settings and run `netbox migrate`.',
        )
    if missing:
        return warning(
            'netbox_groups',
            f'group_map names NetBox groups that do not exist: {checks.quote_names(missing)}.',
            checks.MISSING_GROUP_HINT,
        )
    return ok('netbox_groups', f'The {len(names)} NetBox group(s) named in group_map exist.')
