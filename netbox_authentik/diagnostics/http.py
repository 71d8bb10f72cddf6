"""Requests the diagnostics send to Authentik: one try, no cache, every failure to get an answer one FetchError."""

import re
from urllib.parse import urlsplit

import requests

from ..endpoint import CONFIG, ENDPOINT
from .findings import FetchError


def send(url, timeout, method='GET', **kwargs):
    """Send one request to Authentik (no cache, no retry); a failure to get any answer is one FetchError."""
    host = urlsplit(url).netloc
    try:
        return requests.request(method, url, timeout=timeout, headers={'Accept': 'application/json'}, **kwargs)
    except requests.exceptions.SSLError as failure:
        raise FetchError(
            f'TLS error talking to {host}: {_reason(failure, "TLS handshake failed")}.',
            'Give Authentik a certificate NetBox trusts, or point REQUESTS_CA_BUNDLE at the CA that signed it.',
        ) from failure
    except requests.Timeout as failure:
        raise FetchError(
            f'{host} did not answer within {timeout} s.',
            'Check that NetBox can reach Authentik (firewall, proxy); if Authentik is just slow, '
            f"raise {CONFIG}['http_timeout'].",
        ) from failure
    except requests.ConnectionError as failure:
        raise FetchError(
            f'Cannot connect to {host}: {_reason(failure, "connection failed")}.',
            f'Check the host and port in {ENDPOINT} and that Authentik is running and reachable from NetBox.',
        ) from failure
    except requests.RequestException as failure:
        raise FetchError(f'Request to {url} failed: {type(failure).__name__}.', f'Check {ENDPOINT}.') from failure


def _reason(failure, default):
    """The OS or TLS reason inside a requests exception (its str() is a long urllib3 repr)."""
    text = str(failure)
    for pattern in (r'\[SSL: [A-Z_]+\] ([^(\'"]+?)\s*\(', r'\[SSL: [A-Z_]+\] ([^\'"]+)', r'\[Errno -?\d+\] ([^\'")]+)'):
        match = re.search(pattern, text)
        if match:
            return match.group(1).strip().rstrip('.')
    return default
