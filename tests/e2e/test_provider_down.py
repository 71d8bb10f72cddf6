"""With Authentik unreachable, the Authentik button explains itself on the login page and local login still works."""

import pytest
from playwright.sync_api import expect

from tests.e2e import LOCAL_SUPERUSER, SCREENS, user_menu

pytestmark = pytest.mark.e2e


def test_sign_in_with_provider_down_shows_message_and_local_login_works(provider_slot, netbox, page):
    provider_slot.stop()

    page.goto(f'{netbox.url}/login/')
    page.get_by_role('button', name='Authentik').click()

    # NetBox's login script begins the sign-in with fetch(); the plugin answers with the login page's URL
    # and its own message, which the person then sees instead of NetBox's generic one.
    expect(page.get_by_text('Authentik could not be reached. Try again later.')).to_be_visible()
    assert page.url.startswith(f'{netbox.url}/login/')
    assert page.server_errors == []
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENS / 'provider-down.png')

    username, password = LOCAL_SUPERUSER
    page.locator('#id_username').fill(username)
    page.locator('#id_password').fill(password)
    page.get_by_role('button', name='Sign In').click()
    expect(user_menu(page)).to_contain_text(username)
    assert page.server_errors == []
