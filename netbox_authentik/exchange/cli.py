"""`netbox-authentik-token`: a NetBox API token for a script or a person at a terminal, through Authentik.

Gets an Authentik access token, by the device code flow (a person: open the link, enter the code) or by
client credentials (a service account and its app password), exchanges it at NetBox's
/api/plugins/authentik/token-exchange/ and prints the NetBox token (or `export NETBOX_TOKEN=…`).
Needs only `requests`: it imports nothing of NetBox or Django, so it runs on any machine with the package.
Secrets are read from the environment or a file, never from the command line, and never printed; the
only secret it prints is the NetBox token it was asked for.
"""

import argparse
import os
import shlex
import sys
import time

import requests

TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
EXCHANGE_PATH = '/api/plugins/authentik/token-exchange/'
WELL_KNOWN = '/.well-known/openid-configuration'
TIMEOUT = 30


class Failure(Exception):
    """Something the person must fix; the message says what, and never quotes a secret."""


def main(argv=None):
    """Run the command; return the exit status (0: the token was printed)."""
    arguments = _parser().parse_args(argv)
    try:
        token = netbox_token(arguments)
    except Failure as failure:
        print(f'netbox-authentik-token: {failure}', file=sys.stderr)
        return 1
    except requests.RequestException as error:
        print(f'netbox-authentik-token: request failed: {type(error).__name__}', file=sys.stderr)
        return 1
    except (KeyError, TypeError, ValueError) as error:
        # An answer without the field the protocol promises (a wrong URL that answers some other JSON).
        print(f'netbox-authentik-token: unexpected answer ({type(error).__name__}: {error})', file=sys.stderr)
        return 1
    print(f'export NETBOX_TOKEN={shlex.quote(token)}' if arguments.export else token)
    return 0


def _parser():
    parser = argparse.ArgumentParser(
        prog='netbox-authentik-token',
        description='Get a short-lived NetBox API token through Authentik (device code flow or client credentials).',
        epilog='Secrets come from the environment: AUTHENTIK_APP_PASSWORD (or --app-password-file) for a service '
        'account, AUTHENTIK_CLIENT_SECRET for a confidential client.',
    )
    environ = os.environ.get
    parser.add_argument('--netbox', default=environ('NETBOX_URL'), help='NetBox base URL (env NETBOX_URL)')
    parser.add_argument(
        '--issuer',
        default=environ('AUTHENTIK_ISSUER'),
        help="the Authentik application's issuer, https://…/application/o/<slug>/ (env AUTHENTIK_ISSUER)",
    )
    parser.add_argument('--client-id', default=environ('AUTHENTIK_CLIENT_ID'), help='env AUTHENTIK_CLIENT_ID')
    parser.add_argument(
        '--username',
        default=environ('AUTHENTIK_USERNAME'),
        help='a service account: use client credentials with its app password (env AUTHENTIK_USERNAME); '
        'without it, the device code flow signs a person in',
    )
    parser.add_argument('--app-password-file', help='read the app password from this file')
    parser.add_argument('--scope', default='openid profile email', help="default: 'openid profile email'")
    parser.add_argument('--write', action='store_true', help='ask for a write-enabled token (scope netbox:write)')
    parser.add_argument('--lifetime', type=int, help='seconds the NetBox token should live at most')
    parser.add_argument('--export', action='store_true', help='print `export NETBOX_TOKEN=…` for eval')
    return parser


def netbox_token(arguments):
    """The NetBox token (the Authorization header's value) for these arguments."""
    for name in ('netbox', 'issuer', 'client_id'):
        if not getattr(arguments, name):
            raise Failure(f'--{name.replace("_", "-")} is required (or its environment variable)')
    scope = arguments.scope + (' netbox:write' if arguments.write else '')
    session = requests.Session()
    discovery = _json(session.get(arguments.issuer.rstrip('/') + WELL_KNOWN, timeout=TIMEOUT), 'Authentik discovery')
    client = {'client_id': arguments.client_id}
    if secret := os.environ.get('AUTHENTIK_CLIENT_SECRET'):
        client['client_secret'] = secret
    if arguments.username:
        access_token = _client_credentials(session, discovery, client, arguments, scope)
    else:
        access_token = _device_flow(session, discovery, client, scope)
    return _exchange(session, arguments.netbox, access_token, arguments.lifetime)


def _client_credentials(session, discovery, client, arguments, scope):
    password = os.environ.get('AUTHENTIK_APP_PASSWORD')
    if arguments.app_password_file:
        with open(arguments.app_password_file) as password_file:
            password = password_file.read().strip()
    if not password:
        raise Failure("set AUTHENTIK_APP_PASSWORD or --app-password-file to the service account's app password")
    form = {**client, 'grant_type': 'client_credentials', 'username': arguments.username, 'password': password}
    answer = session.post(discovery['token_endpoint'], data={**form, 'scope': scope}, timeout=TIMEOUT)
    return _json(answer, 'Authentik token endpoint')['access_token']


def _device_flow(session, discovery, client, scope):
    endpoint = discovery.get('device_authorization_endpoint')
    if not endpoint:
        raise Failure('Authentik advertises no device authorization endpoint; use --username for a service account')
    device = _json(session.post(endpoint, data={**client, 'scope': scope}, timeout=TIMEOUT), 'Authentik device flow')
    link = device.get('verification_uri_complete') or device['verification_uri']
    print(f'Open {link} and enter the code {device["user_code"]}', file=sys.stderr)
    interval = int(device.get('interval') or 5)
    deadline = time.monotonic() + int(device.get('expires_in') or 600)
    form = {**client, 'grant_type': DEVICE_GRANT, 'device_code': device['device_code']}
    while time.monotonic() < deadline:
        time.sleep(interval)
        answer = session.post(discovery['token_endpoint'], data=form, timeout=TIMEOUT)
        error = _oauth_error(answer)
        if error == 'authorization_pending':
            continue
        if error == 'slow_down':
            interval += 5
            continue
        return _json(answer, 'Authentik token endpoint')['access_token']
    raise Failure('the code expired before it was entered; run the command again')


def _exchange(session, netbox_url, access_token, lifetime):
    form = {'grant_type': TOKEN_EXCHANGE_GRANT, 'subject_token': access_token, 'subject_token_type': ACCESS_TOKEN_TYPE}
    if lifetime:
        form['expires_in'] = str(lifetime)
    answer = session.post(netbox_url.rstrip('/') + EXCHANGE_PATH, data=form, timeout=TIMEOUT)
    # NetBox reads `Bearer nbt_…` (v2) and `Token …` (v1): pynetbox and Ansible take the part after the keyword.
    return _json(answer, 'NetBox token exchange')['access_token']


def _oauth_error(answer):
    try:
        body = answer.json()
    except ValueError:
        return None
    return body.get('error') if isinstance(body, dict) and answer.status_code >= 400 else None


def _json(answer, what):
    """The JSON body of a successful answer; a Failure naming the OAuth error (never the body's tokens)."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code >= 400 or not isinstance(body, dict):
        detail = ''
        if isinstance(body, dict) and isinstance(body.get('error'), str):
            description = body.get('error_description')
            detail = f': {body["error"]}' + (f' ({description})' if isinstance(description, str) else '')
        raise Failure(f'{what} answered HTTP {answer.status_code}{detail}')
    return body


if __name__ == '__main__':
    sys.exit(main())
