"""End-to-end fixtures: the test provider, real NetBox server processes and Chromium, shared by all e2e tests.

One provider on a fixed port (restarted in another signing mode when a test asks), one NetBox
server (a second one only when a selected test needs it), one browser. They live while the
tests/e2e package runs (scope 'package'), so the rest of the suite runs without them and without
Playwright's event loop in the main thread.

No test sees what another left behind, whatever the order: before each test that uses a server,
its database is recreated from a snapshot taken once the servers were ready (the servers hold no
connection between requests: CONN_MAX_AGE is 0), the servers' cache keys in Redis are deleted,
and the test gets a fresh browser context.

A failing test leaves a screenshot, the page's HTML and every server and provider log in
.artifacts/e2e/<test name>/.
"""

import contextlib
import os
import re
import shutil
from types import SimpleNamespace

import pytest
import redis
from playwright.sync_api import expect, sync_playwright

from tests.e2e import (
    FAILURE_ARTIFACTS,
    LOCAL_SUPERUSER,
    NETWORK_ENGINEERS,
    PLUGINS_CONFIG,
    NetBoxDatabase,
    user_menu,
)
from tests.tools import database, isolation
from tests.tools.idp import USERS, TestProvider, callback_urls
from tests.tools.netbox_server import NetBoxServer, RoundRobinProxy, ensure_static, netbox_env, prepare_users
from tests.tools.services import free_port

# This run's e2e database: named after the run (tests/tools/isolation.py), dropped by this run only.
DB_PREFIX = os.environ.get('NBA_E2E_DB_PREFIX', 'nba_e2e')
# The e2e servers' cache keys: `nba-<run id>-e2e:` in this run's Redis database.
SERVER_ROLE = 'e2e'
CHROMIUM_ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
]
# Every process the session started, for the logs a failing test leaves behind.
STARTED = []


# -- artifacts ------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and report.when in ('setup', 'call'):
        save_failure_artifacts(item, report)
    return report


def save_failure_artifacts(item, report):
    """Screenshot, page HTML, failure text and all server and provider logs into .artifacts/e2e/<test>/."""
    folder = FAILURE_ARTIFACTS / re.sub(r'[^A-Za-z0-9_.=-]+', '_', item.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / 'failure.txt').write_text(report.longreprtext)
    page = getattr(item, 'e2e_page', None)
    if page is not None and not page.is_closed():
        with contextlib.suppress(Exception):
            page.screenshot(path=folder / 'screenshot.png', full_page=True, timeout=10_000)
        with contextlib.suppress(Exception):
            (folder / 'page.html').write_text(f'<!-- {page.url} -->\n{page.content()}')
    for log_path in {process.log_path for process in STARTED}:
        with contextlib.suppress(OSError):
            shutil.copy(log_path, folder / log_path.name)


# -- the run: database, ports, cache ----------------------------------------------------------------


def _clear_metadata_cache():
    """Forget the discovery and JWKS documents the e2e servers cached, so a restarted provider is asked afresh."""
    clear_server_cache('*netbox_authentik:*')


def clear_server_cache(pattern):
    """Delete the e2e servers' cache keys matching `pattern` (their prefix, in this run's Redis database)."""
    client = redis.Redis(
        host=os.environ.get('NBA_REDIS_HOST', '127.0.0.1'),
        port=int(os.environ.get('NBA_REDIS_PORT', '6379')),
        db=int(os.environ['NBA_REDIS_DB']),
    )
    for key in client.scan_iter(match=f'{isolation.cache_key_prefix(SERVER_ROLE)}:{pattern}', count=500):
        client.delete(key)


@pytest.fixture(scope='package')
def e2e_run(tmp_path_factory):
    """This run's log folder and database (a clone of the migrated template), dropped afterwards."""
    shutil.rmtree(FAILURE_ARTIFACTS, ignore_errors=True)
    _clear_metadata_cache()
    name = database.clone(f'{DB_PREFIX}_{isolation.run_id()}')
    yield SimpleNamespace(database=name, logs=tmp_path_factory.mktemp('e2e-logs'))
    if os.environ.get('NBA_KEEP_DB') != '1':
        database.drop(name)


class ProviderSlot:
    """The e2e tests' provider on one fixed port, restarted in another signing mode on demand."""

    def __init__(self, *, port, redirect_uris, log_path, post_logout_redirect_uris=()):
        self.port = port
        self.redirect_uris = redirect_uris
        self.post_logout_redirect_uris = post_logout_redirect_uris
        self.log_path = log_path
        self.provider = None

    @property
    def issuer(self):
        return f'http://127.0.0.1:{self.port}/application/o/netbox/'

    def ensure(self, mode='rs256'):
        """Return the provider running in `mode`, (re)starting it when needed."""
        if self.provider and self.provider.running() and self.provider.mode == mode:
            return self.provider
        self.stop()
        self.provider = TestProvider(
            log_path=self.log_path,
            mode=mode,
            port=self.port,
            redirect_uris=self.redirect_uris,
            post_logout_redirect_uris=self.post_logout_redirect_uris,
        )
        STARTED.append(self.provider.child)
        self.provider.start()
        # NetBox cached the previous instance's discovery (its algorithm) and JWKS.
        _clear_metadata_cache()
        return self.provider

    def stop(self):
        """Stop the provider; NetBox also forgets its metadata, so it must reach the provider on the next sign-in."""
        if self.provider:
            self.provider.stop()
            self.provider = None
            _clear_metadata_cache()


