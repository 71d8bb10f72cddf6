"""Benchmark: NetBox's requests to Authentik per sign-in, and the time of the step that signs a person in.

    .venv/bin/python -m tests.benchmarks.sign_in_requests [--runs 30]

Starts the Authentik-shaped test provider (tests/idp, RS256) and drives real sign-ins through NetBox's
own views on a cloned database (nba_bench): the browser side (authorize, login form, redirects) with a
requests.Session, the NetBox side with Django's test Client. The provider counts the requests it serves
per endpoint (/_test/stats), which gives the backend-to-Authentik requests of one sign-in, with an empty
cache and a warm one, for this plugin's backend and for social-core's generic OpenIdConnectAuth. Then it
times GET /oauth/complete/authentik/ for a user in 2 groups and one in 500.
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin, urlparse

os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'
# Never the caller's database: this one is dropped at the end.
os.environ['NBA_DB_NAME'] = f'nba_bench_{secrets.token_hex(4)}'

import logging  # noqa: E402

import django  # noqa: E402

django.setup()
logging.getLogger('netbox_authentik').setLevel(logging.ERROR)

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from social_core.backends.open_id_connect import OpenIdConnectAuth  # noqa: E402

from netbox_authentik.signin.metadata import CACHE_PREFIX  # noqa: E402
from tests.tools import database  # noqa: E402
from tests.tools.idp import CLIENT_ID, CLIENT_SECRET, USERS, TestProvider  # noqa: E402

NETBOX = 'http://testserver'
# The backend's requests to Authentik; `authorize` is the browser's and is left out.
BACKEND_ENDPOINTS = ('discovery', 'jwks', 'token', 'userinfo')
GENERIC_BACKEND = 'social_core.backends.open_id_connect.OpenIdConnectAuth'
# Group sync that does real work: every Authentik group becomes a NetBox group and is mirrored.
PLUGIN_CONFIG = {'netbox_authentik': {'auto_create_groups': True}}


def sign_in(client, backend_name, username):
    """One whole sign-in: NetBox's button, the provider's login form, back to NetBox. Returns seconds in complete."""
    begin = client.post(f'/oauth/begin/{backend_name}/')
    assert begin.status_code == 302, begin
    browser = requests.Session()
    callback = f'{NETBOX}/oauth/complete/{backend_name}/'
    response = browser.get(begin['Location'], allow_redirects=False, timeout=10)
    for _hop in range(10):
        if response.is_redirect:
            location = urljoin(response.url, response.headers['Location'])
            if location.startswith(callback):
                break
            response = browser.get(location, allow_redirects=False, timeout=10)
        elif 'id="login-form"' in response.text:
            response = browser.post(
                response.url,
                data={'username': username, 'password': USERS[username][0]},
                allow_redirects=False,
                timeout=10,
            )
        else:
            raise RuntimeError(f'Unexpected answer from the provider: {response.status_code} {response.url}')
    else:
        raise RuntimeError('The provider never sent the browser back to NetBox')
    back = urlparse(location)
    started = time.perf_counter()
    complete = client.get(f'{back.path}?{back.query}')
    elapsed = time.perf_counter() - started
    assert complete.status_code == 302 and complete['Location'] == '/', (complete, complete.get('Location'))
    client.logout()
    return elapsed


def forget_provider_metadata():
    """Empty both backends' metadata caches: this plugin's (Django's cache) and social-core's (in-process)."""
    cache.delete_pattern(f'{CACHE_PREFIX}:*')
    OpenIdConnectAuth.oidc_config.invalidate()
    OpenIdConnectAuth.get_jwks_keys.invalidate()


def backend_requests(provider, client, backend_name, username):
    """The provider's per-endpoint counts for one sign-in."""
    provider.reset_stats()
    sign_in(client, backend_name, username)
    stats = provider.stats()
    return [stats.get(endpoint, 0) for endpoint in BACKEND_ENDPOINTS]


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[max(0, round(fraction * len(ordered) + 0.5) - 1)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=30, help='timed sign-ins per user (default 30)')
    runs = parser.parse_args().runs

    database.clone(os.environ['NBA_DB_NAME'])
    provider = TestProvider(
        log_path=Path(tempfile.mkdtemp(prefix='nba-bench-')) / 'provider.log',
        mode='rs256',
        redirect_uris=[f'{NETBOX}/oauth/complete/authentik/', f'{NETBOX}/oauth/complete/oidc/'],
    )
    try:
        provider.start()
        issuer = provider.issuer
        overrides = {
            'AUTHENTICATION_BACKENDS': [*settings.AUTHENTICATION_BACKENDS, GENERIC_BACKEND],
            'PLUGINS_CONFIG': PLUGIN_CONFIG,
            'SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT': issuer,  # as admins paste it, trailing slash included
            'SOCIAL_AUTH_AUTHENTIK_KEY': CLIENT_ID,
            'SOCIAL_AUTH_AUTHENTIK_SECRET': CLIENT_SECRET,
            'SOCIAL_AUTH_OIDC_OIDC_ENDPOINT': issuer.rstrip('/'),  # the generic backend appends /.well-known/...
            'SOCIAL_AUTH_OIDC_KEY': CLIENT_ID,
            'SOCIAL_AUTH_OIDC_SECRET': CLIENT_SECRET,
        }
        with override_settings(**overrides):
            client = Client()
            request_rows = []
            for label, backend_name in (
                ('netbox-authentik (authentik)', 'authentik'),
                ("social-core's generic OpenIdConnectAuth (oidc)", 'oidc'),
            ):
                forget_provider_metadata()
                cold = backend_requests(provider, client, backend_name, 'alice')
                warm = backend_requests(provider, client, backend_name, 'alice')
                request_rows.append((label, cold, warm))

            timing_rows = []
            for username in ('akadmin', 'many'):
                first = sign_in(client, 'authentik', username) * 1000  # creates the user (and its groups)
                samples = [sign_in(client, 'authentik', username) * 1000 for _ in range(runs)]
                timing_rows.append((username, len(USERS[username][1]), first, samples))
        connections.close_all()
    finally:
        provider.stop()
        connections.close_all()
        database.drop(os.environ['NBA_DB_NAME'])

    print(
        f'Backend-to-Authentik requests per sign-in (test provider, RS256, user alice; '
        f'{", ".join(BACKEND_ENDPOINTS)}):\n'
    )
    print('| backend | cache | discovery | jwks | token | userinfo | total |')
    print('|---|---|---:|---:|---:|---:|---:|')
    for label, cold, warm in request_rows:
        for state, counts in (('cold', cold), ('warm', warm)):
            print(f'| {label} | {state} | {" | ".join(map(str, counts))} | {sum(counts)} |')
    print(
        f'\nGET /oauth/complete/authentik/ (token exchange, id_token check, pipeline with group sync '
        f'auto_create_groups=True, login), warm cache: the first sign-in, then {runs} more:\n'
    )
    print(f'| user | Authentik groups | first sign-in ms | median ms ({runs}) | p95 ms ({runs}) |')
    print('|---|---:|---:|---:|---:|')
    for username, groups, first, samples in timing_rows:
        print(
            f'| {username} | {groups} | {first:.1f} | {statistics.median(samples):.1f} | '
            f'{percentile(samples, 0.95):.1f} |'
        )


if __name__ == '__main__':
    sys.exit(main())
