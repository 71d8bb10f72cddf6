"""Diagnostics of NetBox's cached copies of Authentik's discovery document and JWKS, and dropping them."""

from django.conf import settings

from .. import settings as plugin_settings
from ..signin import metadata
from ..signin.provider import WELL_KNOWN, normalize_endpoint
from . import checks
from .authentik import fetch_json
from .findings import FetchError, error, ok, warning


def metadata_cache_findings(refresh=False):
    """Compare the discovery and JWKS every NetBox worker has cached with Authentik's; with refresh, replace them."""
    configured = getattr(settings, checks.ENDPOINT, None)
    endpoint = normalize_endpoint(
        configured if isinstance(configured, str) else '', plugin_settings.get('application_slug')
    )
    if not endpoint.startswith(('http://', 'https://')):
        return []  # the discovery check already says why Authentik was not contacted
    discovery_url = endpoint + WELL_KNOWN
    try:
        live_discovery, live_jwks = _live_metadata(discovery_url)
    except FetchError:
        if refresh:
            return [
                error(
                    'metadata_cache',
                    "Not refreshed: Authentik's discovery document or JWKS could not be "
                    'fetched; NetBox keeps its cached copies.',
                    'Fix the failures above, then run `netbox authentik_check --refresh` again.',
                )
            ]
        return []  # the discovery and jwks checks report the failure
    try:
        cached_discovery, cached_jwks = metadata.cached_metadata(discovery_url)
        if refresh:
            metadata.replace_metadata(discovery_url, live_discovery, live_jwks)
    except Exception as failure:  # the cache (Redis) being down is a finding, never a traceback
        return [
            error(
                'metadata_cache',
                f"Could not use NetBox's cache: {type(failure).__name__}.",
                "Check REDIS['caching'] in configuration.py and that Redis is running.",
            )
        ]
    differences = []
    if isinstance(cached_discovery, dict):
        differences = metadata.metadata_differences(cached_discovery, cached_jwks, live_discovery, live_jwks)
    if refresh:
        changed = f' They had changed: {"; ".join(differences)}.' if differences else ''
        return [
            ok(
                'metadata_cache',
                f"Dropped NetBox's cached discovery document and JWKS and cached what Authentik serves now.{changed}",
            )
        ]
    if not isinstance(cached_discovery, dict):
        return [
            ok(
                'metadata_cache',
                "NetBox has not cached Authentik's discovery document yet; the next sign-in fetches it.",
            )
        ]
    if differences:
        return [
            warning(
                'metadata_cache',
                "NetBox's cached discovery document or JWKS differs from what Authentik "
                f'serves now: {"; ".join(differences)}.',
                'The next token they cannot verify makes NetBox refetch them; to drop them now, run '
                '`netbox authentik_check --refresh`.',
            )
        ]
    return [ok('metadata_cache', "NetBox's cached discovery document and JWKS match what Authentik serves.")]


def _live_metadata(discovery_url):
    """Fetch discovery and JWKS as Authentik serves them now; raise FetchError when either cannot be used."""
    timeout = plugin_settings.get('http_timeout')
    _response, discovery = fetch_json(discovery_url, timeout, not_found_hint='')
    if not isinstance(discovery, dict) or not all(
        isinstance(discovery.get(field), str) for field in ('issuer', 'jwks_uri')
    ):
        raise FetchError('unusable discovery document', '')
    jwks_uri = discovery['jwks_uri']
    _response, jwks = fetch_json(jwks_uri, timeout, not_found_hint='')
    return discovery, jwks
