"""`netbox-authentik-token`: Authentik's token endpoints and NetBox's exchange at the HTTP edge (faked), the
command's output, and that it runs where NetBox is not installed."""

import base64
import subprocess
import sys
from urllib.parse import parse_qs

import pytest
import responses

from netbox_authentik.exchange import cli
from tests.fake_authentik import DISCOVERY_URL, ISSUER, TOKEN_URL

NETBOX = 'https://netbox.example.com'
EXCHANGE_URL = f'{NETBOX}/api/plugins/authentik/token-exchange/'
DEVICE_URL = 'https://authentik.example.com/application/o/device/'
APP_PASSWORD = 'app-password-0123456789'
NETBOX_TOKEN = 'nbt_abcdefghijkl.0123456789abcdefghijklmnopqrstuvwxyzABCD'
DISCOVERY = {'issuer': ISSUER, 'token_endpoint': TOKEN_URL, 'device_authorization_endpoint': DEVICE_URL}


def form(call):
    return {name: values[0] for name, values in parse_qs(call.request.body).items()}


@pytest.fixture
def edge(monkeypatch):
    monkeypatch.setattr(cli.time, 'sleep', lambda seconds: None)
    for name in ('NETBOX_URL', 'AUTHENTIK_ISSUER', 'AUTHENTIK_USERNAME', 'AUTHENTIK_CLIENT_SECRET'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('AUTHENTIK_CLIENT_ID', 'netbox')
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, DISCOVERY_URL, json=DISCOVERY)
        mock.add(responses.POST, EXCHANGE_URL, json={'access_token': NETBOX_TOKEN, 'token_type': 'Bearer'})
        yield mock


def run(*arguments):
    return cli.main(['--netbox', NETBOX, '--issuer', ISSUER, *arguments])


def test_service_account_prints_an_export_line_and_never_the_app_password(edge, monkeypatch, capsys):
    monkeypatch.setenv('AUTHENTIK_APP_PASSWORD', APP_PASSWORD)
    edge.add(responses.POST, TOKEN_URL, json={'access_token': 'authentik-access-token', 'token_type': 'Bearer'})

    assert run('--username', 'svc-ansible', '--write', '--export', '--lifetime', '600') == 0

    output = capsys.readouterr()
    assert output.out == f'export NETBOX_TOKEN={NETBOX_TOKEN}\n'
    assert APP_PASSWORD not in output.out + output.err
    token_request, exchange_request = form(edge.calls[1]), form(edge.calls[2])
    assert token_request == {
        'client_id': 'netbox',
        'grant_type': 'client_credentials',
        'username': 'svc-ansible',
        'password': APP_PASSWORD,
        'scope': 'openid profile email netbox:write',
    }
    assert exchange_request == {
        'grant_type': 'urn:ietf:params:oauth:grant-type:token-exchange',
        'subject_token': 'authentik-access-token',
        'subject_token_type': 'urn:ietf:params:oauth:token-type:access_token',
        'expires_in': '600',
    }


def test_device_flow_shows_the_link_and_polls_until_the_person_signed_in(edge, capsys):
    edge.add(
        responses.POST,
        DEVICE_URL,
        json={
            'device_code': 'device-code',
            'user_code': '123456789',
            'verification_uri': 'https://authentik.example.com/device',
            'verification_uri_complete': 'https://authentik.example.com/device?code=123456789',
            'expires_in': 600,
            'interval': 5,
        },
    )
    edge.add(responses.POST, TOKEN_URL, json={'error': 'authorization_pending'}, status=400)
    edge.add(responses.POST, TOKEN_URL, json={'error': 'slow_down'}, status=400)
    edge.add(responses.POST, TOKEN_URL, json={'access_token': 'person-access-token'})

    assert run() == 0

    output = capsys.readouterr()
    assert output.out == f'{NETBOX_TOKEN}\n'
    assert output.err == 'Open https://authentik.example.com/device?code=123456789 and enter the code 123456789\n'
    polls = [form(call) for call in edge.calls if call.request.url == TOKEN_URL]
    assert len(polls) == 3
    assert polls[0] == {
        'client_id': 'netbox',
        'grant_type': 'urn:ietf:params:oauth:grant-type:device_code',
        'device_code': 'device-code',
    }
    assert form(edge.calls[-1])['subject_token'] == 'person-access-token'


def test_refusal_is_shown_with_its_oauth_error_and_fails(edge, monkeypatch, capsys):
    monkeypatch.setenv('AUTHENTIK_APP_PASSWORD', APP_PASSWORD)
    edge.add(responses.POST, TOKEN_URL, json={'access_token': 'authentik-access-token'})
    edge.replace(
        responses.POST,
        EXCHANGE_URL,
        json={'error': 'access_denied', 'error_description': 'Your NetBox account is deactivated.'},
        status=403,
    )

    assert run('--username', 'svc-ansible') == 1

    output = capsys.readouterr()
    assert output.out == ''
    assert output.err == (
        'netbox-authentik-token: NetBox token exchange answered HTTP 403: access_denied '
        '(Your NetBox account is deactivated.)\n'
    )


def test_missing_app_password_or_settings_say_what_to_set(edge, monkeypatch, capsys):
    monkeypatch.delenv('AUTHENTIK_APP_PASSWORD', raising=False)

    assert run('--username', 'svc-ansible') == 1
    assert 'AUTHENTIK_APP_PASSWORD' in capsys.readouterr().err
    assert cli.main(['--issuer', ISSUER]) == 1
    assert '--netbox is required' in capsys.readouterr().err


def test_client_secret_from_the_environment_goes_to_authentik_only(edge, monkeypatch, capsys):
    secret = base64.b64encode(b'svc-ansible:' + APP_PASSWORD.encode()).decode()
    monkeypatch.setenv('AUTHENTIK_CLIENT_SECRET', secret)
    monkeypatch.setenv('AUTHENTIK_APP_PASSWORD', APP_PASSWORD)
    edge.add(responses.POST, TOKEN_URL, json={'access_token': 'authentik-access-token'})

    assert run('--username', 'svc-ansible') == 0

    assert form(edge.calls[1])['client_secret'] == secret
    assert secret not in edge.calls[2].request.body
    assert secret not in capsys.readouterr().out


def test_the_script_runs_where_netbox_is_not_installed():
    # A laptop or CI runner has the package and requests, not NetBox.
    code = "import sys; sys.modules['netbox'] = None; from netbox_authentik.exchange import cli; cli.main(['--help'])"

    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert 'usage: netbox-authentik-token' in done.stdout


def test_an_answer_without_a_token_is_an_error_not_a_traceback(edge, monkeypatch, capsys):
    monkeypatch.setenv('AUTHENTIK_APP_PASSWORD', APP_PASSWORD)
    edge.add(responses.POST, TOKEN_URL, json={'token_type': 'Bearer'})

    assert run('--username', 'svc-ansible') == 1

    assert capsys.readouterr().err == "netbox-authentik-token: unexpected answer (KeyError: 'access_token')\n"
