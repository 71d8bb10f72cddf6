"""Benchmark: a full SCIM sync as Authentik's hourly sync sends it: 1,000 users, then 100 groups and their members.

    NBA_REDIS_DB=6 .venv/bin/python -m tests.benchmarks.scim_sync [users] [groups]

Drives NetBox's whole request stack in one process (Django's test client, no network) on a cloned NetBox
database, and prints the time and SQL queries per request kind: POST /Users, POST /Groups and the PATCH
adding each group's members. Each user is in one of the groups; group 0 maps onto a NetBox group and
superuser status, so a tenth of the members goes through the full mapping.
"""

import json
import os
import statistics
import sys
import time

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.settings')
os.environ.setdefault('NBA_DB_NAME', 'nba_bench_scim')

import logging  # noqa: E402

import django  # noqa: E402

django.setup()
logging.getLogger('netbox_authentik').setLevel(logging.WARNING)

from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from tests.tools import database  # noqa: E402

BASE = '/plugins/authentik/scim/v2/'
SCIM = 'application/scim+json'


def run(user_count, group_count):
    from users.models import Group, Token, User

    from netbox_authentik.models import GroupMapping

    provisioner = User.objects.create_user('authentik-scim', is_superuser=True)
    token = Token(user=provisioner, version=2)
    token.save()
    client = Client(HTTP_AUTHORIZATION=token.get_auth_header_prefix() + token.token, HTTP_ACCEPT=SCIM)
    rule = GroupMapping.objects.create(authentik_group='group-000', superuser=True)
    rule.netbox_groups.add(Group.objects.create(name='operators'))

    timings = {}

    def send(kind, method, path, body):
        connection.queries_log.clear()  # CaptureQueriesContext counts within a 9,000-query window
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = getattr(client, method)(BASE + path, data=json.dumps(body), content_type=SCIM)
            elapsed = time.perf_counter() - started
        assert response.status_code in (200, 201), response.content
        timings.setdefault(kind, []).append((elapsed, len(queries)))
        return json.loads(response.content)

    total = time.perf_counter()
    user_ids = []
    for number in range(user_count):
        body = {
            'schemas': ['urn:ietf:params:scim:schemas:core:2.0:User'],
            'userName': f'user{number:04d}',
            'externalId': f'{number:064x}',
            'active': True,
            'displayName': f'User {number}',
            'name': {'formatted': f'User {number}', 'givenName': 'User', 'familyName': str(number)},
            'emails': [{'value': f'user{number}@example.com', 'type': 'other', 'primary': True}],
        }
        user_ids.append(send('POST /Users', 'post', 'Users', body)['id'])
    for number in range(group_count):
        group = send(
            'POST /Groups',
            'post',
            'Groups',
            {
                'schemas': ['urn:ietf:params:scim:schemas:core:2.0:Group'],
                'displayName': f'group-{number:03d}',
                'externalId': f'00000000-0000-4000-8000-{number:012d}',
            },
        )
        members = [{'value': pk} for index, pk in enumerate(user_ids) if index % group_count == number]
        send(
            'PATCH /Groups (members)',
            'patch',
            f'Groups/{group["id"]}',
            {
                'schemas': ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
                'Operations': [{'op': 'add', 'path': 'members', 'value': members}],
            },
        )
    total = time.perf_counter() - total

    print(
        f'Full sync: {user_count} users, {group_count} groups: {total:.1f} s, '
        f'{sum(q for rows in timings.values() for _t, q in rows)} queries'
    )
    for kind, rows in timings.items():
        times, queries = [t for t, _q in rows], [q for _t, q in rows]
        print(
            f'  {kind:26} {len(rows):5} requests  median {statistics.median(times) * 1000:6.1f} ms  '
            f'queries min {min(queries)} max {max(queries)} median {statistics.median(queries)}'
        )
    print(
        f'  per user: {total / user_count * 1000:.1f} ms, '
        f'{sum(q for rows in timings.values() for _t, q in rows) / user_count:.1f} queries (all requests)'
    )


def main():
    user_count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    group_count = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    database.clone(os.environ['NBA_DB_NAME'])
    try:
        cache.clear()
        run(user_count, group_count)
    finally:
        connection.close()
        database.drop(os.environ['NBA_DB_NAME'])


if __name__ == '__main__':
    main()
