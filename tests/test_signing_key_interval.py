"""docs/security.md's promise: Authentik's discovery and JWKS are refreshed for an unverifiable token at most once per
30 s across all workers, and again once those 30 s have passed."""

import pytest
from django.core.cache import cache

from netbox_authentik.signin import metadata
from tests.fake_authentik import DISCOVERY_URL, JWKS_URL, requests_to
from tests.test_signing_key_change import authentik_signing_with, forged_hs256, sign_in, signed_in

pytestmark = pytest.mark.django_db

DOCUMENTED_INTERVAL = 30  # seconds, as docs/security.md says ("How it works")


def fetches(mock):
    return len(requests_to(mock, DISCOVERY_URL)), len(requests_to(mock, JWKS_URL))


def test_a_forged_token_refreshes_once_then_not_for_thirty_seconds(client, mock):
    authentik = authentik_signing_with(mock, 'RS256')
    assert signed_in(sign_in(client, authentik))

    assert sign_in(client, authentik, forged_hs256)['Location'] == '/login/'
    assert fetches(mock) == (2, 2)  # the cold fetch and one refresh

    # The refresh is remembered, for every worker, in Redis: for the documented 30 s, not longer.
    lock = metadata.cache_key('metadata-refresh', DISCOVERY_URL)
    assert DOCUMENTED_INTERVAL - 5 <= cache.ttl(lock) <= DOCUMENTED_INTERVAL
    assert sign_in(client, authentik, forged_hs256)['Location'] == '/login/'
    assert fetches(mock) == (2, 2)

    cache.delete(lock)  # what Redis does once the 30 s are over
    assert sign_in(client, authentik, forged_hs256)['Location'] == '/login/'
    assert fetches(mock) == (3, 3)
