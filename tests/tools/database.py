"""Migrated NetBox databases for tests and the demo, cloned from a template in about a second.

A fresh NetBox migrate takes minutes; it runs once into a template database whose name
carries the NetBox and social-auth-app-django versions, and every test run or server
gets `CREATE DATABASE x TEMPLATE tmpl`.
"""

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


def template_name():
    """The template's name: migrations depend only on these two packages (the plugin has no models)."""
    tag = f"{version('netbox')}_{version('social-auth-app-django')}".replace('.', '_')
    return f'nba_template_{tag}'


def _exists(cursor, name):
    cursor.execute('SELECT 1 FROM pg_database WHERE datname = %s', [name])
    return cursor.fetchone() is not None


def _drop(cursor, name):
    cursor.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))


def ensure_template(log=print):
    """Create and migrate the template database unless it exists; safe against concurrent callers."""
    name = template_name()
    with psycopg.connect(**connection_kwargs()) as conn, conn.cursor() as cursor:
        if _exists(cursor, name):
            return name
        # One migrating process at a time across every run on this PostgreSQL server.
        cursor.execute('SELECT pg_advisory_lock(hashtext(%s))', [name])
        try:
            if _exists(cursor, name):
                return name
            building = f'{name}_building'
            _drop(cursor, building)
            cursor.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(building)))
            log(f'Migrating a NetBox database template ({name}); this takes a few minutes, once.')
            env = {**os.environ, 'NBA_DB_NAME': building, 'DJANGO_SETTINGS_MODULE': 'tests.settings'}
            # Also on an embedded PostgreSQL built without ICU (see services.migrate_netbox).
            services.migrate_netbox(env)
            cursor.execute(sql.SQL('ALTER DATABASE {} RENAME TO {}').format(
                sql.Identifier(building), sql.Identifier(name)))
        finally:
            cursor.execute('SELECT pg_advisory_unlock(hashtext(%s))', [name])
    return name


def clone(target, template=None):
    """(Re)create database `target` as a copy of the migrated template."""
    template = template or ensure_template()
    with psycopg.connect(**connection_kwargs()) as conn, conn.cursor() as cursor:
        _drop(cursor, target)
        cursor.execute(sql.SQL('CREATE DATABASE {} TEMPLATE {}').format(
            sql.Identifier(target), sql.Identifier(template)))
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
