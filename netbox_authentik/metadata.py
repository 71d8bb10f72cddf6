"""Authentik's discovery document and JWKS in Django's cache (Redis), shared by every NetBox worker."""

import hashlib
import time

from django.core.cache import cache

from . import settings as plugin_settings

CACHE_PREFIX = 'netbox_authentik'
DISCOVERY = 'discovery'
JWKS = 'JWKS'


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


def jwks_keys(document):
    """The key objects of a JWKS document; Authentik's empty JWKS ({}) has none."""
    if not isinstance(document, dict):
        return []
    keys = document.get('keys') or []
    return [key for key in keys if isinstance(key, dict)] if isinstance(keys, list) else []
