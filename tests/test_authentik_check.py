"""`netbox authentik_check` against a real local HTTP server that serves Authentik's discovery and JWKS."""

import datetime
import io
import json
import socket
import ssl
import threading
import time
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from tests import fake_authentik

# The command also lists the group mapping rules kept in NetBox's database.
pytestmark = pytest.mark.django_db
SLUG = 'netbox'


class _AuthentikHandler(BaseHTTPRequestHandler):
    """Serves the documents in server.routes; anything else is a 404, as Authentik answers an unknown slug."""

    def do_GET(self):
        status, content_type, body = self.server.routes.get(self.path, (404, 'text/html', b'<h1>Not Found</h1>'))
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        """The token endpoint, checking the client before the code as Authentik does (both refusals are 400s)."""
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        if self.path != '/application/o/token/':
            status, answer = 404, {}
        else:
            # This server issues no codes: right credentials get invalid_grant, as a made-up code does at Authentik.
            credentials = fake_authentik.basic_auth_credentials(SimpleNamespace(headers=self.headers, body=body))
            right = credentials == (fake_authentik.CLIENT_ID, self.server.client_secret)
            status, answer = 400, {'error': 'invalid_grant' if right else 'invalid_client'}
        self.server.token_requests.append(body)
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def date_time_string(self, timestamp=None):
        return super().date_time_string(time.time() + self.server.clock_offset)

    def log_message(self, *args):
        pass


class AuthentikServer(ThreadingHTTPServer):
    """Authentik's provider for one application on 127.0.0.1, in a thread."""

    daemon_threads = True

    def __init__(self, alg='RS256', tls_context=None):
        super().__init__(('127.0.0.1', 0), _AuthentikHandler)
        if tls_context is not None:
            self.socket = tls_context.wrap_socket(self.socket, server_side=True)
        scheme = 'https' if tls_context else 'http'
        self.base = f'{scheme}://127.0.0.1:{self.server_address[1]}'
        self.issuer = f'{self.base}/application/o/{SLUG}/'
        self.clock_offset = 0
        fake = fake_authentik.FakeAuthentik(None, alg=alg)
        self.client_secret, self.token_requests = fake_authentik.CLIENT_SECRET, []
        self.discovery = json.loads(json.dumps(fake.discovery).replace(fake_authentik.BASE, self.base))
        self.jwks = {'keys': fake.keys} if fake.keys else {}
        self.routes = {}
        self.publish()

    def publish(self):
        """Serve the current discovery document and JWKS."""
        self.routes[f'/application/o/{SLUG}/.well-known/openid-configuration'] = (
            200,
            'application/json',
            json.dumps(self.discovery).encode(),
        )
        self.routes[f'/application/o/{SLUG}/jwks/'] = (200, 'application/json', json.dumps(self.jwks).encode())


