"""Smoke test of an installed netbox-authentik: a minimal NetBox configured with the plugin, as the README says.

Run it with the Python of a virtualenv holding NetBox and the plugin (a wheel, not the checkout):

    python tests/tools/smoke.py --target DIR [--database NAME --migrate] [--requests]

It writes DIR/smoke_configuration.py (PostgreSQL and Redis from the NBA_* variables), runs
`netbox check`, optionally `netbox migrate`, and with --requests GETs the login page (which must
show the Authentik button) and a plugin page (which must send an anonymous visitor to the login
page) through Django's test client. Every NetBox process runs in DIR, so the checkout is never
imported in place of the installed plugin. Exit status 0 means the plugin works as installed.
"""

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

CONFIGURATION = """
import os

ALLOWED_HOSTS = ['*']
DATABASES = {{
    'default': {{
        'NAME': {database!r},
        'USER': os.environ.get('NBA_DB_USER', 'postgres'),
        'PASSWORD': os.environ.get('NBA_DB_PASSWORD', ''),
        'HOST': os.environ.get('NBA_DB_HOST', '127.0.0.1'),
        'PORT': os.environ.get('NBA_DB_PORT', '5432'),
    }}
}}
_REDIS = {{
    'HOST': os.environ.get('NBA_REDIS_HOST', '127.0.0.1'),
    'PORT': int(os.environ.get('NBA_REDIS_PORT', '6379')),
    'USERNAME': '',
    'PASSWORD': '',
    'SSL': False,
}}
REDIS = {{
    'tasks': {{**_REDIS, 'DATABASE': int(os.environ.get('NBA_REDIS_DB', '0'))}},
    'caching': {{**_REDIS, 'DATABASE': int(os.environ.get('NBA_REDIS_DB', '0'))}},
}}
SECRET_KEY = 'smoke-test-only-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMN'
ISOLATED_DEPLOYMENT = True

# As the README's quick start says.
PLUGINS = ['netbox_authentik']
REMOTE_AUTH_BACKEND = 'netbox_authentik.backends.AuthentikOIDCAuth'
SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT = 'https://authentik.example.com/application/o/netbox/'
SOCIAL_AUTH_AUTHENTIK_KEY = 'netbox'
SOCIAL_AUTH_AUTHENTIK_SECRET = 'smoke-test-client-secret-0123456789'
PLUGINS_CONFIG = {{
    'netbox_authentik': {{
        'group_map': {{'network-engineers': 'Network Engineers'}},
        'superuser_groups': ['netbox-admins'],
    }},
}}
"""

REQUESTS = """
import django
django.setup()
import netbox_authentik
from django.test import Client

print('netbox_authentik from', netbox_authentik.__file__)
client = Client()
login = client.get('/login/')
assert login.status_code == 200, login.status_code
assert b'/oauth/begin/authentik/' in login.content, 'no Authentik button on the login page'
links = client.get('/plugins/authentik/associations/')
assert links.status_code == 302 and links['Location'].startswith('/login/'), (links.status_code, links.get('Location'))
print('login page shows the Authentik button; the plugin page asks an anonymous visitor to sign in')
"""


def netbox(target, *arguments, env):
    """Run `python -m netbox ARGUMENTS` in `target`; stop the smoke test when it fails."""
    print('+ netbox', *arguments, flush=True)
    done = subprocess.run([sys.executable, '-m', 'netbox', *arguments], cwd=target, env=env)
    if done.returncode:
        sys.exit(f'netbox {" ".join(arguments)} failed with status {done.returncode}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--target', required=True, type=Path, help='folder for the configuration and NetBox files')
    parser.add_argument('--database', default=os.environ.get('NBA_DB_NAME', 'netbox'))
    parser.add_argument('--migrate', action='store_true', help='run `netbox migrate` first (several minutes)')
    parser.add_argument('--requests', action='store_true', help='GET the login page and a plugin page')
    options = parser.parse_args()

    target = options.target.resolve()
    target.mkdir(parents=True, exist_ok=True)
    (target / 'smoke_configuration.py').write_text(textwrap.dedent(CONFIGURATION.format(database=options.database)))
    env = {
        **os.environ,
        'NETBOX_CONFIGURATION': 'smoke_configuration',
        'NETBOX_ROOT': str(target),
        'DJANGO_SETTINGS_MODULE': 'netbox.settings',
        'PYTHONPATH': str(target),
    }
    netbox(target, 'check', env=env)
    if options.migrate:
        netbox(target, 'migrate', '--no-input', env=env)
    if options.requests:
        print('+ GET /login/ and /plugins/authentik/associations/', flush=True)
        done = subprocess.run([sys.executable, '-c', REQUESTS], cwd=target, env=env)
        if done.returncode:
            sys.exit('the login page or the plugin page is not as expected')
    print('smoke test passed')


if __name__ == '__main__':
    main()
