"""End-to-end tests: a real NetBox server process, the Authentik-shaped test provider and Chromium.

Helpers shared by the test modules live here; the fixtures are in conftest.py.
"""

import time

import psycopg

from tests.tools import database
from tests.tools.services import REPO

ARTIFACTS = REPO / '.artifacts'
# A failing test's screenshot, page and logs: .artifacts/e2e/<test name>/.
FAILURE_ARTIFACTS = ARTIFACTS / 'e2e'
# Screenshots taken on every run, to look at.
SCREENS = ARTIFACTS / 'screens'
NETWORK_ENGINEERS = 'Network Engineers'
# The plugin settings of every e2e NetBox server.
PLUGINS_CONFIG = {
    'superuser_groups': ['netbox-admins'],
    'group_map': {'network-engineers': NETWORK_ENGINEERS},
    # NetBox API tokens in exchange for Authentik tokens (test_api_tokens.py).
    'api_token_exchange': True,
}
# A local NetBox superuser with a password: the break-glass login while Authentik is down.
LOCAL_SUPERUSER = ('admin', 'admin-e2e-password')


def user_menu(page):
    """NetBox's user menu in the top bar: the username, then 'Admin' or 'User'."""
    return page.get_by_role('button', name='Open user menu')


class NetBoxDatabase:
    """Read-only look at the users, groups and Authentik links in the e2e database."""

    def __init__(self, name):
        self.name = name

    def query(self, statement, params=()):
        with psycopg.connect(**{**database.connection_kwargs(), 'dbname': self.name}) as conn:
            return conn.execute(statement, params).fetchall()

    def user(self, username):
        """{'is_superuser', 'groups', 'links': [(provider, uid, extra_data)]} or None."""
        rows = self.query('SELECT id, is_superuser FROM users_user WHERE username = %s', [username])
        if not rows:
            return None
        user_id, is_superuser = rows[0]
        groups = {
            row[0]
            for row in self.query(
                'SELECT g.name FROM users_group g JOIN users_user_groups ug ON ug.group_id = g.id '
                'WHERE ug.user_id = %s',
                [user_id],
            )
        }
        links = self.query(
            'SELECT provider, uid, extra_data FROM social_auth_usersocialauth WHERE user_id = %s', [user_id]
        )
        return {'is_superuser': is_superuser, 'groups': groups, 'links': links}


def log_mark(server):
    """The current length of a server's log; `log_since` reads what was written after it."""
    return len(server.child.log_text())


def log_since(server, mark):
    return server.child.log_text()[mark:]


def wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
