"""Benchmark: the group-sync step against Authentik's documented NetBox pipeline functions.

    .venv/bin/python -m tests.benchmarks.group_sync

Runs both in one process on one cloned NetBox database and prints, for 0, 10, 100 and
1,000 Authentik groups, the SQL queries and the median time of a first sign-in (the user
is in no group yet) and of a repeat sign-in (nothing changed).

Then, with 0, 1, 100 and 1,000 group mapping rules kept in NetBox (exact names and globs, some
matching the person's 100 Authentik groups), the plugin's queries and median time of a repeat
sign-in, and of the first sign-in after a rule changed (the rules are read again: one query more).

The database is this run's own (a random name, cloned and dropped here, never the caller's
NBA_DB_NAME); its Redis database is claimed as the tests claim theirs, and nothing in Redis is flushed.
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

from netbox_authentik import mapping_rules  # noqa: E402
from netbox_authentik.models import GroupMapping  # noqa: E402
from netbox_authentik.pipeline import sync_groups  # noqa: E402
from tests.tools import database  # noqa: E402

GROUP_COUNTS = (0, 10, 100, 1000)
RULE_COUNTS = (0, 1, 100, 1000)


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


def make_rules(count, netbox_groups):
    """`count` enabled rules: every tenth a glob, the rest exact names; about one in ten matches the person."""
    GroupMapping.objects.all().delete()
    rules = GroupMapping.objects.bulk_create(
        [
            GroupMapping(authentik_group=f'team-{i:04}-*' if i % 10 == 0 else f'authentik-group-{i * 10:05}')
            for i in range(count)
        ]
    )
    through = GroupMapping.netbox_groups.through
    through.objects.bulk_create(
        [
            through(groupmapping_id=rule.pk, group_id=netbox_groups[i % len(netbox_groups)].pk)
            for i, rule in enumerate(rules)
        ]
    )
    mapping_rules.bump_version()  # bulk_create sends no signal
    return rules


def count_queries(call):
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        call()
        elapsed = (time.perf_counter() - started) * 1000
    return counter.count, elapsed


def measure_rules(rule_count, netbox_groups, runs):
    """Return (queries, median ms) of a repeat sign-in, and of the first sign-in after a rule changed."""
    rules = make_rules(rule_count, netbox_groups)
    user = User.objects.create(username=f'rules-{rule_count}')
    response = {'groups': [f'authentik-group-{i:05}' for i in range(100)]}

    def sign_in():
        plugin_pipeline(Backend(), user, response)

    sign_in()  # the first sign-in joins the mapped groups and loads the rules: not measured
    repeat = [count_queries(sign_in) for _ in range(runs)]
    changed = []
    for run in range(runs):
        if rules:
            rules[-1].description = f'changed {run}'
            rules[-1].save()  # a change that does not concern this person: the rules are read again
        else:
            mapping_rules.bump_version()
        changed.append(count_queries(sign_in))
    return (
        max(queries for queries, _ms in repeat),
        statistics.median(ms for _queries, ms in repeat),
        max(queries for queries, _ms in changed),
        statistics.median(ms for _queries, ms in changed),
    )


def main():
    name = os.environ['NBA_DB_NAME']
    database.clone(name)  # a fresh random name: only this run's clone is ever dropped below
    try:
        rows, rule_rows = [], []
        with override_settings(PLUGINS_CONFIG=PLUGIN_CONFIG):
            for count in GROUP_COUNTS:
                names = [f'authentik-group-{i:04}' for i in range(count)]
                runs = 15 if count <= 100 else 5
                for label, step in (
                    ('netbox-authentik sync_groups', plugin_pipeline),
                    ("Authentik's documented pipeline", documented_pipeline),
                ):
                    rows.append((count, label, *measure(step, names, runs)))
        netbox_groups = [Group.objects.create(name=f'netbox-group-{i}') for i in range(10)]
        with override_settings(PLUGINS_CONFIG={'netbox_authentik': {}}):
            for count in RULE_COUNTS:
                rule_rows.append((count, *measure_rules(count, netbox_groups, runs=11)))
        connection.close()
    finally:
        database.drop(name)
    print('| groups | implementation | first sign-in: queries | median ms | repeat sign-in: queries | median ms |')
    print('|---:|---|---:|---:|---:|---:|')
    for count, label, first_q, first_ms, repeat_q, repeat_ms in rows:
        print(f'| {count} | {label} | {first_q} | {first_ms:.1f} | {repeat_q} | {repeat_ms:.1f} |')
    print()
    print('| rules in NetBox | repeat sign-in: queries | median ms | after a rule changed: queries | median ms |')
    print('|---:|---:|---:|---:|---:|')
    for count, repeat_q, repeat_ms, changed_q, changed_ms in rule_rows:
        print(f'| {count} | {repeat_q} | {repeat_ms:.1f} | {changed_q} | {changed_ms:.1f} |')


if __name__ == '__main__':
    main()
