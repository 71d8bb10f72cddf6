"""Benchmark: what login_redirect's reachability probe adds to a visit of /login/.

    .venv/bin/python -m tests.benchmarks.login_probe [--runs 200]

Times logout.authentik_reachable() (Django's cache is the Redis of tests.settings) in three cases: the
result remembered (a cache read), a probe answered by a `responses` fake (the plugin's own cost: cache,
requests, no network), and a probe answered by a small HTTP server on 127.0.0.1 (plus a TCP connection
and an HTTP round trip, as a nearby Authentik costs at best). No database is used.
"""

import argparse
import os
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.settings')

import logging  # noqa: E402

import django  # noqa: E402

django.setup()
logging.getLogger('netbox_authentik').setLevel(logging.ERROR)

import responses  # noqa: E402
from django.core.cache import cache  # noqa: E402

from netbox_authentik import logout  # noqa: E402
from netbox_authentik.metadata import cache_key  # noqa: E402

DISCOVERY = b'{"issuer": "http://127.0.0.1/application/o/netbox/"}'


class Discovery(BaseHTTPRequestHandler):
    """Answers every GET with a small discovery document, as Authentik would."""

    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(DISCOVERY)))
        self.end_headers()
        self.wfile.write(DISCOVERY)

    def log_message(self, *args):
        pass


class Backend:
    """The one thing authentik_reachable asks of the backend."""

    def __init__(self, url):
        self.url = url

    def discovery_url(self):
        return self.url


def timed(backend, runs, forget):
    """Median and 95th percentile, in milliseconds, of `runs` calls; `forget` drops the remembered result first."""
    key = cache_key('reachable', backend.discovery_url())
    samples = []
    for _run in range(runs):
        if forget:
            cache.delete(key)
        start = time.perf_counter()
        assert logout.authentik_reachable(backend)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=200)
    runs = parser.parse_args().runs

    server = ThreadingHTTPServer(('127.0.0.1', 0), Discovery)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    local = Backend(f'http://127.0.0.1:{server.server_port}/application/o/netbox/.well-known/openid-configuration')
    fake = Backend('https://authentik.example.com/application/o/netbox/.well-known/openid-configuration')
    try:
        rows = [('remembered (cache read only)', timed(local, runs, forget=False))]
        with responses.RequestsMock() as mock:
            mock.add(responses.GET, fake.url, body=DISCOVERY, content_type='application/json')
            rows.append(('probe, responses fake', timed(fake, runs, forget=True)))
        rows.append(('probe, HTTP server on 127.0.0.1', timed(local, runs, forget=True)))
    finally:
        server.shutdown()
        cache.delete(cache_key('reachable', local.url))
        cache.delete(cache_key('reachable', fake.url))
    print(f'authentik_reachable(), {runs} runs each')
    for label, (median, p95) in rows:
        print(f'  {label:34} median {median:6.2f} ms   p95 {p95:6.2f} ms')


if __name__ == '__main__':
    main()
