"""A person signs in to NetBox through Authentik in a real browser; NetBox's users, groups and links follow."""

import pytest
from playwright.sync_api import expect

from tests.e2e import NETWORK_ENGINEERS, SCREENS, user_menu
from tests.tools.idp import USERS

pytestmark = pytest.mark.e2e


def test_login_page_offers_authentik(page, netbox):
    page.goto(f'{netbox.url}/login/')
    button = page.get_by_role('button', name='Authentik')
    expect(button).to_be_visible()
    expect(button.locator('i.mdi-shield-key-outline')).to_have_count(1)
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENS / 'login-page.png')


def test_admin_group_member_signs_in_as_superuser_with_mapped_group(idp, netbox, sign_in, netbox_db):
    page = sign_in(netbox.url, 'akadmin')
    expect(user_menu(page)).to_contain_text('Admin')
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENS / 'signed-in.png')

    akadmin = netbox_db.user('akadmin')
    assert akadmin['is_superuser'] is True
    assert akadmin['groups'] == {NETWORK_ENGINEERS}
    [(provider, uid, extra_data)] = akadmin['links']
    assert provider == 'authentik'
    assert len(uid) == 64
    assert extra_data['groups'] == USERS['akadmin'][1]


def test_user_outside_superuser_groups_signs_in_as_plain_user(idp, netbox, sign_in, netbox_db):
    page = sign_in(netbox.url, 'alice')
    expect(user_menu(page)).to_contain_text('User')

    alice = netbox_db.user('alice')
    assert alice['is_superuser'] is False
    # netbox-users is not in the group map: only network-engineers becomes a NetBox group.
    assert alice['groups'] == {NETWORK_ENGINEERS}


@pytest.mark.parametrize('username', ['nogroups', 'noclaim', 'many'])
def test_users_with_unusual_groups_claims_sign_in(idp, netbox, sign_in, netbox_db, username):
    sign_in(netbox.url, username)

    user = netbox_db.user(username)
    assert user['is_superuser'] is False
    assert user['groups'] == set()
    [(_provider, _uid, extra_data)] = user['links']
    if USERS[username][1] is None:
        assert 'groups' not in extra_data
    else:
        assert extra_data['groups'] == USERS[username][1]


def test_association_pages_list_the_new_link(idp, netbox, sign_in, netbox_db):
    page = sign_in(netbox.url, 'akadmin')
    response = page.goto(f'{netbox.url}/plugins/authentik/associations/')
    assert response.status == 200, f'the association list answered HTTP {response.status}'
    [(_provider, uid, _extra_data)] = netbox_db.user('akadmin')['links']
    listing = page.locator('main, .page-body').first
    expect(listing).to_contain_text('akadmin')
    expect(listing).to_contain_text(uid[:12])

    # Unlink it in bulk: the confirmation says what happens, in one word, and the NetBox user stays.
    page.locator('input[name="pk"]').first.check()
    page.get_by_role('button', name='Unlink Selected').click()
    expect(page.get_by_role('heading', name='Unlink 1 Authentik identity?')).to_be_visible()
    expect(page.locator('#delete-form')).to_contain_text('The NetBox user stays')
    expect(page.locator('#delete-form')).not_to_contain_text('Delet')
    page.screenshot(path=SCREENS / 'associations-bulk-unlink.png', full_page=True)
    page.get_by_role('button', name='Unlink 1 identity').click()
    toast = page.locator('.toast', has_text='Unlinked 1 Authentik identity')
    expect(toast).to_have_css('opacity', '1')  # faded in, for the screenshot
    page.screenshot(path=SCREENS / 'associations-unlinked.png')
    assert netbox_db.user('akadmin')['links'] == []
