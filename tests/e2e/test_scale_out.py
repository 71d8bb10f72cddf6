"""Two NetBox servers behind one address share a database and Redis: a sign-in begun on one completes on the other.

The browser talks to a round-robin proxy (tests.tools.netbox_server.RoundRobinProxy), so the
redirect_uri NetBox sends, and Authentik redirects back to, is the proxy's. The proxy pins the
sign-in's begin to server A and its callback to server B: B must find the state and the PKCE
verifier that A stored in the session, which lives in the shared database.
"""

import pytest
from playwright.sync_api import expect

from tests.e2e import log_mark, log_since, user_menu

pytestmark = pytest.mark.e2e

A, B = 0, 1


def test_sign_in_begun_on_one_server_completes_on_the_other(idp, netbox, netbox_b, round_robin, sign_in, netbox_db):
    marks = log_mark(netbox), log_mark(netbox_b)

    page = sign_in(round_robin.url, 'alice')

    assert round_robin.served_by('/oauth/begin/') == [A]
    assert round_robin.served_by('/oauth/complete/') == [B]
    log_a, log_b = log_since(netbox, marks[0]), log_since(netbox_b, marks[1])
    assert '"POST /oauth/begin/authentik/ HTTP/1.1" 200' in log_a
    assert '"GET /oauth/complete/authentik/?' in log_b and '/oauth/complete/' not in log_a
    assert {A, B} <= set(round_robin.served_by('/'))
    assert netbox_db.user('alice')['links']

    # The session is in the shared database: each server, asked directly, knows who is signed in.
    for server in (netbox, netbox_b):
        page.goto(f'{server.url}/')
        expect(user_menu(page)).to_contain_text('alice')
