"""Benchmark: what one API token exchange costs NetBox: requests to Authentik, database queries and time.

    .venv/bin/python -m tests.benchmarks.token_exchange [--runs 30]

Starts the Authentik-shaped test provider (tests/idp, RS256), gets access tokens for its service account
(client credentials with the app password) and exchanges each at NetBox's token-exchange endpoint through
Django's test Client on a cloned database (nba_bench). The provider counts the requests it serves
(/_test/stats): with a cold metadata cache the first exchange fetches discovery and JWKS, every later one
sends nothing to Authentik (introspection is off). The queries of each exchange are counted: the same
number every time, whatever the number of earlier exchanges or tokens.
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'
# Never the caller's database: this one is dropped at the end.
os.environ['NBA_DB_NAME'] = f'nba_bench_{secrets.token_hex(4)}'

import logging  # noqa: E402

import django  # noqa: E402

django.setup()
logging.getLogger('netbox_authentik').setLevel(logging.ERROR)

import requests  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from netbox_authentik.metadata import CACHE_PREFIX  # noqa: E402
from tests.tools import database  # noqa: E402
from tests.tools.idp import CLIENT_ID, CLIENT_SECRET, TestProvider  # noqa: E402

URL = '/api/plugins/authentik/token-exchange/'
ENDPOINTS = ('discovery', 'jwks', 'token', 'userinfo')
SERVICE_ACCOUNT = 'svc-automation'
APP_PASSWORD = 'svc-automation-app-password-0123456789'
PLUGIN_CONFIG = {
    'netbox_authentik': {
        'api_token_exchange': True,
        'api_token_create_users': True,
        'group_map': {'netbox-automation': 'Automation'},
        'auto_create_groups': True,
    }
}


def authentik_tokens(provider, count):
    """`count` access tokens for the service account, as a script gets them (client credentials)."""
    token_endpoint = provider.issuer.split('/application/')[0] + '/application/o/token/'
    form = {
        'grant_type': 'client_credentials',
        'client_id': CLIENT_ID,
        'username': SERVICE_ACCOUNT,
        'password': APP_PASSWORD,
        'scope': 'openid profile email',
    }
    tokens = []
    for _number in range(count):
        answer = requests.post(token_endpoint, data=form, timeout=10)
        answer.raise_for_status()
        tokens.append(answer.json()['access_token'])
        # Authentik's tokens carry no jti: two issued in the same second to one account are the same token.
        time.sleep(1.0)
    return tokens


def exchange(client, subject_token):
    """One exchange; returns (milliseconds, queries)."""
    body = {
        'grant_type': 'urn:ietf:params:oauth:grant-type:token-exchange',
        'subject_token': subject_token,
        'subject_token_type': 'urn:ietf:params:oauth:token-type:access_token',
    }
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.post(URL, body)
        elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.content
    return elapsed, len(queries)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=30, help='timed exchanges on a warm cache (default 30)')
    runs = parser.parse_args().runs

    database.clone(os.environ['NBA_DB_NAME'])
    provider = TestProvider(log_path=Path(tempfile.mkdtemp(prefix='nba-bench-')) / 'provider.log', mode='rs256')
    try:
        provider.start()
        overrides = {
            'PLUGINS_CONFIG': PLUGIN_CONFIG,
            'SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT': provider.issuer,
            'SOCIAL_AUTH_AUTHENTIK_KEY': CLIENT_ID,
            'SOCIAL_AUTH_AUTHENTIK_SECRET': CLIENT_SECRET,
        }
        subject_tokens = authentik_tokens(provider, runs + 2)
        assert len(set(subject_tokens)) == len(subject_tokens)
        with override_settings(**overrides):
            cache.delete_pattern(f'{CACHE_PREFIX}:*')
            client = Client()
            provider.reset_stats()
            first_ms, first_queries = exchange(client, subject_tokens[0])  # creates the user, fetches metadata
            cold = provider.stats()
            provider.reset_stats()
            second_ms, second_queries = exchange(client, subject_tokens[1])
            samples = [exchange(client, token) for token in subject_tokens[2:]]
            warm = provider.stats()
        connections.close_all()
    finally:
        provider.stop()
        connections.close_all()
        database.drop(os.environ['NBA_DB_NAME'])

    warm_queries = {queries for _ms, queries in samples}
    print(f'Requests from NetBox to Authentik (test provider, RS256; {", ".join(ENDPOINTS)}):\n')
    print('| exchanges | cache | ' + ' | '.join(ENDPOINTS) + ' | total |')
    print('|---|---|' + '---:|' * (len(ENDPOINTS) + 1))
    print(
        f'| 1 (creates the user) | cold | {" | ".join(str(cold.get(e, 0)) for e in ENDPOINTS)} | '
        f'{sum(cold.get(e, 0) for e in ENDPOINTS)} |'
    )
    print(
        f'| {runs + 1} | warm | {" | ".join(str(warm.get(e, 0)) for e in ENDPOINTS)} | '
        f'{sum(warm.get(e, 0) for e in ENDPOINTS)} |'
    )
    print('\nDatabase queries and time per exchange (service account, 1 Authentik group mapped):\n')
    print('| exchange | queries | ms |')
    print('|---|---:|---:|')
    print(f'| first (user created by the first sign-in rules) | {first_queries} | {first_ms:.1f} |')
    print(f'| second | {second_queries} | {second_ms:.1f} |')
    times = [ms for ms, _queries in samples]
    print(
        f'| next {runs} (warm) | {", ".join(map(str, sorted(warm_queries)))} | median {statistics.median(times):.1f}, '
        f'max {max(times):.1f} |'
    )
    if len(warm_queries) != 1:
        print('\nThe number of queries changed between exchanges: not constant.')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
