"""The one-command demo (`bash tests/demo`): NetBox with the plugin, signing in through the test provider.

Uses the PostgreSQL and Redis that run here, or starts embedded ones (tests/tools/services.py).
Idempotent: a second run reuses the migrated template, the demo database and everything in it.
Ctrl-C (or SIGTERM) stops everything this run started: NetBox, the provider, and the embedded
services if this run started them.

Environment: NBA_DEMO_PORT (NetBox, 8000), NBA_DEMO_IDP_PORT (provider, 9000), NBA_DEMO_DB
(nba_demo_<hash of this host and checkout>, so two checkouts never share one), NBA_DEMO_REDIS_DB
(a free Redis database claimed for as long as the demo runs, see tests/tools/isolation.py).
"""

import hashlib
import os
import signal
import socket
import sys
import time

import psycopg

from tests.tools import database, isolation, services
from tests.tools.idp import USERS, TestProvider, callback_urls
from tests.tools.netbox_server import NetBoxServer, ensure_static, netbox_env, prepare_users

HOST = '127.0.0.1'
DEMO_DIR = services.LOCAL / 'demo'
SAMPLE_GROUPS = ['Network Engineers', 'NetBox Users']
PLUGINS_CONFIG = {
    'superuser_groups': ['netbox-admins'],
    'group_map': {'network-engineers': 'Network Engineers', 'netbox-users': 'NetBox Users'},
}
# What the sample groups may do, so that signing in as each sample user shows what its groups bring.
SAMPLE_PERMISSIONS = [
    {'name': 'View DCIM and IPAM', 'actions': ['view'], 'app_labels': ['dcim', 'ipam'], 'groups': ['NetBox Users']},
    {
        'name': 'Change devices',
        'actions': ['view', 'change'],
        'app_labels': ['dcim'],
        'models': ['device'],
        'groups': ['Network Engineers'],
    },
]
BREAK_GLASS_SUPERUSER = ('admin', 'admin')
# What each provider user becomes in NetBox with PLUGINS_CONFIG, for the banner.
OUTCOMES = {
    'akadmin': 'superuser, in "Network Engineers"',
    'alice': 'in "NetBox Users" and "Network Engineers": views DCIM and IPAM, edits devices',
    'nogroups': 'no groups (an empty groups claim): sees no objects',
    'noclaim': 'no groups claim at all: NetBox groups are left alone',
    'many': '500 Authentik groups, none mapped',
}


# The demo holds its Redis database as long as it runs; a killed demo's claim lapses after a day.
DEMO_CLAIM_SECONDS = 24 * 3600


def default_demo_database():
    """The demo database of this checkout on this host: reused by its next run, never by another checkout."""
    digest = hashlib.sha256(f'{socket.gethostname()}:{services.REPO}'.encode()).hexdigest()[:8]
    return f'nba_demo_{digest}'


class Stop(Exception):
    """Raised in the main thread by SIGTERM or SIGHUP, like KeyboardInterrupt for Ctrl-C."""


def _raise_stop(signum, _frame):
    raise Stop(signal.Signals(signum).name)


def say(message=''):
    print(message, flush=True)


def database_exists(name):
    with psycopg.connect(**database.connection_kwargs()) as conn:
        return conn.execute('SELECT 1 FROM pg_database WHERE datname = %s', [name]).fetchone() is not None


def ensure_demo_database(db_name):
    """Create the demo database unless it exists: a clone of the migrated template (migrated once)."""
    if database_exists(db_name):
        say(f'Reusing the demo database {db_name} (its users and links are kept).')
        # Made by an earlier version of the plugin, it may lack the plugin's newer migrations.
        database.migrate(db_name)
        return
    database.ensure_template(log=say)
    say(f'Creating the demo database {db_name} from the migrated template ...')
    database.clone(db_name)


def _port_from_env(name, default):
    port = int(os.environ.get(name, default))
    if services.port_open(HOST, port):
        sys.exit(f'Port {port} on {HOST} is in use. Stop what uses it, or pick another port with {name}=PORT.')
    return port


