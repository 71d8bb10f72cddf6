"""Each e2e test starts from the same NetBox state, whatever ran before it."""

import os

import pytest
import redis
from playwright.sync_api import expect

from tests.e2e.conftest import SERVER_ROLE, restore_clean_state
from tests.tools import isolation

pytestmark = pytest.mark.e2e


def server_cache_keys():
    client = redis.Redis(
        host=os.environ.get('NBA_REDIS_HOST', '127.0.0.1'),
        port=int(os.environ.get('NBA_REDIS_PORT', '6379')),
        db=int(os.environ['NBA_REDIS_DB']),
    )
    return list(client.scan_iter(match=f'{isolation.cache_key_prefix(SERVER_ROLE)}:*', count=500))


def test_restoring_the_clean_state_forgets_a_sign_in(idp, netbox, sign_in, page, netbox_db, e2e_run, clean_snapshot):
    # Every test starts here: nobody has signed in through Authentik.
    assert netbox_db.query('SELECT count(*) FROM social_auth_usersocialauth') == [(0,)]
    assert netbox_db.user('alice') is None

    sign_in(netbox.url, 'alice')
    assert netbox_db.user('alice')['links']
    assert server_cache_keys(), 'a sign-in caches the discovery document and the JWKS'

    restore_clean_state(e2e_run, clean_snapshot)

    assert netbox_db.user('alice') is None
    assert netbox_db.query('SELECT count(*) FROM social_auth_usersocialauth') == [(0,)]
    assert server_cache_keys() == []
    # The server answers on the recreated database (it opens a connection per request), and
    # alice's session went with it: she is asked to sign in again.
    page.goto(f'{netbox.url}/')
    expect(page).to_have_url(f'{netbox.url}/login/?next=/')
    expect(page.get_by_role('button', name='Authentik')).to_be_visible()
