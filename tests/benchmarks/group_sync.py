"""Benchmark: the group-sync step against Authentik's documented NetBox pipeline functions.

    .venv/bin/python -m tests.benchmarks.group_sync

Runs both in one process on one cloned NetBox database and prints, for 0, 10, 100 and
1,000 Authentik groups, the SQL queries and the median time of a first sign-in (the user
is in no group yet) and of a repeat sign-in (nothing changed).
"""

import os
import secrets
import statistics
import time

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.settings')
# Never the caller's NBA_DB_NAME: this database is cloned over and dropped at the end.
os.environ['NBA_DB_NAME'] = f'nba_bench_groups_{secrets.token_hex(4)}'

import logging  # noqa: E402

import django  # noqa: E402

django.setup()
logging.getLogger('netbox_authentik').setLevel(logging.WARNING)

from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402
from users.models import Group, User  # noqa: E402

from netbox_authentik.pipeline import sync_groups  # noqa: E402
from tests.tools import database  # noqa: E402

GROUP_COUNTS = (0, 10, 100, 1000)


# -- Authentik's documented pipeline functions, re-typed from its NetBox integration guide -------
# (the baseline we compare with; they crash on a missing claim, so the benchmark always sends one)


def documented_add_groups(response, user, backend, *args, **kwargs):
    try:
        groups = response['groups']
    except KeyError:
        pass
    for group in groups:
        group, created = Group.objects.get_or_create(name=group)
        user.groups.add(group)


def documented_remove_groups(response, user, backend, *args, **kwargs):
    try:
        groups = response['groups']
    except KeyError:
        user.groups.clear()
        pass
    user_groups = [item.name for item in user.groups.all()]
    delete_groups = list(set(user_groups) - set(groups))
    for delete_group in delete_groups:
        group = Group.objects.get(name=delete_group)
        user.groups.remove(group)


def documented_set_roles(response, user, backend, *args, **kwargs):
    user.is_superuser = False
    user.is_staff = False
    try:
        groups = response['groups']
    except KeyError:
        user.save()
        pass
    user.is_superuser = True if 'superusers' in groups else False
    user.is_staff = True if 'staff' in groups else False
    user.save()


def documented_pipeline(backend, user, response):
    documented_add_groups(response, user, backend)
    documented_remove_groups(response, user, backend)
    documented_set_roles(response, user, backend)


class Backend:
    """The slice of the authentik backend that sync_groups uses."""

    name = 'authentik'

    def authentik_groups(self, response):
        return response.get('groups')


def plugin_pipeline(backend, user, response):
    sync_groups(backend, user=user, response=response)


# Same outcome as the documented functions: every Authentik group becomes a NetBox group.
PLUGIN_CONFIG = {'netbox_authentik': {'auto_create_groups': True, 'superuser_groups': ['superusers']}}


class QueryCounter:
    """Counts SQL statements (CaptureQueriesContext's log is capped at 9,000 entries)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def measure(step, names, runs):
    """Return (queries, median ms) for a first sign-in and for a repeat sign-in."""
    first_times, repeat_times, first_queries, repeat_queries = [], [], 0, 0
    for run in range(runs):
        user = User.objects.create(username=f'{step.__name__}-{len(names)}-{run}')
        response = {'groups': names}
        for times, label in ((first_times, 'first'), (repeat_times, 'repeat')):
            counter = QueryCounter()
            with connection.execute_wrapper(counter):
                started = time.perf_counter()
                step(Backend(), user, response)
                times.append((time.perf_counter() - started) * 1000)
            if label == 'first':
                first_queries = counter.count
            else:
                repeat_queries = counter.count
        assert set(user.groups.values_list('name', flat=True)) == set(names)
    return first_queries, statistics.median(first_times), repeat_queries, statistics.median(repeat_times)


def main():
    database.clone(os.environ['NBA_DB_NAME'])
    try:
        rows = []
        with override_settings(PLUGINS_CONFIG=PLUGIN_CONFIG):
            for count in GROUP_COUNTS:
                names = [f'authentik-group-{i:04}' for i in range(count)]
                runs = 15 if count <= 100 else 5
                for label, step in (
                    ('netbox-authentik sync_groups', plugin_pipeline),
                    ("Authentik's documented pipeline", documented_pipeline),
                ):
                    rows.append((count, label, *measure(step, names, runs)))
        connection.close()
    finally:
        database.drop(os.environ['NBA_DB_NAME'])
    print('| groups | implementation | first sign-in: queries | median ms | repeat sign-in: queries | median ms |')
    print('|---:|---|---:|---:|---:|---:|')
    for count, label, first_q, first_ms, repeat_q, repeat_ms in rows:
        print(f'| {count} | {label} | {first_q} | {first_ms:.1f} | {repeat_q} | {repeat_ms:.1f} |')


if __name__ == '__main__':
    main()