def banner(netbox, provider, db_name, redis_db, seconds):
    width = max(len(name) + len(password) for name, (password, _groups) in USERS.items()) + 3
    lines = [
        '',
        f'NetBox with netbox-authentik is ready, {seconds:.0f}s after the demo was started.',
        '',
        f'  Open {netbox.url}/ and click "Authentik" on the login page.',
        '',
        '  Sign in at the test provider as:',
        *(f'    {f"{name} / {password}":<{width}}  {OUTCOMES[name]}' for name, (password, _groups) in USERS.items()),
        '',
        f"  Local break-glass superuser (NetBox's own form): {' / '.join(BREAK_GLASS_SUPERUSER)}",
        '  Authentik group -> NetBox: netbox-admins -> superuser; '
        + '; '.join(f'{source} -> "{target}"' for source, target in PLUGINS_CONFIG['group_map'].items()),
        f'  Provider (issuer): {provider.issuer}',
        f'  Database {db_name} on {os.environ["NBA_DB_HOST"]}:{os.environ["NBA_DB_PORT"]}, '
        f'Redis {os.environ["NBA_REDIS_HOST"]}:{os.environ["NBA_REDIS_PORT"]} db {redis_db}',
        f'  Logs: {netbox.log_path.relative_to(services.REPO)}, {provider.child.log_path.relative_to(services.REPO)}',
        '',
        'Press Ctrl-C to stop.',
    ]
    say('\n'.join(lines))


def run():
    # The wall time the person waits: from `bash tests/demo` (its venv and npm set-up included), else from here.
    started_at = float(os.environ.get('NBA_DEMO_STARTED_AT') or time.time())
    netbox_port = _port_from_env('NBA_DEMO_PORT', 8000)
    idp_port = _port_from_env('NBA_DEMO_IDP_PORT', 9000)
    db_name = os.environ.get('NBA_DEMO_DB') or default_demo_database()
    started_services, netbox, provider, redis_db, claimed = [], None, None, None, False
    try:
        found = services.ensure(log=say)
        started_services = found.started
        os.environ.update(found.env)  # read by tests.tools.database and passed on to NetBox
        if os.environ.get('NBA_DEMO_REDIS_DB'):
            redis_db = int(os.environ['NBA_DEMO_REDIS_DB'])
        else:
            redis_db, claimed = isolation.claim_redis_db(seconds=DEMO_CLAIM_SECONDS), True

        ensure_demo_database(db_name)

        issuer = f'http://{HOST}:{idp_port}/application/o/netbox/'
        env = netbox_env(
            db_name=db_name, redis_db=redis_db, cache_role='demo', oidc_endpoint=issuer, plugins_config=PLUGINS_CONFIG
        )
        ensure_static(env, log=say)
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        netbox = NetBoxServer('NetBox', env=env, port=netbox_port, log_path=DEMO_DIR / 'netbox.log').start()
        say(f'Starting NetBox on http://{HOST}:{netbox_port}/ and the test provider on {issuer} ...')
        bases = [f'http://{host}:{netbox_port}' for host in (HOST, 'localhost')]
        provider = TestProvider(
            log_path=DEMO_DIR / 'idp.log',
            mode='rs256',
            port=idp_port,
            redirect_uris=[callback_urls(base) for base in bases],
            post_logout_redirect_uris=[f'{base}{path}' for base in bases for path in ('/', '/login/')],
            # The same signing key (and kid) on every run, so NetBox's cached JWKS stays valid.
            keys_file=DEMO_DIR / 'idp-keys.json',
        ).start()
        for made in prepare_users(
            env, groups=SAMPLE_GROUPS, superuser=BREAK_GLASS_SUPERUSER, permissions=SAMPLE_PERMISSIONS
        ):
            say(f'Created {made}.')
        netbox.wait_ready()
        banner(netbox, provider, db_name, redis_db, time.time() - started_at)

        while netbox.running() and provider.running():
            time.sleep(0.5)
        for child in (netbox.child, provider.child):
            if not child.running():
                say(f'{child.name} stopped unexpectedly. Log {child.log_path}:\n{child.log_tail()}')
        return 1
    except (KeyboardInterrupt, Stop):
        say('\nStopping ...')
        return 0
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        for process in (netbox, provider):
            if process is not None:
                process.stop()
        if claimed:
            isolation.release_redis_db(redis_db)
        if started_services:
            services.stop_embedded(which=started_services, log=say)
        say('Stopped everything the demo started.')


def main():
    # Also when started in the background, where the shell leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)
    sys.exit(run())


if __name__ == '__main__':
    main()
