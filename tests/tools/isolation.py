"""Names that keep concurrent test runs, CI jobs and demos on one PostgreSQL and Redis apart.

Every run gets a run id (NBA_RUN_ID, random unless given). Its PostgreSQL databases carry the id
in their name (`nba_test_<id>` unless NBA_DB_NAME is given), so a run only ever drops what it
created. Its Redis database is claimed: `SET nba:claim:<db> <run id> NX EX ...` in Redis
database 0 for the first empty database among 1-15, released when the claiming process exits.
NetBox's tasks and cache share that database; cache keys carry the prefix `nba-<run id>` (tests)
or `nba-<run id>-<role>` (e2e servers, demo), and the tests clear only their own prefix.

Set NBA_REDIS_DB to skip the claim (then nothing else must use that database).
"""

import atexit
import contextlib
import os
import secrets

CLAIM_DATABASE = 0
CANDIDATES = range(1, 16)
# A claim outlives a killed run by at most this long; a clean exit releases it at once.
CLAIM_SECONDS = 6 * 3600


def run_id():
    """This run's id, made once per process tree and passed to children through NBA_RUN_ID."""
    if not os.environ.get('NBA_RUN_ID'):
        os.environ['NBA_RUN_ID'] = secrets.token_hex(4)
    return os.environ['NBA_RUN_ID']


def _redis(db):
    import redis

    return redis.Redis(
        host=os.environ.get('NBA_REDIS_HOST', '127.0.0.1'),
        port=int(os.environ.get('NBA_REDIS_PORT', '6379')),
        db=db,
        socket_connect_timeout=5,
        socket_timeout=5,
    )


def claim_redis_db(owner=None, seconds=CLAIM_SECONDS):
    """Claim the first free Redis database (no claim on it, no keys in it); return its number."""
    owner = owner or run_id()
    claims = _redis(CLAIM_DATABASE)
    for db in CANDIDATES:
        key = f'nba:claim:{db}'
        if not claims.set(key, owner, nx=True, ex=seconds):
            continue
        # Keys in an unclaimed database belong to someone else (another NetBox, an older checkout).
        if _redis(db).dbsize() == 0:
            return db
        claims.delete(key)
    raise SystemExit(
        'No free Redis database among 1-15 (each is claimed by a running test run or holds keys). '
        'Set NBA_REDIS_DB to one you can spare.'
    )


def release_redis_db(db, owner=None):
    """Empty and release database `db` if `owner` (this run) still holds its claim."""
    owner = owner or run_id()
    claims = _redis(CLAIM_DATABASE)
    key = f'nba:claim:{db}'
    with contextlib.suppress(Exception):
        if claims.get(key) == owner.encode():
            _redis(db).flushdb()
            claims.delete(key)


def ensure_run_names():
    """Give this process tree its database name and Redis database unless the caller chose them.

    Called by tests/settings.py before NetBox reads its configuration; children inherit the
    choices through the environment. The process that claimed the Redis database releases it.
    """
    owner = run_id()
    os.environ.setdefault('NBA_DB_NAME', f'nba_test_{owner}')
    if not os.environ.get('NBA_REDIS_DB'):
        db = claim_redis_db(owner)
        os.environ['NBA_REDIS_DB'] = str(db)
        atexit.register(release_redis_db, db, owner)


def cache_key_prefix(role=''):
    """The prefix of this run's cache keys in the shared Redis database; `role` sets a server's apart."""
    return f'nba-{run_id()}' + (f'-{role}' if role else '')
