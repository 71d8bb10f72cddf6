"""Start and stop NetBox (`netbox runserver`) on a cloned database, for the end-to-end tests and the demo.

The server reads tests/e2e_configuration.py: the test configuration (every connection detail from
NBA_* variables) plus PLUGINS_CONFIG['netbox_authentik'] from the JSON in NBA_PLUGINS_CONFIG.
"""

import fcntl
import http.client
import http.server
import itertools
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from importlib.metadata import version

from tests.tools import isolation
from tests.tools.idp import CLIENT_ID, CLIENT_SECRET
from tests.tools.services import REPO, ChildProcess, log_stderr

NETBOX_ROOT = REPO / '.netbox'
CONFIGURATION = 'tests.e2e_configuration'
# Loading NetBox's URLs (GraphQL schema included) takes ~10 s on 2 cores before /login/ answers.
START_TIMEOUT = 180


def netbox_env(*, db_name, redis_db=None, cache_role='server', oidc_endpoint=None, plugins_config=None, base_env=None):
    """The environment a NetBox process (server or management command) needs, on top of base_env.

    The Redis database is this run's (tests/tools/isolation.py) unless `redis_db` is given; the
    cache keys of the server carry their own prefix (`cache_role`), apart from the tests' keys.
    """
    env = dict(os.environ if base_env is None else base_env)
    env.update(
        DJANGO_SETTINGS_MODULE='tests.settings',
        NETBOX_CONFIGURATION=CONFIGURATION,
        NETBOX_ROOT=str(NETBOX_ROOT),
        NBA_DB_NAME=db_name,
        NBA_RUN_ID=isolation.run_id(),
        NBA_CACHE_PREFIX=isolation.cache_key_prefix(cache_role),
        NBA_CLIENT_ID=CLIENT_ID,
        NBA_CLIENT_SECRET=CLIENT_SECRET,
        NBA_PLUGINS_CONFIG=json.dumps(plugins_config or {}),
        PYTHONUNBUFFERED='1',
    )
    if redis_db is not None:
        env['NBA_REDIS_DB'] = str(redis_db)
    if oidc_endpoint:
        env['NBA_OIDC_ENDPOINT'] = oidc_endpoint
    return env


