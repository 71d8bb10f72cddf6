"""A rule added on NetBox's pages applies at the next sign-in, on another NetBox server, without a restart."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e import LOCAL_SUPERUSER, SCREENS

pytestmark = pytest.mark.e2e

READERS = 'Readers'
# The provider's user 'many' is in group-000 … group-499.
PATTERN = 'group-4?9'


def local_login(page, base_url):
    username, password = LOCAL_SUPERUSER
    page.goto(f'{base_url}/login/')
    page.locator('#id_username').fill(username)
    page.locator('#id_password').fill(password)
    page.get_by_role('button', name='Sign In').click()
    page.wait_for_url(f'{base_url}/')


def choose(page, field, option):
    """Pick an option in one of NetBox's dynamic (TomSelect) selects."""
    page.locator(f'#id_{field}-ts-control').click()
    page.locator(f'#id_{field}-ts-control').fill(option)
    page.locator('.ts-dropdown .option', has_text=option).first.click()


def test_rule_added_in_the_ui_on_one_server_applies_at_sign_in_on_the_other(
    idp, netbox, netbox_b, sign_in, browser, page, netbox_db
):
    # Server B signs 'many' in first: it now holds the rules (none) in memory.
    sign_in(netbox_b.url, 'many')
    assert netbox_db.user('many')['groups'] == set()

    # An admin on server A creates a NetBox group and a rule for it.
    admin_page = browser.new_context(viewport={'width': 1280, 'height': 800}).new_page()
    local_login(admin_page, netbox.url)
    admin_page.goto(f'{netbox.url}/users/groups/add/')
    admin_page.locator('#id_name').fill(READERS)
    admin_page.get_by_role('button', name='Create', exact=True).click()
    expect(admin_page.locator('body')).to_contain_text(READERS)

    admin_page.goto(f'{netbox.url}/plugins/authentik/group-mappings/add/')
    admin_page.locator('#id_authentik_group').fill(PATTERN)
    choose(admin_page, 'netbox_groups', READERS)
    admin_page.locator('#id_description').fill('Every 4?9 group reads')
    admin_page.get_by_role('button', name='Create', exact=True).click()
    expect(admin_page.locator('body')).to_contain_text('Created group mapping')
    admin_page.goto(f'{netbox.url}/plugins/authentik/group-mappings/')
    expect(admin_page.locator('#object_list')).to_contain_text(PATTERN)
    SCREENS.mkdir(parents=True, exist_ok=True)
    admin_page.screenshot(path=SCREENS / 'group-mappings.png', full_page=True)

    # 'many' signs in on server B again: the rule applies there, no restart.
    page.context.clear_cookies()
    sign_in(netbox_b.url, 'many')
    assert netbox_db.user('many')['groups'] == {READERS}
    page.goto(f'{netbox_b.url}/user/profile/')
    expect(page.locator('body')).to_contain_text(READERS)

    # The effective view on server A shows the rule and what 'many' gets from it.
    admin_page.goto(f'{netbox.url}/plugins/authentik/group-mappings/effective/')
    expect(admin_page.locator('#effective-rules')).to_contain_text(PATTERN)
    many = admin_page.locator('#id_link option', has_text=re.compile(r'^many ')).get_attribute('value')
    admin_page.locator('#id_link').select_option(many)
    admin_page.get_by_role('button', name='Show').click()
    expect(admin_page.locator('#would-superuser')).to_contain_text('no')
    admin_page.screenshot(path=SCREENS / 'group-mappings-effective.png', full_page=True)

    # NetBox's change log shows the sign-in's change to the user.
    admin_page.goto(f'{netbox.url}/core/changelog/?changed_object_type=users.user')
    expect(admin_page.locator('#object_list')).to_contain_text('many')
    admin_page.context.close()
