"""NetBox with a broken plugin configuration: it starts, `netbox check` names the mistakes, local login works."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings

REPO = Path(__file__).resolve().parent.parent
BROKEN = 'tests.broken_configuration'
# Only to keep the test quick: NetBox's default PBKDF2 costs about a second per password under load.
FAST_HASHER = ['django.contrib.auth.hashers.MD5PasswordHasher']
BROKEN_ERRORS = [
    "?: (netbox_authentik.E006) SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT is 'not a url', not an http(s) URL.",
    "?: (netbox_authentik.E009) PLUGINS_CONFIG['netbox_authentik']: Unknown setting 'group_mapp'. Did you mean "
    "'group_map'?",
    "?: (netbox_authentik.E010) PLUGINS_CONFIG['netbox_authentik']: 'login_button_label' must be str, not int.",
    "?: (netbox_authentik.E012) PLUGINS_CONFIG['netbox_authentik']['group_map']['netbox-users'] is 5, not a NetBox "
    'group name or a list of names.',
]

LOCAL_LOGIN = '''
import json
import django
django.setup()
from django.db import transaction
from django.test import Client
from users.models import User

class RolledBack(Exception):
    pass

outcome = {}
try:
    with transaction.atomic():
        user = User.objects.create_user(username='local-admin', password='local-password-123')
        client = Client()
        page = client.get('/login/')
        outcome['login_page'] = page.status_code
        outcome['button'] = 'action="/oauth/begin/authentik/"' in page.content.decode()
        sso = client.post('/oauth/begin/authentik/')
        outcome['sso'] = [sso.status_code, sso.get('Location')]
        response = client.post('/login/', {'username': 'local-admin', 'password': 'local-password-123'})
        outcome['login'] = [response.status_code, response.get('Location')]
        outcome['signed_in'] = client.session.get('_auth_user_id') == str(user.pk)
        raise RolledBack
except RolledBack:
    pass
print(json.dumps(outcome))
'''


def run_netbox(*args):
    """Run python with the broken configuration, on this test run's database and Redis."""
    env = {
        **os.environ,
        'DJANGO_SETTINGS_MODULE': 'tests.settings',
        'NETBOX_CONFIGURATION': BROKEN,
        'NBA_DB_NAME': settings.DATABASES['default']['NAME'],
    }
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_netbox_check_prints_our_errors_without_a_traceback():
    result = run_netbox('-m', 'netbox', 'check')
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'Traceback' not in output
    reported = [line for line in result.stderr.splitlines() if line.startswith('?: (netbox_authentik.')]
    assert reported == BROKEN_ERRORS
    assert 'System check identified 4 issues (0 silenced).' in result.stderr
    # Start-up (gunicorn runs no checks) logged each error once too.
    assert output.count('netbox_authentik.E012: ') == 1


def test_local_login_works_with_the_broken_configuration(django_db_setup):
    result = run_netbox('-c', LOCAL_LOGIN)
    assert result.returncode == 0, result.stderr
    assert 'Traceback' not in result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {
        'login_page': 200,
        'button': True,
        # Signing in through Authentik cannot work; it sends the person back to the login page with a message.
        'sso': [302, '/login/'],
        'login': [302, '/'],
        'signed_in': True,
    }


@pytest.mark.django_db
def test_local_login_with_broken_plugin_settings_in_process(client):
    from tests import broken_configuration

    with override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=broken_configuration.SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT,
                           PLUGINS_CONFIG=broken_configuration.PLUGINS_CONFIG, PASSWORD_HASHERS=FAST_HASHER):
        get_user_model().objects.create_user(username='local-admin', password='local-password-123')
        page = client.get('/login/')
        assert page.status_code == 200
        assert 'Authentik' in page.content.decode()
        response = client.post('/login/', {'username': 'local-admin', 'password': 'local-password-123'})
        assert (response.status_code, response['Location']) == (302, '/')
        assert client.get('/').context['request'].user.username == 'local-admin'
