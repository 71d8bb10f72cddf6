"""Benchmark: what Authentik's SCIM provider sends, timed per request: a first push and a full sync without changes.

    .venv/bin/python -m tests.benchmarks.scim_sync [users] [groups]

Drives NetBox's whole request stack in one process (Django's test client, no network) on a NetBox database of
its own (`nba_bench_scim_<random>`, cloned from the suite's template and dropped at the end) and prints, per
request kind, the server time (median and 95th percentile) and the SQL queries (least, median, most):

- first push: `POST /Users` for every user, `POST /Groups` for every group and the `PATCH` adding its members
  (one operation per member, as Authentik sends them);
- a full sync that finds nothing changed: each user `PUT` unchanged (Authentik sends a PUT only when it sees a
  change, so this is the most a full sync sends) and each group read back (`GET /Groups/{id}`, as Authentik
  does before it compares members);
- one `PATCH` of 1,000 member operations (Authentik's largest, at `bulk.maxOperations`) to a group of its own.

Authentik sends one request at a time, so the time per request bounds how long its sync takes. Every user is in
one group; every tenth group maps onto a NetBox group (the first also onto superuser status), so a tenth of the
members change NetBox groups. The first requests of each kind warm caches up and are left out of the figures.
The population is built twice, at a tenth of the size and at full size, to show whether queries per request
grow with the number of users and groups.

The Redis database is the suite's (claimed per run unless NBA_REDIS_DB is set); only the plugin's keys under
this run's cache prefix are cleared.
"""

import json
import os
import secrets
import statistics
import sys
import time

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.settings')
# Never the caller's NBA_DB_NAME: this database is cloned over and dropped at the end.
os.environ['NBA_DB_NAME'] = f'nba_bench_scim_{secrets.token_hex(4)}'

import logging  # noqa: E402

import django  # noqa: E402

django.setup()
logging.getLogger('netbox_authentik').setLevel(logging.ERROR)
logging.getLogger('django.request').setLevel(logging.ERROR)

from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from tests.tools import database  # noqa: E402

BASE = '/plugins/authentik/scim/v2/'
SCIM = 'application/scim+json'
USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User'
GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group'
PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp'
WARM_UP = 5
BIG_PATCH = 1000


class Sender:
    """Sends SCIM requests as Authentik does and keeps (seconds, queries) per request kind."""

    def __init__(self, client):
        self.client = client
        self.timings = {}

    def send(self, kind, method, path, body=None):
        connection.queries_log.clear()  # CaptureQueriesContext counts within a 9,000-query window
        data = json.dumps(body) if body is not None else ''
        with CaptureQueriesContext(connection) as queries:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = getattr(self.client, method)(BASE + path, data=data, content_type=SCIM)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        assert response.status_code in (200, 201), response.content
        self.timings.setdefault(kind, []).append((elapsed, len(queries), cpu))
        return json.loads(response.content)

    def figures(self, kind):
        """(requests, p50 ms, p95 ms, min/median/max queries, p50 CPU ms) of a kind, without its warm-up requests."""
        rows = self.timings[kind]
        rows = rows[WARM_UP:] if len(rows) > 2 * WARM_UP else rows
        times = sorted(seconds * 1000 for seconds, _queries, _cpu in rows)
        queries = [count for _seconds, count, _cpu in rows]
        cpu = statistics.median(cpu * 1000 for _seconds, _queries, cpu in rows)
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        return len(rows), statistics.median(times), p95, (min(queries), statistics.median(queries), max(queries)), cpu


def user_body(number):
    return {
        'schemas': [USER_SCHEMA],
        'userName': f'user{number:05d}',
        'externalId': f'{number:064x}',
        'active': True,
        'displayName': f'User {number}',
        'name': {'formatted': f'User {number}', 'givenName': 'User', 'familyName': str(number)},
        'emails': [{'value': f'user{number}@example.com', 'type': 'other', 'primary': True}],
    }


def group_body(number):
    return {
        'schemas': [GROUP_SCHEMA],
        'displayName': f'group-{number:03d}',
        'externalId': f'00000000-0000-4000-8000-{number:012d}',
    }


