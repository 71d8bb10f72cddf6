"""Simultaneous sign-ins of one Authentik identity, in two processes against one real PostgreSQL database.

Each process is a separate NetBox (Django set up from tests.settings) that presses the Authentik button,
then waits for the other one before returning from Authentik, so that both pipelines run at once. They do
this twice: the first round is the identity's first sign-in, the second brings new Authentik groups.
Starting NetBox takes seconds, so both rounds share one pair of processes.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.tools import database

REPO = Path(__file__).resolve().parent.parent
DATABASE = os.environ.get('NBA_DB_NAME', 'nba_h2') + '_x'
WORKERS = 2
USERNAME = 'carol'
ROUNDS = [['old-team'], ['noc', 'network-engineers', 'netbox-users']]
PLUGIN_CONFIG = {'auto_create_groups': True}
# Widens the window between "is this identity linked yet?" and "create the user", so that without
# serialisation both processes would see no link and both go on to create one.
PIPELINE_DELAY = 0.5

WORKER = 'import django; django.setup(); from tests.test_concurrency import sign_in_worker; sign_in_worker()'


def sign_in_worker():
    """In a subprocess: one browser per round, each completing once every worker has reached the barrier."""
    import responses
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings
    from social_core.pipeline import social_auth

    from tests.fake_authentik import (
        FakeAuthentik,
        authentik_claims,
        begin_sign_in,
        complete_sign_in,
        login_page_messages,
    )

    barrier = Path(os.environ['NBA_BARRIER_DIR'])
    looked_up = social_auth.social_user

    def slow_social_user(*args, **kwargs):
        result = looked_up(*args, **kwargs)
        time.sleep(PIPELINE_DELAY)
        return result

    social_auth.social_user = slow_social_user  # pipeline steps are looked up by name at run time

    outcomes = []
    for number, groups in enumerate(ROUNDS):
        client = Client()
        # HS256: every process verifies with the client secret, so no key has to be shared between them.
        with (
            override_settings(PLUGINS_CONFIG={'netbox_authentik': PLUGIN_CONFIG}),
            responses.RequestsMock(assert_all_requests_are_fired=False) as mock,
        ):
            authentik = FakeAuthentik(mock, alg='HS256')
            authentik.register_metadata()
            query = begin_sign_in(client)
            authentik.register_token(authentik.sign(authentik_claims(USERNAME, groups=groups, nonce=query['nonce'])))
            (barrier / f'round-{number}-{os.getpid()}').touch()
            deadline = time.monotonic() + 120
            while len(list(barrier.glob(f'round-{number}-*'))) < WORKERS and time.monotonic() < deadline:
                time.sleep(0.01)
            response = complete_sign_in(client, query['state'])
            location = response.get('Location', '')
            messages = login_page_messages(client, response) if location.startswith('/login/') else []
            user_id = client.session.get('_auth_user_id')
            outcomes.append(
                {
                    'status': response.status_code,
                    'location': location,
                    'messages': messages,
                    'signed_in_as': get_user_model().objects.get(pk=user_id).username if user_id else None,
                }
            )
    print(json.dumps(outcomes))


def query(sql, params=()):
    """Read the shared database the way an admin would check it: plain SQL on NetBox's tables."""
    with psycopg.connect(**{**database.connection_kwargs(), 'dbname': DATABASE}) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope='module')
def rounds(tmp_path_factory):
    """Run both rounds in WORKERS parallel processes on a database of their own; return each round's outcomes."""
    database.clone(DATABASE)
    env = {
        **os.environ,
        'DJANGO_SETTINGS_MODULE': 'tests.settings',
        'NBA_DB_NAME': DATABASE,
        'NBA_BARRIER_DIR': str(tmp_path_factory.mktemp('barrier')),
    }
    try:
        processes = [
            subprocess.Popen(
                [sys.executable, '-c', WORKER],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(WORKERS)
        ]
        per_process = []
        for process in processes:
            try:
                stdout, stderr = process.communicate(timeout=300)
            finally:
                process.kill()
            assert process.returncode == 0, stderr
            per_process.append(json.loads(stdout.strip().splitlines()[-1]))
        yield [list(outcomes) for outcomes in zip(*per_process, strict=True)]
    finally:
        database.drop(DATABASE)


def test_simultaneous_first_sign_ins_create_one_user_and_one_link(rounds):
    first_round = rounds[0]

    assert [(o['status'], o['location'], o['signed_in_as']) for o in first_round] == [(302, '/', USERNAME)] * 2, (
        first_round
    )
    assert query('SELECT username FROM users_user WHERE username LIKE %s', [USERNAME + '%']) == [(USERNAME,)]
    links = query(
        'SELECT u.username FROM social_auth_usersocialauth s JOIN users_user u ON u.id = s.user_id '
        "WHERE s.provider = 'authentik'"
    )
    assert links == [(USERNAME,)]


def test_concurrent_sign_ins_of_one_user_converge_on_the_same_groups(rounds):
    second_round = rounds[1]

    assert [(o['status'], o['location'], o['signed_in_as']) for o in second_round] == [(302, '/', USERNAME)] * 2, (
        second_round
    )
    memberships = query(
        'SELECT g.name FROM users_user_groups ug JOIN users_group g ON g.id = ug.group_id '
        'JOIN users_user u ON u.id = ug.user_id WHERE u.username = %s ORDER BY g.name',
        [USERNAME],
    )
    assert [name for (name,) in memberships] == sorted(ROUNDS[1])
    assert query(
        'SELECT name, count(*) FROM users_group WHERE name = ANY(%s) GROUP BY name ORDER BY name', [ROUNDS[1]]
    ) == [(name, 1) for name in sorted(ROUNDS[1])]