@contextmanager
def serving(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def authentik():
    with serving(AuthentikServer()) as server, configured(server.issuer):
        yield server


@contextmanager
def configured(endpoint, **plugin_settings):
    with override_settings(
        SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=endpoint,
        ALLOWED_HOSTS=['netbox.example.com'],
        PLUGINS_CONFIG={'netbox_authentik': {'http_timeout': 2, **plugin_settings}},
    ):
        yield


def run_check(*args):
    """Run the command; return (exit code, stdout). A failed check raises CommandError with returncode 1."""
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command('authentik_check', *args, stdout=stdout, stderr=stderr)
    except CommandError as failure:
        return failure.returncode, stdout.getvalue()
    return 0, stdout.getvalue()


def lines(output, check):
    """The output lines of one check."""
    return [line for line in output.splitlines() if line[2:].startswith(f'{check}:')]


def results(*args):
    code, output = run_check('--json', *args)
    return code, {finding['check']: finding for finding in json.loads(output)}


# -- a good Authentik ----------------------------------------------------------------------------


def test_good_authentik_passes_every_check(authentik):
    code, output = run_check()
    assert code == 0
    assert output.splitlines() == [
        "✓ configuration: configuration.py passes the plugin's system checks.",
        '→ redirect_uri: https://netbox.example.com/oauth/complete/authentik/ — Register it on the Authentik provider '
        'as a Strict redirect URI (Authorization), or apply `netbox authentik_blueprint`.',
        '→ post_logout_redirect_uri: https://netbox.example.com/login/ — Register it on the provider as a redirect '
        'URI of type Post Logout (used from Authentik 2026.5).',
        '→ backchannel_logout_uri: https://netbox.example.com/plugins/authentik/backchannel-logout/ — Set it as the '
        "provider's Back-Channel Logout URI (Authentik 2025.8+, preview), or apply `netbox authentik_blueprint`.",
        f'✓ discovery: Fetched {authentik.issuer}.well-known/openid-configuration.',
        f'✓ issuer: Authentik calls itself {authentik.issuer}, as configured.',
        "✓ clock: NetBox's and Authentik's clocks agree within 30 s.",
        '✓ signing: id_tokens are signed with RS256 (a key from JWKS).',
        '✓ encryption: id_tokens are not encrypted.',
        f'✓ jwks: {authentik.issuer}jwks/: 1 key(s): kid=authentik-key-1, kty=RSA, alg=RS256.',
        '✓ scopes: Authentik offers the scopes openid, profile (with groups) and email.',
        '✓ groups_claim: Authentik sends the groups claim.',
        '✓ username_claim: Authentik sends the preferred_username claim.',
        '✓ client_auth: The token endpoint accepts client_secret_post and client_secret_basic.',
        f'✓ end_session: End-session endpoint: {authentik.issuer}end-session/.',
        '✓ client_credentials: Authentik accepts the client ID and secret (it refused a made-up code, as it should).',
        "✓ metadata_cache: NetBox has not cached Authentik's discovery document yet; the next sign-in fetches it.",
        '✓ netbox_groups: group_map maps no NetBox groups.',
        '✓ group_mapping_rules: No group mapping rules (configuration or NetBox).',
        'All checks passed, 0 warning(s).',
    ]


def test_json_output_lists_every_check_with_status_message_and_hint(authentik):
    code, output = run_check('--json')
    assert code == 0
    findings = json.loads(output)
    assert all(set(finding) == {'check', 'status', 'message', 'hint'} for finding in findings)
    assert [(finding['check'], finding['status']) for finding in findings] == [
        ('configuration', 'ok'),
        ('redirect_uri', 'info'),
        ('post_logout_redirect_uri', 'info'),
        ('backchannel_logout_uri', 'info'),
        ('discovery', 'ok'),
        ('issuer', 'ok'),
        ('clock', 'ok'),
        ('signing', 'ok'),
        ('encryption', 'ok'),
        ('jwks', 'ok'),
        ('scopes', 'ok'),
        ('groups_claim', 'ok'),
        ('username_claim', 'ok'),
        ('client_auth', 'ok'),
        ('end_session', 'ok'),
        ('client_credentials', 'ok'),
        ('metadata_cache', 'ok'),
        ('netbox_groups', 'ok'),
        ('group_mapping_rules', 'ok'),
    ]
    assert findings[1]['message'] == 'https://netbox.example.com/oauth/complete/authentik/'


def test_issuer_without_trailing_slash_in_configuration_matches(authentik):
    with configured(authentik.issuer.rstrip('/')):
        code, found = results()
    assert code == 0
    assert found['issuer']['status'] == 'ok'


# -- NetBox's cached copy of discovery and JWKS ------------------------------------------------------


def netbox_backend():
    """The backend as a NetBox worker runs it; it caches discovery and JWKS in Redis for every worker."""
    from social_django.utils import load_backend, load_strategy

    return load_backend(load_strategy(), 'authentik', redirect_uri=None)


def test_cached_metadata_matching_authentik_passes(authentik):
    netbox_backend().get_jwks_keys()  # a sign-in fetched discovery and JWKS

    code, output = run_check()

    assert code == 0
    assert lines(output, 'metadata_cache') == [
        "✓ metadata_cache: NetBox's cached discovery document and JWKS match what Authentik serves."
    ]


def test_stale_cache_after_a_signing_key_change_warns_and_refresh_replaces_it():
    with serving(AuthentikServer(alg='HS256')) as authentik, configured(authentik.issuer):
        assert netbox_backend().signing_algorithms() == ['HS256']  # cached by a sign-in before the change
        # The admin selects the self-signed certificate: Authentik changes discovery and JWKS at once.
        authentik.discovery['id_token_signing_alg_values_supported'] = ['RS256']
        authentik.jwks = {'keys': fake_authentik.FakeAuthentik(None, alg='RS256').keys}
        authentik.publish()

        code, output = run_check()

        assert code == 0
        assert lines(output, 'metadata_cache') == [
            "! metadata_cache: NetBox's cached discovery document or JWKS differs from what Authentik serves now: "
            "id_token_signing_alg_values_supported: cached ['HS256'], Authentik now ['RS256']. — The next token "
            'they cannot verify makes NetBox refetch them; to drop them now, run `netbox authentik_check --refresh`.'
        ]
        assert output.splitlines()[-1] == 'All checks passed, 1 warning(s).'

        code, output = run_check('--refresh')

        assert code == 0
        assert lines(output, 'metadata_cache') == [
            "✓ metadata_cache: Dropped NetBox's cached discovery document and JWKS and cached what Authentik serves "
            "now. They had changed: id_token_signing_alg_values_supported: cached ['HS256'], Authentik now "
            "['RS256']."
        ]
        assert netbox_backend().signing_algorithms() == ['RS256']  # what every worker now reads from the cache
        assert [key['kid'] for key in netbox_backend().get_jwks_keys()] == ['authentik-key-1']
        assert lines(run_check()[1], 'metadata_cache') == [
            "✓ metadata_cache: NetBox's cached discovery document and JWKS match what Authentik serves."
        ]


def test_stale_cache_names_changed_key_ids_and_endpoints(authentik):
    netbox_backend().get_jwks_keys()
    authentik.jwks = {'keys': [{**authentik.jwks['keys'][0], 'kid': 'authentik-key-2'}]}
    authentik.discovery['token_endpoint'] = authentik.base + '/application/o/token2/'
    authentik.publish()

    _code, found = results()

    assert found['metadata_cache']['status'] == 'warning'
    assert found['metadata_cache']['message'] == (
        "NetBox's cached discovery document or JWKS differs from what Authentik serves now: token_endpoint: cached "
        f"'{authentik.base}/application/o/token/', Authentik now '{authentik.base}/application/o/token2/'; JWKS key "
        "ids: cached ['authentik-key-1'], Authentik now ['authentik-key-2']."
    )


def test_refresh_keeps_the_cached_copies_when_authentik_cannot_be_reached(authentik):
    netbox_backend().get_jwks_keys()
    authentik.routes.clear()  # every URL answers 404

    code, found = results('--refresh')

    assert code == 1
    assert found['metadata_cache']['status'] == 'error'
    assert netbox_backend().signing_algorithms() == ['RS256']


# -- what Authentik can be set up to do ---------------------------------------------------------------


def test_hs256_only_is_a_warning_not_a_failure():
    with serving(AuthentikServer(alg='HS256')) as server, configured(server.issuer):
        code, output = run_check()
        assert code == 0
        assert lines(output, 'signing') == [
            '! signing: id_tokens are signed with HS256, using the client secret: no signing key is selected in '
            'Authentik. — In Authentik, edit the provider and select a Signing Key (e.g. the self-signed '
            'certificate) so that id_tokens are signed with RS256, or apply `netbox authentik_blueprint`.'
        ]
        assert lines(output, 'jwks') == [
            f'✓ jwks: {server.issuer}jwks/ lists no keys, as Authentik answers without a signing key.'
        ]
        assert output.splitlines()[-1] == 'All checks passed, 1 warning(s).'


@pytest.mark.parametrize(
    ('alg', 'secret', 'line'),
    [
        (
            'HS256',
            'x' * 31,
            '! client_secret: The client secret signs HS256 id_tokens but is only 31 bytes long; at least '
            '32 are needed (RFC 7518). — Select a Signing Key on the provider in Authentik (RS256), or '
            'generate a longer client secret (Authentik creates 128 characters) and update '
            'SOCIAL_AUTH_AUTHENTIK_SECRET.',
        ),
        (
            'HS512',
            'x' * 63,
            '! client_secret: The client secret signs HS512 id_tokens but is only 63 bytes long; at least '
            '64 are needed (RFC 7518). — Select a Signing Key on the provider in Authentik (RS256), or '
            'generate a longer client secret (Authentik creates 128 characters) and update '
            'SOCIAL_AUTH_AUTHENTIK_SECRET.',
        ),
        ('HS256', 'x' * 32, '✓ client_secret: The client secret signs HS256 id_tokens and is long enough (32 bytes).'),
    ],
)
def test_hmac_signing_with_a_short_client_secret_warns(alg, secret, line):
    with (
        serving(AuthentikServer(alg=alg)) as server,
        configured(server.issuer),
        override_settings(SOCIAL_AUTH_AUTHENTIK_SECRET=secret),
    ):
        server.client_secret = secret
        code, output = run_check()
    assert code == 0
    assert lines(output, 'client_secret') == [line]


def test_short_secret_is_what_pyjwt_warns_about():
    import jwt

    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        jwt.encode({'sub': 'x'}, 'x' * 31, algorithm='HS256')


def test_client_secret_length_is_not_checked_with_a_signing_key(authentik):
    authentik.client_secret = 'short'
    with override_settings(SOCIAL_AUTH_AUTHENTIK_SECRET='short'):
        code, output = run_check()
    assert code == 0
    assert lines(output, 'client_secret') == []


def test_wrong_issuer_fails(authentik):
    authentik.discovery['issuer'] = 'https://authentik.example.com/application/o/other/'
    authentik.publish()
    code, output = run_check()
    assert code == 1
    assert lines(output, 'issuer') == [
        "✗ issuer: Authentik's issuer is https://authentik.example.com/application/o/other/, not the configured "
        f'endpoint {authentik.issuer}. — Set SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT to '
        "'https://authentik.example.com/application/o/other/'; if NetBox cannot reach that address, fix the Host "
        'header the proxy in front of Authentik passes on.'
    ]


def test_groups_missing_from_claims_supported_is_a_warning(authentik):
    authentik.discovery['claims_supported'].remove('groups')
    authentik.publish()
    code, found = results()
    assert code == 0
    assert found['groups_claim'] == {
        'check': 'groups_claim',
        'status': 'warning',
        'message': 'Authentik does not list the groups claim: group sync sees no groups.',
        'hint': "Add the 'profile' scope mapping (it carries groups) to the provider, or a custom mapping that "
        'returns groups.',
    }


def test_missing_profile_scope_fails_and_missing_email_scope_warns(authentik):
    authentik.discovery['scopes_supported'] = ['openid', 'email']
    authentik.publish()
    code, found = results()
    assert (code, found['scopes']['status']) == (1, 'error')
    assert found['scopes']['message'] == (
        'Authentik does not offer the scope(s) profile: NetBox gets no username or groups.'
    )
    authentik.discovery['scopes_supported'] = ['openid', 'profile']
    authentik.publish()
    code, found = results()
    assert (code, found['scopes']['status']) == (0, 'warning')


def test_encrypted_tokens_without_decryption_key_fail(authentik):
    authentik.discovery['id_token_encryption_alg_values_supported'] = ['RSA-OAEP-256']
    authentik.discovery['id_token_encryption_enc_values_supported'] = ['A256CBC-HS512']
    authentik.publish()
    code, found = results()
    assert code == 1
    assert found['encryption']['status'] == 'error'
    assert found['encryption']['message'] == (
        'Authentik encrypts id_tokens (RSA-OAEP-256, A256CBC-HS512) but id_token_decryption_key is not set.'
    )
    with configured(authentik.issuer, id_token_decryption_key='/etc/netbox/authentik-encryption.pem'):
        code, found = results()
    assert (code, found['encryption']['status']) == (0, 'ok')


def test_rs256_without_keys_in_jwks_fails(authentik):
    authentik.jwks = {}
    authentik.publish()
    code, found = results()
    assert code == 1
    assert found['jwks']['message'] == f'{authentik.issuer}jwks/ lists no keys, but id_tokens are signed with RS256.'


def test_no_client_secret_method_fails_and_no_end_session_warns(authentik):
    authentik.discovery['token_endpoint_auth_methods_supported'] = ['private_key_jwt']
    del authentik.discovery['end_session_endpoint']
    authentik.publish()
    code, found = results()
    assert code == 1
    assert (found['client_auth']['status'], found['end_session']['status']) == ('error', 'warning')


def test_clock_skew_beyond_30_seconds_warns(authentik):
    authentik.clock_offset = -120
    code, found = results()
    assert code == 0
    assert found['clock']['status'] == 'warning'
    assert found['clock']['message'].startswith("NetBox's clock is 12")
    assert found['clock']['message'].endswith(" s ahead of Authentik's.")


def test_odd_discovery_values_are_findings_not_tracebacks(authentik):
    authentik.discovery['scopes_supported'] = 'openid profile email'
    authentik.discovery['id_token_signing_alg_values_supported'] = None
    authentik.publish()
    code, found = results()
    assert code == 1
    assert found['scopes']['status'] == 'error'
    assert found['signing']['message'] == 'Authentik advertises no id_token signing algorithm NetBox accepts: [].'


# -- NetBox's side ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_netbox_groups_named_in_group_map_must_exist(authentik):
    from users.models import Group

    Group.objects.create(name='Network engineers')
    with configured(authentik.issuer, group_map={'authentik Admins': 'Admins', 'neteng': 'Network engineers'}):
        code, found = results()
        assert code == 0
        assert found['netbox_groups'] == {
            'check': 'netbox_groups',
            'status': 'warning',
            'message': "group_map names NetBox groups that do not exist: 'Admins'.",
            'hint': 'Create the group in NetBox (Admin > Authentication > Groups) or fix the name (names are '
            'case-sensitive), or set auto_create_groups: True.',
        }
        Group.objects.create(name='Admins')
        code, found = results()
        assert found['netbox_groups']['message'] == 'The 2 NetBox group(s) named in group_map exist.'
    with configured(authentik.issuer, group_map={'authentik Admins': 'Owners'}, auto_create_groups=True):
        code, found = results()
        assert found['netbox_groups']['status'] == 'ok'


def test_uris_follow_base_url_base_path_and_post_logout_setting(authentik):
    with override_settings(BASE_PATH='netbox/'):
        code, found = results('--base-url', 'https://nb.example.org:8443/')
        assert found['redirect_uri']['message'] == 'https://nb.example.org:8443/netbox/oauth/complete/authentik/'
        assert found['post_logout_redirect_uri']['message'] == 'https://nb.example.org:8443/netbox/login/'
        assert found['backchannel_logout_uri']['message'] == (
            'https://nb.example.org:8443/netbox/plugins/authentik/backchannel-logout/'
        )
    with configured(authentik.issuer, post_logout_redirect_uri='https://intranet.example.com/'):
        code, found = results('--http')
        assert found['redirect_uri']['message'] == 'http://netbox.example.com/oauth/complete/authentik/'
        assert found['post_logout_redirect_uri']['message'] == 'https://intranet.example.com/'


def test_wildcard_allowed_hosts_asks_for_base_url(authentik):
    with override_settings(ALLOWED_HOSTS=['*']):
        code, found = results()
    assert code == 0
    assert found['netbox_url']['status'] == 'warning'
    assert found['netbox_url']['hint'] == 'Pass --base-url https://netbox.example.com to print the exact URIs.'
    assert found['redirect_uri']['message'] == 'https://<netbox-host>/oauth/complete/authentik/'


def test_bad_base_url_is_a_usage_error(authentik):
    with pytest.raises(CommandError, match='give the scheme and host'):
        call_command('authentik_check', '--base-url', 'netbox.example.com', stdout=io.StringIO())


def test_configuration_errors_are_reported_and_fail(authentik):
    with override_settings(SOCIAL_AUTH_AUTHENTIK_SECRET=''):
        code, found = results()
    assert code == 1
    assert found['netbox_authentik.E004'] == {
        'check': 'netbox_authentik.E004',
        'status': 'error',
        'message': 'SOCIAL_AUTH_AUTHENTIK_SECRET is missing or empty.',
        'hint': "Set it to the provider's Client Secret (Authentik: Applications > Providers > your provider).",
    }
    assert found['discovery']['status'] == 'ok'


# -- Authentik unreachable or answering something else: one clear line each ------------------------------------


def discovery_line(output):
    found = lines(output, 'discovery')
    assert len(found) == 1, output
    assert 'Traceback' not in output
    return found[0]


def test_not_an_http_url_is_not_contacted():
    with configured('not a url'):
        code, output = run_check()
    assert code == 1
    assert discovery_line(output) == (
        '✗ discovery: Authentik not contacted: SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT is not an http(s) URL. — Set it '
        "to the provider's OpenID Configuration Issuer, e.g. https://authentik.example.com/application/o/<slug>/"
    )


def test_404_names_the_slug(authentik):
    with configured(f'{authentik.base}/application/o/wrong-slug/'):
        code, output = run_check()
    assert code == 1
    assert discovery_line(output) == (
        f'✗ discovery: {authentik.base}/application/o/wrong-slug/.well-known/openid-configuration answered HTTP 404 '
        'Not Found. — Check the application slug in SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT: it must be the issuer '
        '…/application/o/<slug>/ of an application that uses this provider.'
    )


def test_non_json_answer(authentik):
    authentik.routes[f'/application/o/{SLUG}/.well-known/openid-configuration'] = (
        200,
        'text/html; charset=utf-8',
        b'<html><body>Sign in</body></html>',
    )
    code, output = run_check()
    assert code == 1
    assert discovery_line(output) == (
        f'✗ discovery: {authentik.issuer}.well-known/openid-configuration did not answer with JSON (Content-Type: '
        "text/html; charset=utf-8). — The URL does not reach Authentik's API: check the endpoint, and any proxy or "
        'login page in front of Authentik.'
    )


def test_connection_refused():
    # Bound but not listening, and held: the kernel refuses connections and no one else can take the port.
    with closing(socket.socket()) as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
        with configured(f'http://127.0.0.1:{port}/application/o/{SLUG}/'):
            code, output = run_check()
    assert code == 1
    assert discovery_line(output) == (
        f'✗ discovery: Cannot connect to 127.0.0.1:{port}: Connection refused. — Check the host and port in '
        'SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT and that Authentik is running and reachable from NetBox.'
    )


def test_timeout_is_bounded_by_http_timeout():
    # A socket that accepts connections (the kernel's backlog does) and never answers.
    with closing(socket.socket()) as silent:
        silent.bind(('127.0.0.1', 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with configured(f'http://127.0.0.1:{port}/application/o/{SLUG}/', http_timeout=0.5):
            started = time.monotonic()
            code, output = run_check()
            elapsed = time.monotonic() - started
    assert code == 1
    assert elapsed < 5
    assert discovery_line(output) == (
        f'✗ discovery: 127.0.0.1:{port} did not answer within 0.5 s. — Check that NetBox can reach Authentik '
        "(firewall, proxy); if Authentik is just slow, raise PLUGINS_CONFIG['netbox_authentik']['http_timeout']."
    )


def _self_signed_tls_context(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, '127.0.0.1')])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / 'cert.pem', tmp_path / 'key.pem'
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_tls_error_with_an_untrusted_certificate(tmp_path, monkeypatch):
    monkeypatch.delenv('REQUESTS_CA_BUNDLE', raising=False)
    monkeypatch.delenv('CURL_CA_BUNDLE', raising=False)
    with serving(AuthentikServer(tls_context=_self_signed_tls_context(tmp_path))) as server, configured(server.issuer):
        code, output = run_check()
    assert code == 1
    assert discovery_line(output) == (
        f'✗ discovery: TLS error talking to 127.0.0.1:{server.server_address[1]}: certificate verify failed: '
        'self-signed certificate. — Give Authentik a certificate NetBox trusts, or point REQUESTS_CA_BUNDLE at the '
        'CA that signed it.'
    )
