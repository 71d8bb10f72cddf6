"""Migrated NetBox databases for tests and the demo, cloned from a template in about a second.

A fresh NetBox migrate takes minutes; it runs once into a NetBox-only base template whose name
carries the NetBox and social-auth-app-django versions. The template every test run or server
clones (`CREATE DATABASE x TEMPLATE tmpl`) is that base plus the plugin's own migrations; its
name also carries a hash of them, so a changed migration makes a new template in seconds.
"""

import hashlib
import os
import sys
from importlib.metadata import version
from pathlib import Path

import psycopg
from psycopg import sql

from tests.tools import services

REPO = Path(__file__).resolve().parents[2]


def connection_kwargs():
    """Connection settings for the maintenance database, from the same NBA_* variables as the tests."""
    return {
        'host': os.environ.get('NBA_DB_HOST', '127.0.0.1'),
        'port': int(os.environ.get('NBA_DB_PORT', '5432')),
        'user': os.environ.get('NBA_DB_USER', 'postgres'),
        'password': os.environ.get('NBA_DB_PASSWORD', ''),
        'dbname': os.environ.get('NBA_DB_MAINTENANCE', 'postgres'),
        'autocommit': True,
        'connect_timeout': 5,
    }


PLUGIN_MIGRATIONS = REPO / 'netbox_authentik' / 'migrations'


def base_template_name():
    """The NetBox-only template: its migrations depend only on these two packages."""
    tag = f'{version("netbox")}_{version("social-auth-app-django")}'.replace('.', '_')
    return f'nba_template_{tag}'


def plugin_migrations_hash():
    """A short hash of the plugin's migration files, names and contents."""
    digest = hashlib.sha256()
    for path in sorted(PLUGIN_MIGRATIONS.glob('*.py')):
        digest.update(path.name.encode() + b'\0' + path.read_bytes() + b'\0')
    return digest.hexdigest()[:10]


def template_name():
    """The template the tests clone: the NetBox-only template migrated to the plugin's head."""
    return f'{base_template_name()}_p{plugin_migrations_hash()}'


def _exists(cursor, name):
    cursor.execute('SELECT 1 FROM pg_database WHERE datname = %s', [name])
    return cursor.fetchone() is not None


def _drop(cursor, name):
    cursor.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))


def _build_once(cursor, name, build):
    """Build database `name` with build(building_name) unless it exists, one builder at a time."""
    if _exists(cursor, name):
        return
    # One building process at a time across every run on this PostgreSQL server.
    cursor.execute('SELECT pg_advisory_lock(hashtext(%s))', [name])
    try:
        if _exists(cursor, name):
            return
        building = f'{name}_building'
        _drop(cursor, building)
        build(building)
        cursor.execute(sql.SQL('ALTER DATABASE {} RENAME TO {}').format(sql.Identifier(building), sql.Identifier(name)))
    finally:
        cursor.execute('SELECT pg_advisory_unlock(hashtext(%s))', [name])


def migrate(database_name, *arguments):
    """Run `netbox migrate` (with arguments) on database `database_name`."""
    env = {**os.environ, 'NBA_DB_NAME': database_name, 'DJANGO_SETTINGS_MODULE': 'tests.settings'}
    # Also on an embedded PostgreSQL built without ICU (see services.migrate_netbox).
    services.migrate_netbox(env, arguments=arguments)


def ensure_template(log=print):
    """Create the template database unless it exists (migrated to the plugin's head); safe against concurrency."""
    base, name = base_template_name(), template_name()
    with psycopg.connect(**connection_kwargs()) as conn, conn.cursor() as cursor:
        if _exists(cursor, name):
            return name

        def build_base(building):
            cursor.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(building)))
            log(f'Migrating a NetBox database template ({base}); this takes a few minutes, once.')
            migrate(building)
            # The base holds NetBox alone, so that any version of the plugin's migrations can go on top.
            migrate(building, 'netbox_authentik', 'zero')

        def build_template(building):
            cursor.execute(
                sql.SQL('CREATE DATABASE {} TEMPLATE {}').format(sql.Identifier(building), sql.Identifier(base))
            )
            log(f"Applying the plugin's migrations on top of {base} ({name}).")
            migrate(building)

        _build_once(cursor, base, build_base)
        _build_once(cursor, name, build_template)
    return name


def clone(target, template=None):
    """(Re)create database `target` as a copy of the migrated template."""
    template = template or ensure_template()
    with psycopg.connect(**connection_kwargs()) as conn, conn.cursor() as cursor:
        _drop(cursor, target)
        cursor.execute(
            sql.SQL('CREATE DATABASE {} TEMPLATE {}').format(sql.Identifier(target), sql.Identifier(template))
        )
    return target


def copy(source, target):
    """(Re)create database `target` as a copy of `source`, ending any connection to `source` first."""
    with psycopg.connect(**connection_kwargs()) as conn, conn.cursor() as cursor:
        cursor.execute(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()',
            [source],
        )
        _drop(cursor, target)
        cursor.execute(sql.SQL('CREATE DATABASE {} TEMPLATE {}').format(sql.Identifier(target), sql.Identifier(source)))
    return target


def drop(target):
    """Drop database `target` if it exists."""
    with psycopg.connect(**connection_kwargs()) as conn, conn.cursor() as cursor:
        _drop(cursor, target)


if __name__ == '__main__':
    command = sys.argv[1] if len(sys.argv) > 1 else 'template'
    if command == 'template':
        print(ensure_template())
    elif command == 'clone':
        print(clone(sys.argv[2]))
    elif command == 'drop':
        drop(sys.argv[2])
    else:
        sys.exit(f'usage: {sys.argv[0]} template | clone NAME | drop NAME')
