"""NetBox with a broken plugin configuration: it starts, `netbox check` names the mistakes, local login works."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings

from tests.tools.services import free_port

REPO = Path(__file__).resolve().parent.parent
BROKEN = 'tests.broken_configuration'
TYPO = 'tests.typo_configuration'
NO_SECRET = 'tests.no_secret_configuration'
NO_PLUGIN = 'tests.no_plugin_configuration'
# The start-up log line (checks._log), as opposed to Django's "?: (netbox_authentik.E009) ..." check output.
START_UP_LINE = 'netbox_authentik.E009: '
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

LOCAL_LOGIN = """
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
"""


def netbox_env(configuration):
    return {
        **os.environ,
        'PYTHONUNBUFFERED': '1',
        'DJANGO_SETTINGS_MODULE': 'tests.settings',
        'NETBOX_CONFIGURATION': configuration,
        'NBA_DB_NAME': settings.DATABASES['default']['NAME'],
    }


def run_netbox(*args, configuration=BROKEN):
    """Run python with a broken configuration, on this test run's database and Redis."""
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=netbox_env(configuration), capture_output=True, text=True, timeout=600
    )


def test_netbox_check_prints_our_problems_as_warnings_without_a_traceback():
    result = run_netbox('-m', 'netbox', 'check')
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert 'Traceback' not in output
    reported = [line for line in result.stderr.splitlines() if line.startswith('?: (netbox_authentik.')]
    assert reported == BROKEN_ERRORS
    assert 'WARNINGS:' in result.stderr and 'ERRORS:' not in result.stderr
    assert 'System check identified 4 issues (0 silenced).' in result.stderr
    # The start-up log line is for servers (gunicorn runs no checks), not for commands.
    assert 'netbox_authentik.E012: ' not in output


@pytest.mark.parametrize('configuration', [TYPO, NO_SECRET])
def test_netbox_check_and_migrate_succeed_with_a_broken_sso_configuration(configuration, django_db_setup):
    check = run_netbox('-m', 'netbox', 'check', configuration=configuration)
    assert check.returncode == 0, check.stderr
    problem = 'E009' if configuration == TYPO else 'E004'
    assert f'?: (netbox_authentik.{problem}) ' in check.stderr
    migrate = run_netbox('-m', 'netbox', 'migrate', '--no-input', configuration=configuration)
    assert migrate.returncode == 0, migrate.stderr
    assert f'?: (netbox_authentik.{problem}) ' in migrate.stderr  # said, not refused
    assert 'Traceback' not in migrate.stderr


@pytest.mark.parametrize('command', [['help'], ['upgrade', '--help'], ['migrate', '--check']])
def test_commands_do_not_print_the_start_up_log(command, django_db_setup):
    result = run_netbox('-m', 'netbox', *command, configuration=TYPO)
    assert result.returncode == 0, result.stderr
    assert START_UP_LINE not in result.stdout + result.stderr


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_runserver_logs_the_problems_once_at_its_first_request(django_db_setup, tmp_path):
    port = free_port()
    log = tmp_path / 'runserver.log'
    with log.open('w') as output:
        # With the autoreloader: its parent process runs ready() too, but serves no request.
        server = subprocess.Popen(
            [sys.executable, '-m', 'netbox', 'runserver', f'127.0.0.1:{port}'],
            cwd=REPO,
            env=netbox_env(TYPO),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 180
            while 'Quit the server with' not in log.read_text():
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            assert START_UP_LINE not in log.read_text()
            assert _get(f'http://127.0.0.1:{port}/login/') == 200
            assert _get(f'http://127.0.0.1:{port}/api/status/') in (200, 403)
            time.sleep(0.5)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    text = log.read_text()
    assert text.count(START_UP_LINE) == 1, text
    assert "?: (netbox_authentik.E009) PLUGINS_CONFIG['netbox_authentik']: Unknown setting 'grup_map'." in text


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

    with override_settings(
        SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=broken_configuration.SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT,
        PLUGINS_CONFIG=broken_configuration.PLUGINS_CONFIG,
        PASSWORD_HASHERS=FAST_HASHER,
    ):
        get_user_model().objects.create_user(username='local-admin', password='local-password-123')
        page = client.get('/login/')
        assert page.status_code == 200
        assert 'Authentik' in page.content.decode()
        response = client.post('/login/', {'username': 'local-admin', 'password': 'local-password-123'})
        assert (response.status_code, response['Location']) == (302, '/')
        assert client.get('/').context['request'].user.username == 'local-admin'


NO_PLUGIN_SIGN_IN = """
import json
import django
django.setup()
from django.db import transaction
from django.test import Client
from tests.fake_authentik import toast_messages
from users.models import User

class RolledBack(Exception):
    pass

outcome = {}
try:
    with transaction.atomic():
        User.objects.create_user(username='alice', is_superuser=True)
        client = Client()
        outcome['button'] = 'action="/oauth/begin/authentik/"' in client.get('/login/').content.decode()
        begin = client.post('/oauth/begin/authentik/')
        outcome['begin'] = [begin.status_code, begin.get('Location')]
        outcome['messages'] = toast_messages(client.get(begin['Location']))
        callback = client.get('/oauth/complete/authentik/', {'code': 'authorization-code', 'state': 'state'})
        outcome['callback'] = [callback.status_code, callback.get('Location')]
        outcome['signed_in'] = '_auth_user_id' in client.session
        raise RolledBack
except RolledBack:
    pass
print(json.dumps(outcome))
"""


def test_backend_without_the_plugin_refuses_sign_in_and_says_how_to_fix_it(django_db_setup):
    result = run_netbox('-c', NO_PLUGIN_SIGN_IN, configuration=NO_PLUGIN)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    refused = (
        "Sign-in through Authentik is switched off until the NetBox administrator adds 'netbox_authentik' to "
        'PLUGINS in configuration.py.'
    )
    assert outcome == {
        'button': True,
        'begin': [302, '/login/'],
        'messages': [refused, 'Single sign-on failed. Please try again or contact your administrator.'],
        'callback': [302, '/login/'],
        'signed_in': False,
    }
    refusals = [line for line in result.stderr.splitlines() if 'Sign-in through Authentik refused' in line]
    assert len(refusals) == 2, result.stderr  # the button and the callback, each logged
    assert 'Add it to PLUGINS in configuration.py.' in refusals[0]
