"""Logging out of NetBox ends the Authentik session too: the next sign-in asks for credentials again."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_logout_ends_the_authentik_session(idp, netbox, sign_in):
    page = sign_in(netbox.url, 'alice')
    end_session_requests = []
    page.on(
        'request', lambda request: end_session_requests.append(request.url) if '/end-session/' in request.url else None
    )

    page.goto(f'{netbox.url}/logout/')

    # Through the provider's end-session endpoint, with the hint, and back at NetBox's login page.
    page.wait_for_url(re.compile(rf'^{re.escape(netbox.url)}/login/'))
    [end_session] = end_session_requests
    assert end_session.startswith(f'{idp.issuer}end-session/?')
    for parameter in ('id_token_hint=', 'post_logout_redirect_uri=', 'client_id=', 'state='):
        assert parameter in end_session
    expect(page.get_by_role('button', name='Authentik')).to_be_visible()

    # Not a silent sign-in: the provider shows its login form again.
    page.get_by_role('button', name='Authentik').click()
    expect(page.locator('#password')).to_be_visible()
    assert page.url.startswith(idp.issuer.split('/application/')[0])
    assert page.server_errors == []