@pytest.fixture(scope='package')
def e2e_ports():
    """Ports picked once: the provider's redirect URIs must name NetBox's, and NetBox must name the provider's."""
    return {'idp': free_port(), 'a': free_port(), 'b': free_port(), 'proxy': free_port()}


@pytest.fixture(scope='package')
def provider_slot(e2e_run, e2e_ports):
    redirect_uris = [callback_urls(f'http://127.0.0.1:{e2e_ports[name]}') for name in ('a', 'b', 'proxy')]
    # Where NetBox's logout asks Authentik to send the person back: its own login page.
    login_pages = [f'http://127.0.0.1:{e2e_ports[name]}/login/' for name in ('a', 'b', 'proxy')]
    slot = ProviderSlot(
        port=e2e_ports['idp'],
        redirect_uris=redirect_uris,
        log_path=e2e_run.logs / 'idp.log',
        post_logout_redirect_uris=login_pages,
    )
    yield slot
    slot.stop()


@pytest.fixture
def idp(provider_slot):
    """The test provider in its default mode (RS256, like Authentik with its self-signed certificate)."""
    return provider_slot.ensure('rs256')


@pytest.fixture(scope='package')
def netbox_servers(request, e2e_run, e2e_ports, provider_slot):
    """NetBox server A, and B when a selected test needs two servers; both share one database and Redis."""
    env = netbox_env(
        db_name=e2e_run.database,
        cache_role=SERVER_ROLE,
        oidc_endpoint=provider_slot.issuer,
        plugins_config=PLUGINS_CONFIG,
    )
    ensure_static(env)
    wanted = ['a']
    if any('netbox_b' in item.fixturenames for item in request.session.items):
        wanted.append('b')
    servers = {}
    try:
        # Started together: each spends ~10 s of CPU loading NetBox before it answers.
        for name in wanted:
            servers[name] = NetBoxServer(
                f'netbox-{name}', env=env, port=e2e_ports[name], log_path=e2e_run.logs / f'netbox-{name}.log'
            )
            STARTED.append(servers[name].child)
            servers[name].start()
        provider_slot.ensure('rs256')
        prepare_users(env, groups=[NETWORK_ENGINEERS], superuser=LOCAL_SUPERUSER)
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope='package')
def clean_snapshot(e2e_run, netbox_servers):
    """A copy of the e2e database as the servers first saw it: users and groups prepared, nothing signed in."""
    name = database.copy(e2e_run.database, f'{e2e_run.database}_clean')
    yield name
    if os.environ.get('NBA_KEEP_DB') != '1':
        database.drop(name)


def restore_clean_state(e2e_run, snapshot):
    """Recreate the e2e database from `snapshot` and delete every cache key of the e2e servers."""
    database.copy(snapshot, e2e_run.database)
    clear_server_cache('*')


@pytest.fixture
def fresh_netbox(e2e_run, netbox_servers, clean_snapshot):
    """The servers, with their database and cache as they were before any test ran."""
    restore_clean_state(e2e_run, clean_snapshot)
    return netbox_servers


@pytest.fixture
def netbox(fresh_netbox):
    return fresh_netbox['a']


@pytest.fixture
def netbox_b(fresh_netbox):
    return fresh_netbox['b']


@pytest.fixture
def round_robin(netbox, netbox_b, e2e_ports):
    """One address for servers A and B: a sign-in begins on A (pinned) and its callback lands on B (pinned)."""
    proxy = RoundRobinProxy(
        [netbox, netbox_b], port=e2e_ports['proxy'], pinned={'/oauth/begin/': 0, '/oauth/complete/': 1}
    ).start()
    yield proxy
    proxy.stop()


# -- the browser ---------------------------------------------------------------------------------


def chromium_executable():
    for candidate in (os.environ.get('NBA_CHROMIUM'), shutil.which('chromium'), '/usr/bin/chromium'):
        if candidate and os.path.exists(candidate):
            return candidate
    pytest.fail(
        'The end-to-end tests need Chromium: apt-get install chromium (or set NBA_CHROMIUM). '
        'Deselect them with -m "not e2e".',
        pytrace=False,
    )


@pytest.fixture(scope='package')
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(request, browser):
    """A page in a fresh browser context (no cookies); server errors (HTTP 5xx) it sees are in page.server_errors."""
    context = browser.new_context(viewport={'width': 1280, 'height': 800})
    context.set_default_timeout(20_000)
    new_page = context.new_page()
    new_page.server_errors = []

    def note_server_error(response):
        if response.status >= 500:
            new_page.server_errors.append(f'{response.status} {response.url}')

    new_page.on('response', note_server_error)
    request.node.e2e_page = new_page
    yield new_page
    context.close()


@pytest.fixture
def sign_in(page):
    """Sign in through Authentik the way a person does; return the page, back at NetBox."""

    def sign_in_as(base_url, username, password=None):
        password = password or USERS[username][0]
        page.goto(f'{base_url}/login/')
        page.get_by_role('button', name='Authentik').click()
        page.locator('#username').fill(username)
        page.locator('#password').fill(password)
        page.get_by_role('button', name='Log in').click()
        page.wait_for_url(f'{base_url}/**')
        expect(user_menu(page)).to_contain_text(username)
        assert page.server_errors == []
        return page

    return sign_in_as


# -- the database, as NetBox sees it ---------------------------------------------------------------


@pytest.fixture(scope='package')
def netbox_db(e2e_run):
    return NetBoxDatabase(e2e_run.database)
