"""What the SCIM endpoint last saw, in Django's cache (Redis, shared by every worker), for `authentik_check`.

Two keys under the plugin's prefix: the last authenticated request (when, which token) and the last few
refusals (when, method, path, status, detail). Never a token's secret: a token is kept by its database id.
A cache that cannot be reached costs a log line, never a SCIM request.
"""

import logging
import time

from django.core.cache import cache

from .logsafe import safe

logger = logging.getLogger(__name__)

LAST_REQUEST_KEY = 'netbox_authentik:scim:last_request'
REFUSALS_KEY = 'netbox_authentik:scim:refusals'
KEPT_REFUSALS = 5
# Kept as long as Authentik may stay silent and longer: its full sync runs every 4 hours.
KEEP_SECONDS = 30 * 86400


def record_request(token_id, user_id):
    """Remember when an authenticated SCIM request arrived and which token it carried."""
    _store(LAST_REQUEST_KEY, {'at': time.time(), 'token_id': token_id, 'user_id': user_id})


def record_refusal(method, path, status, detail):
    """Remember a refused SCIM request (the newest first, a few kept)."""
    refusal = {'at': time.time(), 'method': method, 'path': safe(path), 'status': status, 'detail': safe(detail)}
    _store(REFUSALS_KEY, [refusal, *(_load(REFUSALS_KEY) or [])][:KEPT_REFUSALS])


def last_request():
    """{'at', 'token_id', 'user_id'} of the last authenticated SCIM request, or None."""
    return _load(LAST_REQUEST_KEY)


def last_refusals():
    """The last refused SCIM requests, newest first: [{'at', 'method', 'path', 'status', 'detail'}]."""
    return _load(REFUSALS_KEY) or []


def _store(key, value):
    try:
        cache.set(key, value, KEEP_SECONDS)
    except Exception as failure:  # noqa: BLE001 - the cache is a convenience here, never a reason to refuse
        logger.warning('Could not record SCIM activity in the cache: %s', safe(failure))


def _load(key):
    try:
        return cache.get(key)
    except Exception as failure:  # noqa: BLE001
        logger.warning('Could not read SCIM activity from the cache: %s', safe(failure))
        return None
