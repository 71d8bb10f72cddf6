"""The identity link pages fit a 1280 px wide window as well as a 1920 px one: nothing cut off, every row action
and the user page's Unlink button in view. Every run saves them at both widths in .artifacts/screens/."""

import pytest
from playwright.sync_api import expect

from tests.e2e import LOCAL_SUPERUSER, SCREENS

pytestmark = pytest.mark.e2e

WIDTHS = (1280, 1920)
LIST = '/plugins/authentik/associations/'

# True when an element's content is wider than the element shows (a cut-off table or panel).
OVERFLOWS = 'element => element.scrollWidth > element.clientWidth + 1'


def right_edge(locator):
    box = locator.bounding_box()
    return box['x'] + box['width']


def assert_inside(inner, outer):
    """`inner` is drawn within `outer`'s box, not cut off by it."""
    inner_box, outer_box = inner.bounding_box(), outer.bounding_box()
    assert inner_box['x'] >= outer_box['x'] - 1, (inner_box, outer_box)
    assert right_edge(inner) <= right_edge(outer) + 1, (inner_box, outer_box)


def link_id(netbox_db, username):
    [(pk,)] = netbox_db.query(
        'SELECT l.id FROM social_auth_usersocialauth l JOIN users_user u ON u.id = l.user_id WHERE u.username = %s',
        [username],
    )
    return pk


def user_id(netbox_db, username):
    [(pk,)] = netbox_db.query('SELECT id FROM users_user WHERE username = %s', [username])
    return pk


def test_identity_link_pages_fit_at_1280_and_1920_px(idp, netbox, sign_in, page, netbox_db):
    # Links as sign-ins leave them: no group at all (nogroups), 500 groups (many), and akadmin, signed in last.
    for username in ('nogroups', 'many', 'alice'):
        sign_in(netbox.url, username)
        page.context.clear_cookies()
    sign_in(netbox.url, 'akadmin')
    nogroups_link, akadmin = link_id(netbox_db, 'nogroups'), user_id(netbox_db, 'akadmin')
    local_admin = user_id(netbox_db, LOCAL_SUPERUSER[0])
    SCREENS.mkdir(parents=True, exist_ok=True)

    for width in WIDTHS:
        page.set_viewport_size({'width': width, 'height': 900})

        page.goto(f'{netbox.url}{LIST}')
        table = page.locator('#object_list table')
        expect(table).to_contain_text('nogroups')
        page.screenshot(path=SCREENS / f'identity-links-{width}.png', full_page=True)
        assert not page.locator('#object_list .table-responsive').evaluate(OVERFLOWS), 'the links table is cut off'
        assert right_edge(page.get_by_role('columnheader', name='Last sign-in', exact=True)) <= width
        for actions in page.locator('#object_list td.text-end').all():  # each row's edit and unlink buttons
            assert right_edge(actions) <= width
        # A person in no Authentik group: the same dash as on the link's own page.
        row = page.locator('#object_list tr', has_text='nogroups')
        expect(row.locator('td').filter(has_text='—')).not_to_have_count(0)

        page.goto(f'{netbox.url}{LIST}{nogroups_link}/')
        expect(page.locator('body')).to_contain_text('Authentik groups')
        page.screenshot(path=SCREENS / f'identity-link-{width}.png', full_page=True)

        page.goto(f'{netbox.url}/users/users/{akadmin}/')
        panel = page.locator('.card', has_text='Authentik Identities')
        unlink = panel.get_by_role('link', name='Unlink')
        expect(unlink).to_be_visible()
        page.screenshot(path=SCREENS / f'user-authentik-identities-{width}.png', full_page=True)
        assert_inside(unlink, panel)
        assert not panel.evaluate(OVERFLOWS), 'the Authentik Identities panel is cut off'
        for scroller in panel.locator('.table-responsive').all():
            assert not scroller.evaluate(OVERFLOWS), 'the Authentik Identities table scrolls sideways'

        # Linking the local admin to nogroups' identity: refused, naming the user it is linked to.
        page.goto(f'{netbox.url}{LIST}add/?user={local_admin}')
        expect(page.locator('#id_provider')).to_have_value('authentik')
        [(uid,)] = netbox_db.query('SELECT uid FROM social_auth_usersocialauth WHERE id = %s', [nogroups_link])
        page.locator('#id_uid').fill(uid)
        page.get_by_role('button', name='Create', exact=True).click()
        expect(page.locator('form.object-edit')).to_contain_text("already linked to NetBox user 'nogroups'")
        page.keyboard.press('Escape')  # the user picker opens on the focus NetBox gives the form's first field
        page.evaluate('document.activeElement && document.activeElement.blur()')
        expect(page.locator('.ts-dropdown:visible')).to_have_count(0)
        page.screenshot(path=SCREENS / f'identity-link-form-{width}.png', full_page=True)