def ensure_static(env, log=log_stderr):
    """Collect NetBox's static files into NETBOX_ROOT/static once per NetBox version (DEBUG is off)."""
    static = NETBOX_ROOT / 'static'
    stamp = static / f'.nba-collected-{version("netbox")}'
    if stamp.exists():
        return
    NETBOX_ROOT.mkdir(parents=True, exist_ok=True)
    with open(NETBOX_ROOT / '.collectstatic.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be collecting right now
        if stamp.exists():
            return
        log(f'Collecting NetBox static files into {static} (once) ...')
        subprocess.run(
            [sys.executable, '-m', 'netbox', 'collectstatic', '--no-input', '-v', '0'], cwd=REPO, env=env, check=True
        )
        stamp.touch()


PREPARE_USERS = """
import json, sys
import django
django.setup()
from users.models import Group, User

spec = json.loads(sys.argv[1])
created = []
for name in spec['groups']:
    if Group.objects.get_or_create(name=name)[1]:
        created.append(f'group {name}')
for permission in spec.get('permissions', []):
    from core.models import ObjectType
    from users.models import ObjectPermission

    made, is_new = ObjectPermission.objects.get_or_create(
        name=permission['name'], defaults={'actions': permission['actions'], 'enabled': True}
    )
    if is_new:
        made.object_types.set(ObjectType.objects.filter(app_label__in=permission['app_labels'], **(
            {'model__in': permission['models']} if permission.get('models') else {})))
        made.groups.set(Group.objects.filter(name__in=permission['groups']))
        created.append(f"permission {permission['name']}")
superuser = spec.get('superuser')
if superuser and not User.objects.filter(username=superuser['username']).exists():
    User.objects.create_superuser(superuser['username'], email='', password=superuser['password'])
    created.append(f"superuser {superuser['username']}")
print(json.dumps(created))
"""


def prepare_users(env, *, groups=(), superuser=None, permissions=()):
    """Create NetBox groups, object permissions and a local superuser unless they exist; return what was made.

    A permission is a dict: name, actions, app_labels, optional models, and the groups it is given to.
    """
    spec = {'groups': list(groups), 'permissions': list(permissions)}
    if superuser:
        spec['superuser'] = {'username': superuser[0], 'password': superuser[1]}
    done = subprocess.run(
        [sys.executable, '-c', PREPARE_USERS, json.dumps(spec)], cwd=REPO, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f'Preparing NetBox users failed:\n{done.stderr[-3000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


class NetBoxServer:
    """A NetBox runserver process on host:port; `start()` returns at once, `wait_ready()` waits for /login/."""

    def __init__(self, name, *, env, port, log_path, host='127.0.0.1'):
        self.name = name
        self.host = host
        self.port = port
        self.child = ChildProcess(
            name,
            [sys.executable, '-m', 'netbox', 'runserver', f'{host}:{port}', '--insecure', '--noreload'],
            env=env,
            log_path=log_path,
        )

    @property
    def url(self):
        return f'http://{self.host}:{self.port}'

    @property
    def log_path(self):
        return self.child.log_path

    def start(self):
        self.child.start()
        return self

    def login_page_answers(self):
        try:
            with urllib.request.urlopen(f'{self.url}/login/', timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout=START_TIMEOUT):
        try:
            self.child.wait_until(self.login_page_answers, timeout, 'answering /login/')
        except Exception:
            self.child.stop()
            raise
        return self

    def stop(self):
        self.child.stop()

    def running(self):
        return self.child.running()


class RoundRobinProxy:
    """An HTTP front on one host:port for several NetBox servers, as a load balancer puts them behind one name.

    Each request goes to the next server in turn, except paths pinned to one server by prefix
    (for example the sign-in's begin to the first and its callback to the second). `served`
    records (method, path, server index) for every request.
    """

    HOP_BY_HOP = {'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'}

    def __init__(self, servers, *, port, host='127.0.0.1', pinned=None):
        self.servers = list(servers)
        self.host = host
        self.port = port
        self.pinned = dict(pinned or {})
        self.served = []
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._httpd = None

    @property
    def url(self):
        return f'http://{self.host}:{self.port}'

    def choose(self, path):
        for prefix, index in self.pinned.items():
            if path.startswith(prefix):
                return index
        with self._lock:
            return next(self._turn) % len(self.servers)

    def start(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # HTTP/1.0 to the browser: one request per connection, so every request is routed anew.
            def _forward(self):
                index = proxy.choose(self.path)
                server = proxy.servers[index]
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in RoundRobinProxy.HOP_BY_HOP
                }
                connection = http.client.HTTPConnection(server.host, server.port, timeout=60)
                try:
                    connection.request(self.command, self.path, body=body or None, headers=headers)
                    answer = connection.getresponse()
                    content = answer.read()
                finally:
                    connection.close()
                with proxy._lock:
                    proxy.served.append((self.command, self.path, index))
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in RoundRobinProxy.HOP_BY_HOP | {'content-length'}:
                        self.send_header(name, value)
                self.send_header('Content-Length', str(len(content)))
                self.end_headers()
                if self.command != 'HEAD':
                    self.wfile.write(content)

            do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _forward

            def log_message(self, format, *args):
                pass

        self._httpd = http.server.ThreadingHTTPServer((self.host, self.port), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name='round-robin-proxy', daemon=True).start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def served_by(self, path_prefix):
        """The indexes of the servers that answered requests whose path starts with path_prefix."""
        with self._lock:
            return [index for _method, path, index in self.served if path.startswith(path_prefix)]
