"""API access with Authentik identities, end to end: the console script gets a token from the test provider,
exchanges it at a real NetBox server, and the NetBox token lists sites through REST and GraphQL; a SCIM
deactivation makes it stop working.

Users are provisioned by SCIM, as Authentik's SCIM provider does (service accounts included when the provider
does not exclude them), so the exchange finds them linked.
"""

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.e2e import PLUGINS_CONFIG
from tests.e2e.conftest import SERVER_ROLE
from tests.e2e.test_scim_provisioning import USER_SCHEMA, call, hashed_user_id
from tests.tools.idp import CLIENT_ID
from tests.tools.netbox_server import netbox_env
from tests.tools.services import REPO

pytestmark = pytest.mark.e2e

SCRIPT = REPO / '.venv' / 'bin' / 'netbox-authentik-token'
APP_PASSWORD = 'svc-automation-app-password-0123456789'
SITE = 'Exchange Test Site'

# `scim`: a superuser's SCIM token and one site; `view`: the right to view sites for the users named.
PREPARE = """
import sys
import django
django.setup()
from core.models import ObjectType
from dcim.models import Site
from users.models import ObjectPermission, Token, User
if sys.argv[1] == 'scim':
    Site.objects.create(name=sys.argv[2], slug='exchange-test-site')
    scim = User.objects.create(username='authentik-scim', is_superuser=True)
    token = Token(user=scim, version=2)
    token.save()
    print(token.get_auth_header_prefix() + token.token)
else:
    permission = ObjectPermission.objects.create(name='view sites', actions=['view'])
    permission.object_types.add(ObjectType.objects.get_for_model(Site))
    permission.users.add(*User.objects.filter(username__in=sys.argv[2:]))
"""


@pytest.fixture
def prepared(e2e_run, provider_slot, idp, netbox):
    """Provision `usernames` by SCIM, with the right to view sites; return the SCIM call helper and their ids."""
    env = netbox_env(
        db_name=e2e_run.database,
        cache_role=SERVER_ROLE,
        oidc_endpoint=provider_slot.issuer,
        plugins_config=PLUGINS_CONFIG,
    )

    def run(*arguments):
        done = subprocess.run(
            [sys.executable, '-c', PREPARE, *arguments], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def prepare(*usernames):
        scim_token = run('scim', SITE).strip().splitlines()[-1]

        def scim(method, path, body=None):
            return call(f'{netbox.url}/plugins/authentik/scim/v2/{path}', method, scim_token, body)

        ids = {}
        for username in usernames:
            body = {
                'schemas': [USER_SCHEMA],
                'userName': username,
                'active': True,
                'externalId': hashed_user_id(username),
                'name': {'formatted': username, 'familyName': ' ', 'givenName': username},
                'displayName': username,
                'emails': [],
            }
            status, user = scim('POST', 'Users', body)
            assert status == 201, user
            ids[username] = (user['id'], body)
        run('view', *usernames)
        return scim, ids

    return prepare


def script_env(**extra):
    env = {'PATH': '/usr/bin:/bin', 'AUTHENTIK_CLIENT_ID': CLIENT_ID, **extra}
    return env


def api(url, token, body=None):
    """GET (or POST JSON) with the exchanged token; return (status, parsed body)."""
    headers = {'Authorization': f'Bearer {token}', 'Accept': 'application/json'}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers['Content-Type'] = 'application/json'
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b'null')


def lists_the_site(netbox, token):
    status, sites = api(f'{netbox.url}/api/dcim/sites/', token)
    return status == 200 and [site['name'] for site in sites['results']] == [SITE]


def test_service_account_gets_a_token_with_one_command_and_loses_it_when_deactivated(netbox, idp, prepared):
    scim, ids = prepared('svc-automation')

    done = subprocess.run(
        [str(SCRIPT), '--netbox', netbox.url, '--issuer', idp.issuer, '--username', 'svc-automation', '--export'],
        env=script_env(AUTHENTIK_APP_PASSWORD=APP_PASSWORD),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    match = re.fullmatch(r'export NETBOX_TOKEN=(nbt_\S+)\n', done.stdout)
    assert match, done.stdout
    token = match.group(1)
    assert APP_PASSWORD not in done.stdout + done.stderr
    assert lists_the_site(netbox, token)
    status, graphql = api(f'{netbox.url}/graphql/', token, {'query': '{ site_list { name } }'})
    assert status == 200 and graphql['data']['site_list'] == [{'name': SITE}], graphql
    # Read-only unless the Authentik token carries netbox:write.
    status, _body = api(f'{netbox.url}/api/dcim/sites/', token, {'name': 'x', 'slug': 'x'})
    assert status == 403

    # Authentik's SCIM provider deactivates the account: its NetBox token stops working at once.
    scim_id, body = ids['svc-automation']
    status, _user = scim('PUT', f'Users/{scim_id}', {**body, 'id': scim_id, 'active': False})
    assert status == 200
    status, refused = api(f'{netbox.url}/api/dcim/sites/', token)
    assert status == 403 and refused['detail'] == 'User inactive'
    # Authentik's tokens have no jti and whole-second times: a token issued in the same second as the first
    # would be the same token (docs/api-access.md, "Security model"), so the second try starts in the next second.
    time.sleep(1.1)
    again = subprocess.run(
        [str(SCRIPT), '--netbox', netbox.url, '--issuer', idp.issuer, '--username', 'svc-automation'],
        env=script_env(AUTHENTIK_APP_PASSWORD=APP_PASSWORD),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 1
    assert 'access_denied' in again.stderr and 'deactivated' in again.stderr


def test_person_gets_a_token_through_the_device_flow(netbox, idp, prepared, page):
    prepared('alice')
    script = subprocess.Popen(
        [str(SCRIPT), '--netbox', netbox.url, '--issuer', idp.issuer],
        env=script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        prompt = script.stderr.readline()
        match = re.fullmatch(r'Open (\S+) and enter the code (\d{9})\n', prompt)
        assert match, prompt

        # The person opens the link in a browser, checks the code and signs in.
        page.goto(match.group(1))
        expect(page.locator('#code')).to_have_value(match.group(2))
        page.locator('#username').fill('alice')
        page.locator('#password').fill('alice-pass')
        page.get_by_role('button', name='Continue').click()
        expect(page.locator('#device-done')).to_be_visible()

        stdout, stderr = script.communicate(timeout=60)
    finally:
        script.kill()
    assert script.returncode == 0, stderr
    token = stdout.strip()
    assert token.startswith('nbt_')
    assert lists_the_site(netbox, token)