def add_members(user_ids):
    return {
        'schemas': [PATCH_SCHEMA],
        'Operations': [{'op': 'add', 'path': 'members', 'value': [{'value': pk}]} for pk in user_ids],
    }


def provisioning_client():
    from users.models import Group, Token, User

    provisioner = User.objects.create_user('authentik-scim', is_superuser=True)
    token = Token(user=provisioner, version=2)
    token.save()
    operators = Group.objects.create(name='operators')
    return Client(HTTP_AUTHORIZATION=token.get_auth_header_prefix() + token.token, HTTP_ACCEPT=SCIM), operators


def run(user_count, group_count):
    """Build the population through SCIM, then sync it again unchanged; return the Sender with its timings."""
    from netbox_authentik.models import GroupMapping

    client, operators = provisioning_client()
    for number in range(0, group_count, 10):
        rule = GroupMapping.objects.create(authentik_group=f'group-{number:03d}', superuser=number == 0)
        rule.netbox_groups.add(operators)
    sender = Sender(client)
    user_ids = [sender.send('POST /Users', 'post', 'Users', user_body(number))['id'] for number in range(user_count)]
    group_ids = []
    for number in range(group_count):
        group_ids.append(sender.send('POST /Groups', 'post', 'Groups', group_body(number))['id'])
        members = [pk for index, pk in enumerate(user_ids) if index % group_count == number]
        sender.send('PATCH /Groups (members)', 'patch', f'Groups/{group_ids[-1]}', add_members(members))

    for number, pk in enumerate(user_ids):
        sender.send('full sync: PUT /Users', 'put', f'Users/{pk}', {**user_body(number), 'id': pk})
    for pk in group_ids:
        sender.send('full sync: GET /Groups/{id}', 'get', f'Groups/{pk}')

    big = sender.send('POST /Groups', 'post', 'Groups', group_body(999))['id']
    members = user_ids[:BIG_PATCH]
    sender.send(f'PATCH of {len(members)} members', 'patch', f'Groups/{big}', add_members(members))
    return sender


def report(small, full, sizes):
    print(f'Server time per request (ms) and SQL queries; {sizes[1][0]} users, {sizes[1][1]} groups.')
    print('CPU: the median CPU time of this process alone (PostgreSQL not included), less sensitive to a busy machine.')
    print(f'Queries at {sizes[0][0]} users / {sizes[0][1]} groups are shown for comparison (constant in N?).')
    print(f'  {"request":32} {"count":>6} {"p50":>7} {"p95":>7} {"CPU":>6}   queries min/median/max   at small N')
    for kind in full.timings:
        count, p50, p95, (least, median, most), cpu = full.figures(kind)
        small_median = small.figures(kind)[3][1] if kind in small.timings else '-'
        print(
            f'  {kind:32} {count:6} {p50:7.1f} {p95:7.1f} {cpu:6.1f}   {least:5} {median:7} {most:6}'
            f'        {small_median}'
        )
    sync = [row for kind in full.timings if kind.startswith('full sync') for row in full.timings[kind]]
    print(
        f'  a full sync without changes: {len(sync)} requests, {sum(row[0] for row in sync):.1f} s server time, '
        f'{sum(row[1] for row in sync)} queries'
    )


def measure(user_count, group_count):
    name = os.environ['NBA_DB_NAME']
    database.clone(name)
    try:
        cache.delete_pattern('netbox_authentik:*')  # the plugin's keys of this run's prefix, nothing else
        return run(user_count, group_count)
    finally:
        connection.close()
        database.drop(name)
        cache.delete_pattern('netbox_authentik:*')


def main():
    user_count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    group_count = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    small_size = (max(user_count // 10, 2 * WARM_UP + 1), max(group_count // 10, 2 * WARM_UP + 1))
    small = measure(*small_size)
    full = measure(user_count, group_count)
    report(small, full, (small_size, (user_count, group_count)))


if __name__ == '__main__':
    main()
