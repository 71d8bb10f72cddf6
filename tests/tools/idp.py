"""Start and stop the Authentik-shaped test provider (tests/idp/server.mjs) for the end-to-end tests and the demo."""

import json
import re
import shutil
import signal
import subprocess
import urllib.request

from tests.tools.services import REPO, ChildProcess, log_stderr

IDP_DIR = REPO / 'tests' / 'idp'
CLIENT_ID = 'netbox'
CLIENT_SECRET = 'netbox-authentik-test-secret-0123456789abcdef'
READY_LINE = re.compile(r'^READY (\S+)$', re.MULTILINE)

# The provider's built-in users (tests/idp/README.md): username -> (password, Authentik groups or None).
USERS = {
    'akadmin': ('akadmin-pass', ['netbox-admins', 'network-engineers']),
    'alice': ('alice-pass', ['netbox-users', 'network-engineers']),
    'nogroups': ('nogroups-pass', []),
    'noclaim': ('noclaim-pass', None),
    'many': ('many-pass', [f'group-{number:03d}' for number in range(500)]),
}


def ensure_node_modules(log=log_stderr):
    """Run `npm ci` in tests/idp unless its node_modules match package-lock.json."""
    installed = IDP_DIR / 'node_modules' / '.package-lock.json'
    lock = IDP_DIR / 'package-lock.json'
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    if not shutil.which('npm'):
        raise RuntimeError('The test provider needs Node.js 20+ and npm (Debian: apt-get install nodejs npm).')
    log('Installing the test provider (npm ci --prefix tests/idp) ...')
    subprocess.run(
        ['npm', 'ci', '--prefix', str(IDP_DIR), '--no-audit', '--no-fund', '--loglevel=error'],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def callback_urls(base_url):
    """The URL NetBox's social-auth sends Authentik back to, for a NetBox at base_url."""
    return f'{base_url.rstrip("/")}/oauth/complete/authentik/'


class TestProvider:
    """One running instance of the test provider in one signing mode."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *,
        log_path,
        mode='rs256',
        port=0,
        host='127.0.0.1',
        redirect_uris=(),
        post_logout_redirect_uris=(),
        keys_file=None,
        client_secret=CLIENT_SECRET,
    ):
        self.mode = mode
        self.port = port
        self.host = host
        self.issuer = None
        argv = [
            'node',
            IDP_DIR / 'server.mjs',
            '--port',
            port,
            '--host',
            host,
            '--mode',
            mode,
            '--client-id',
            CLIENT_ID,
            '--client-secret',
            client_secret,
        ]
        for uri in redirect_uris:
            argv += ['--redirect-uri', uri]
        for uri in post_logout_redirect_uris:
            argv += ['--post-logout-redirect-uri', uri]
        if keys_file:
            argv += ['--keys-file', keys_file]
        self.child = ChildProcess(f'test provider ({mode})', argv, log_path=log_path, stop_signal=signal.SIGTERM)

    def start(self, timeout=30):
        """Start it and wait for its READY line; return self."""
        ensure_node_modules()
        log_offset = len(self.child.log_text())
        self.child.start()

        def ready():
            match = READY_LINE.search(self.child.log_text()[log_offset:])
            if match:
                self.issuer = match.group(1)
            return bool(match)

        try:
            self.child.wait_until(ready, timeout, 'ready (no READY line)')
        except Exception:
            self.child.stop()
            raise
        self.port = int(re.search(r':(\d+)/', self.issuer).group(1))
        return self

    def stop(self):
        self.child.stop()

    def running(self):
        return self.child.running()

    @property
    def base_url(self):
        return f'http://{self.host}:{self.port}'

    def stats(self):
        """Requests served per endpoint, from the provider's test hook."""
        with urllib.request.urlopen(f'{self.base_url}/_test/stats', timeout=5) as response:
            return json.load(response)

    def reset_stats(self):
        request = urllib.request.Request(f'{self.base_url}/_test/reset', method='POST', data=b'')
        urllib.request.urlopen(request, timeout=5).close()
