"""Authentik's discovery document and JWKS in Django's cache (Redis), shared by every NetBox worker."""

import hashlib
import time

from django.core.cache import cache

from .. import settings as plugin_settings

CACHE_PREFIX = 'netbox_authentik'
DISCOVERY = 'discovery'
JWKS = 'JWKS'
# The discovery fields a sign-in depends on; a change in any of them makes a cached copy stale.
COMPARED_FIELDS = (
    'issuer',
    'id_token_signing_alg_values_supported',
    'authorization_endpoint',
    'token_endpoint',
    'userinfo_endpoint',
    'end_session_endpoint',
    'jwks_uri',
)


def cache_key(kind, url):
    """Return the cache key of one kind of entry (a document or a rate limit) for one URL."""
    return f'{CACHE_PREFIX}:{kind}:{hashlib.sha256(url.encode()).hexdigest()[:32]}'


def cached_entry(kind, url):
    """Return {'fetched_at', 'document'} as cached for url, or None."""
    return cache.get(cache_key(kind, url))


def store(kind, url, document):
    """Cache a freshly fetched document; it is kept past its TTL to serve while Authentik is briefly down."""
    ttl = plugin_settings.get('metadata_cache_seconds')
    cache.set(cache_key(kind, url), {'fetched_at': time.time(), 'document': document}, ttl + 86400)


def is_fresh(entry):
    """Whether a cached entry is younger than metadata_cache_seconds."""
    return time.time() - entry['fetched_at'] < plugin_settings.get('metadata_cache_seconds')


def cached_metadata(discovery_url):
    """Return (discovery, JWKS) as every worker sees them in the cache; None for what is not cached."""
    discovery = (cached_entry(DISCOVERY, discovery_url) or {}).get('document')
    jwks_uri = discovery.get('jwks_uri') if isinstance(discovery, dict) else None
    jwks = (cached_entry(JWKS, jwks_uri) or {}).get('document') if isinstance(jwks_uri, str) else None
    return discovery, jwks


def replace_metadata(discovery_url, discovery, jwks):
    """Drop the cached discovery and JWKS (the old jwks_uri's too) and cache these in their place."""
    cached_discovery, _jwks = cached_metadata(discovery_url)
    old_jwks_uri = cached_discovery.get('jwks_uri') if isinstance(cached_discovery, dict) else None
    if isinstance(old_jwks_uri, str):
        cache.delete(cache_key(JWKS, old_jwks_uri))
    store(DISCOVERY, discovery_url, discovery)
    store(JWKS, discovery['jwks_uri'], jwks)


def jwks_keys(document):
    """The key objects of a JWKS document; Authentik's empty JWKS ({}) has none."""
    if not isinstance(document, dict):
        return []
    keys = document.get('keys') or []
    return [key for key in keys if isinstance(key, dict)] if isinstance(keys, list) else []


def metadata_differences(cached_discovery, cached_jwks, live_discovery, live_jwks):
    """Return one line per difference between the cached documents and what Authentik serves now."""
    differences = []
    for field in COMPARED_FIELDS:
        cached, live = cached_discovery.get(field), live_discovery.get(field)
        if cached != live:
            differences.append(f'{field}: cached {cached!r}, Authentik now {live!r}')
    if cached_jwks is None:  # not fetched yet (Authentik without a signing key): nothing stale to compare
        return differences
    cached_keys, live_keys = _keys_by_kid(cached_jwks), _keys_by_kid(live_jwks)
    if sorted(cached_keys) != sorted(live_keys):
        differences.append(f'JWKS key ids: cached {sorted(cached_keys)}, Authentik now {sorted(live_keys)}')
    else:
        changed = [kid for kid in sorted(cached_keys) if cached_keys[kid] != live_keys[kid]]
        if changed:
            differences.append(f'JWKS keys with new key material under the same key id: {changed}')
    return differences


def _keys_by_kid(jwks):
    return {str(key.get('kid')): key for key in jwks_keys(jwks)}
