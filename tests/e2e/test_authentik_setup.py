"""The "Authentik set-up" page in a browser: a superuser sees the blueprint, changes options and downloads it."""

import pytest
from playwright.sync_api import expect

from tests.authentik_blueprints import load, problems
from tests.e2e import SCREENS
from tests.e2e.test_group_mappings import local_login

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize('width', [1280, 1920])
def test_superuser_sees_and_downloads_the_blueprint(browser, netbox, width):
    context = browser.new_context(viewport={'width': width, 'height': 900}, accept_downloads=True)
    page = context.new_page()
    local_login(page, netbox.url)
    # The Plugins menu lists the page (for superusers); its dropdown is closed, so the link is followed by URL.
    menu_link = page.locator('a[href="/plugins/authentik/authentik-setup/"]', has_text='Authentik set-up')
    expect(menu_link).to_have_count(1)
    page.goto(netbox.url + menu_link.get_attribute('href'))
    expect(page.locator('#blueprint-yaml')).to_contain_text('authentik_providers_oauth2.oauth2provider')
    page.get_by_label('SCIM provider').check()
    page.get_by_label('Groups the mapping rules name').check()
    with page.expect_navigation():
        page.locator('#blueprint-options button[type=submit]').click()
    assert 'scim=on' in page.url, page.url
    expect(page.locator('#blueprint-yaml')).to_contain_text('!Env')
    shown = page.locator('#blueprint-yaml').inner_text()
    assert problems(load(shown)) == []
    assert f'{netbox.url}/oauth/complete/authentik/' in shown
    page.screenshot(path=SCREENS / f'authentik-setup-{width}.png', full_page=True)

    with page.expect_download() as download_info:
        page.locator('#download-blueprint').click()
    download = download_info.value
    assert download.suggested_filename == 'netbox-authentik-blueprint.yaml'
    downloaded = open(download.path(), encoding='utf-8').read()
    assert load(downloaded) == load(shown)
    context.close()
