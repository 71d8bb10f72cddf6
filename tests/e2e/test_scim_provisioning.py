"""Authentik's SCIM provider, replayed call for call against a real NetBox server, with a real sign-in between.

The requests are the ones Authentik 2025.12.4 sends (docs/scim.md, "Provisioning with SCIM"): the bearer token as
pasted, application/scim+json on every request, users first, then groups and their members by PATCH.
"""

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.e2e import NETWORK_ENGINEERS, PLUGINS_CONFIG, wait_for
from tests.e2e.conftest import SERVER_ROLE
from tests.tools.idp import USERS
from tests.tools.netbox_server import netbox_env
from tests.tools.services import REPO

pytestmark = pytest.mark.e2e

USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User'
GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group'
PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp'

MAKE_TOKEN = """
import sys
import django
django.setup()
from users.models import Token, User
user, _ = User.objects.get_or_create(username=sys.argv[1])
if sys.argv[2] == 'superuser' and not user.is_superuser:
    user.is_superuser = True
    user.save()
token = Token(user=user, version=2)
token.save()
print(token.get_auth_header_prefix() + token.token)
"""


def hashed_user_id(username):
    """The test provider's `sub`, as Authentik's default subject mode (hashed user ID): 64 hex."""
    import hashlib

    return hashlib.sha256(f'netbox-authentik-test-idp:{username}'.encode()).hexdigest()


@pytest.fixture
def make_token(e2e_run, provider_slot, netbox):
    """Make an API token in the e2e database (after `netbox` put it back to its clean state)."""
    env = netbox_env(
        db_name=e2e_run.database,
        cache_role=SERVER_ROLE,
        oidc_endpoint=provider_slot.issuer,
        plugins_config=PLUGINS_CONFIG,
    )

    def make(username, role='user'):
        done = subprocess.run(
            [sys.executable, '-c', MAKE_TOKEN, username, role],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]

    return make


def call(url, method, authorization, body=None, scim=True):
    """One request as Authentik sends it; return (status, parsed body or None)."""
    headers = {'Authorization': authorization, 'User-Agent': 'authentik@2025.12.4'}
    if scim:
        headers.update({'Accept': 'application/scim+json', 'Content-Type': 'application/scim+json'})
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            content = response.read()
            return response.status, json.loads(content) if content else None
    except urllib.error.HTTPError as error:
        content = error.read()
        return error.code, json.loads(content) if content else None


def test_authentik_scim_push_deactivation_and_group_removal(idp, netbox, sign_in, netbox_db, make_token):
    base = f'{netbox.url}/plugins/authentik/scim/v2/'
    token = make_token('authentik-scim', 'superuser')

    def scim(method, path, body=None):
        return call(base + path, method, token, body)

    status, config = scim('GET', 'ServiceProviderConfig')
    assert status == 200 and config['patch']['supported'] and 'maxOperations' in config['bulk']

    def user_body(username, **extra):
        return {
            'schemas': [USER_SCHEMA],
            'userName': username,
            'active': True,
            'externalId': hashed_user_id(username),
            'name': {'formatted': username, 'familyName': '', 'givenName': username},
            'displayName': username,
            'emails': [],
            **extra,
        }

    status, person = scim('POST', 'Users', user_body('nogroups'))
    assert status == 201 and person['id']
    status, other = scim('POST', 'Users', user_body('scim-only'))
    assert status == 201

    try:
        # The person signs in through Authentik and lands in the user SCIM made: no second account.
        page = sign_in(netbox.url, 'nogroups', USERS['nogroups'][0])
        [(provider, uid, extra_data)] = netbox_db.user('nogroups')['links']
        assert (provider, uid) == ('authentik', hashed_user_id('nogroups'))
        assert extra_data['scim_provisioned'] is True

        # Groups come after the users: created without members, then PATCHed.
        status, admins = scim(
            'POST',
            'Groups',
            {
                'schemas': [GROUP_SCHEMA],
                'displayName': 'netbox-admins',
                'externalId': '6a0f8e3c-0000-4000-8000-000000000001',
            },
        )
        assert status == 201
        status, engineers = scim(
            'POST',
            'Groups',
            {
                'schemas': [GROUP_SCHEMA],
                'displayName': 'network-engineers',
                'externalId': '6a0f8e3c-0000-4000-8000-000000000002',
            },
        )
        for group in (admins, engineers):
            status, _body = scim(
                'PATCH',
                f'Groups/{group["id"]}',
                {
                    'schemas': [PATCH_SCHEMA],
                    'Operations': [
                        {'op': 'add', 'path': 'members', 'value': [{'value': person['id']}, {'value': other['id']}]}
                    ],
                },
            )
            assert status == 200
        user = netbox_db.user('nogroups')
        assert user['is_superuser'] is True and user['groups'] == {NETWORK_ENGINEERS}

        # Removing a member removes the NetBox group it mapped onto.
        status, _body = scim(
            'PATCH',
            f'Groups/{engineers["id"]}',
            {
                'schemas': [PATCH_SCHEMA],
                'Operations': [{'op': 'remove', 'path': 'members', 'value': [{'value': person['id']}]}],
            },
        )
        assert status == 200
        assert netbox_db.user('nogroups')['groups'] == set()

        # Deactivation in Authentik: PUT with active false ends the session and stops the API token.
        api_token = make_token('nogroups')
        assert call(f'{netbox.url}/api/status/', 'GET', api_token, scim=False)[0] == 200
        status, body = scim('PUT', f'Users/{person["id"]}', user_body('nogroups', active=False, id=person['id']))
        assert status == 200 and body['active'] is False
        page.goto(f'{netbox.url}/dcim/sites/')
        assert wait_for(lambda: '/login/' in page.url)
        status, refusal = call(f'{netbox.url}/api/status/', 'GET', api_token, scim=False)
        assert status == 403 and 'inactive' in refusal['detail']

        # Deleted in Authentik: the NetBox user stays, inactive.
        status, _body = scim('DELETE', f'Users/{other["id"]}')
        assert status == 204
        assert netbox_db.query('SELECT is_active FROM users_user WHERE id = %s', [int(other['id'])]) == [(False,)]
    finally:
        # Leave nogroups as the other end-to-end tests expect it: active, in no group.
        scim('PUT', f'Users/{person["id"]}', user_body('nogroups', id=person['id']))
        for group in scim('GET', 'Groups')[1]['Resources']:
            scim('DELETE', f'Groups/{group["id"]}')
