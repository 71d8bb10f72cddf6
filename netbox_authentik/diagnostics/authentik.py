"""Diagnostics against the live Authentik: discovery, issuer, clock, keys, scopes, claims, logout, cache.

Each check fetches what Authentik serves now (no cache, no retry) and says, in one finding, whether
NetBox can rely on it and how to fix it when not.
"""

import time
from email.utils import parsedate_to_datetime

from django.conf import settings

from .. import checks
from .. import settings as plugin_settings
from ..provider import WELL_KNOWN, normalize_endpoint
from ..tokens import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS
from .credentials import credentials_findings
from .findings import FetchError, Finding, error, ok, warning
from .http import send

MAX_CLOCK_SKEW = 30
REQUIRED_SCOPES = ('openid', 'profile')
CLIENT_AUTH_METHODS = ('client_secret_post', 'client_secret_basic')


def authentik_findings():
    """Fetch discovery and JWKS from the live Authentik and check what NetBox relies on."""
    configured = getattr(settings, checks.ENDPOINT, None)
    endpoint = normalize_endpoint(
        configured if isinstance(configured, str) else '', plugin_settings.get('application_slug')
    )
    if not endpoint.startswith(('http://', 'https://')):
        return [
            error(
                'discovery',
                f'Authentik not contacted: {checks.ENDPOINT} is not an http(s) URL.',
                f"Set it to the provider's OpenID Configuration Issuer, e.g. {checks.ISSUER_EXAMPLE}",
            )
        ]
    timeout = plugin_settings.get('http_timeout')
    discovery_url = endpoint + WELL_KNOWN
    try:
        response, discovery = fetch_json(
            discovery_url,
            timeout,
            not_found_hint=(
                f'Check the application slug in {checks.ENDPOINT}: it must be the issuer …/application/o/<slug>/ of '
                'an application that uses this provider.'
            ),
        )
    except FetchError as failure:
        return [error('discovery', failure.message, failure.hint)]
    if not isinstance(discovery, dict) or not isinstance(discovery.get('issuer'), str):
        return [
            error(
                'discovery',
                f'{discovery_url} is not an OpenID discovery document (it has no issuer).',
                f"Point {checks.ENDPOINT} at the provider's OpenID Configuration Issuer.",
            )
        ]
    found = [ok('discovery', f'Fetched {discovery_url}.')]
    for probe in (
        issuer_finding,
        clock_finding,
        signing_finding,
        encryption_finding,
        jwks_finding,
        scopes_finding,
        groups_claim_finding,
        username_claim_finding,
        client_auth_finding,
        end_session_finding,
    ):
        try:
            found.append(probe(endpoint, discovery, response, timeout))
        except Exception as failure:  # an odd discovery document is a finding, never a traceback
            found.append(
                error(
                    probe.__name__.removesuffix('_finding'),
                    f'Could not check: {type(failure).__name__} on the discovery document.',
                    'Compare the discovery document with what Authentik serves; report it if it looks right.',
                )
            )
    found += hmac_secret_findings(discovery)
    found += credentials_findings(discovery, timeout)
    return found


def fetch_json(url, timeout, not_found_hint):
    """GET a JSON document from Authentik (no cache, no retry); every failure is one FetchError."""
    response = send(url, timeout)
    if response.status_code == 404:
        raise FetchError(f'{url} answered HTTP 404 Not Found.', not_found_hint)
    if response.status_code != 200:
        raise FetchError(
            f'{url} answered HTTP {response.status_code}.', "Check Authentik's logs, and any proxy in front of it."
        )
    try:
        return response, response.json()
    except ValueError as failure:
        content_type = response.headers.get('Content-Type') or 'none'
        raise FetchError(
            f'{url} did not answer with JSON (Content-Type: {content_type}).',
            "The URL does not reach Authentik's API: check the endpoint, and any proxy or login "
            'page in front of Authentik.',
        ) from failure


def _strings(value):
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def issuer_finding(endpoint, discovery, response, timeout):
    issuer = discovery['issuer']
    # Authentik's issuer keeps its trailing slash; the configured endpoint may or may not.
    if normalize_endpoint(issuer) == endpoint:
        return ok('issuer', f'Authentik calls itself {issuer}, as configured.')
    return error(
        'issuer',
        f"Authentik's issuer is {issuer}, not the configured endpoint {endpoint}/.",
        f'Set {checks.ENDPOINT} to {issuer!r}; if NetBox cannot reach that address, fix the Host header '
        'the proxy in front of Authentik passes on.',
    )


def clock_finding(endpoint, discovery, response, timeout):
    try:
        authentik_time = parsedate_to_datetime(response.headers['Date']).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return Finding('clock', 'info', 'Authentik sent no usable Date header; clock skew not checked.')
    skew = time.time() - authentik_time
    if abs(skew) <= MAX_CLOCK_SKEW:
        return ok('clock', f"NetBox's and Authentik's clocks agree within {MAX_CLOCK_SKEW} s.")
    return warning(
        'clock',
        f"NetBox's clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} Authentik's.",
        'Sync both hosts with NTP: id_tokens are checked against their issue and expiry times.',
    )


def signing_finding(endpoint, discovery, response, timeout):
    algorithms = _strings(discovery.get('id_token_signing_alg_values_supported'))
    asymmetric = [alg for alg in algorithms if alg in ASYMMETRIC_ALGORITHMS]
    if asymmetric:
        return ok('signing', f'id_tokens are signed with {", ".join(asymmetric)} (a key from JWKS).')
    if any(alg in HMAC_ALGORITHMS for alg in algorithms):
        return warning(
            'signing',
            f'id_tokens are signed with {", ".join(algorithms)}, using the client secret: '
            'no signing key is selected in Authentik.',
            'In Authentik, edit the provider and select a Signing Key (e.g. the self-signed '
            'certificate) so that id_tokens are signed with RS256, or apply `netbox authentik_blueprint`.',
        )
    return error(
        'signing',
        f'Authentik advertises no id_token signing algorithm NetBox accepts: {algorithms}.',
        'In Authentik, select an RSA or EC Signing Key on the provider, or apply `netbox authentik_blueprint`.',
    )


# RFC 7518 3.2: an HMAC key at least as long as the hash; PyJWT warns (InsecureKeyLengthWarning) below it.
HMAC_MIN_SECRET_BYTES = {'HS256': 32, 'HS384': 48, 'HS512': 64}


def hmac_secret_findings(discovery):
    """With HS* signing the client secret is the signing key: it must be as long as RFC 7518 asks."""
    algorithms = [
        alg for alg in _strings(discovery.get('id_token_signing_alg_values_supported')) if alg in HMAC_MIN_SECRET_BYTES
    ]
    if not algorithms:
        return []
    secret = getattr(settings, 'SOCIAL_AUTH_AUTHENTIK_SECRET', None)
    if not isinstance(secret, str) or not secret:
        return []  # E004 says so already
    needed = max(HMAC_MIN_SECRET_BYTES[alg] for alg in algorithms)
    length = len(secret.encode())
    if length >= needed:
        return [
            ok(
                'client_secret',
                f'The client secret signs {", ".join(algorithms)} id_tokens and is long enough ({length} bytes).',
            )
        ]
    return [
        warning(
            'client_secret',
            f'The client secret signs {", ".join(algorithms)} id_tokens but is only '
            f'{length} bytes long; at least {needed} are needed (RFC 7518).',
            'Select a Signing Key on the provider in Authentik (RS256), or generate a longer client secret '
            '(Authentik creates 128 characters) and update SOCIAL_AUTH_AUTHENTIK_SECRET.',
        )
    ]


def encryption_finding(endpoint, discovery, response, timeout):
    encryption = _strings(discovery.get('id_token_encryption_alg_values_supported')) + _strings(
        discovery.get('id_token_encryption_enc_values_supported')
    )
    if not encryption:
        return ok('encryption', 'id_tokens are not encrypted.')
    if plugin_settings.get('id_token_decryption_key'):
        return ok('encryption', f'id_tokens are encrypted ({", ".join(encryption)}); id_token_decryption_key is set.')
    return error(
        'encryption',
        f'Authentik encrypts id_tokens ({", ".join(encryption)}) but id_token_decryption_key is not set.',
        f"Set {checks.CONFIG}['id_token_decryption_key'] to the private key of the provider's Encryption "
        'Key (PEM text or a file path), or clear the Encryption Key in Authentik.',
    )


def jwks_finding(endpoint, discovery, response, timeout):
    jwks_uri = discovery.get('jwks_uri')
    if not isinstance(jwks_uri, str) or not jwks_uri:
        return error('jwks', 'The discovery document has no jwks_uri.', 'Check the provider in Authentik.')
    try:
        _jwks_response, document = fetch_json(jwks_uri, timeout, not_found_hint='Check the provider in Authentik.')
    except FetchError as failure:
        return error('jwks', failure.message, failure.hint)
    keys = document.get('keys') if isinstance(document, dict) else None
    keys = [key for key in keys if isinstance(key, dict)] if isinstance(keys, list) else []
    algorithms = [
        alg for alg in _strings(discovery.get('id_token_signing_alg_values_supported')) if alg in ASYMMETRIC_ALGORITHMS
    ]
    if not keys:
        if algorithms:
            return error(
                'jwks',
                f'{jwks_uri} lists no keys, but id_tokens are signed with {algorithms[0]}.',
                'Check the Signing Key of the provider in Authentik.',
            )
        return ok('jwks', f'{jwks_uri} lists no keys, as Authentik answers without a signing key.')
    described = '; '.join(f'kid={key.get("kid")}, kty={key.get("kty")}, alg={key.get("alg")}' for key in keys)
    for algorithm in algorithms:
        key_type = 'EC' if algorithm.startswith('ES') else 'RSA'
        if not any(key.get('kty') == key_type for key in keys):
            return error(
                'jwks',
                f'{jwks_uri} has no {key_type} key for {algorithm}: {described}.',
                'Check the Signing Key of the provider in Authentik.',
            )
    return ok('jwks', f'{jwks_uri}: {len(keys)} key(s): {described}.')


def scopes_finding(endpoint, discovery, response, timeout):
    if 'scopes_supported' not in discovery:
        return warning(
            'scopes',
            'The discovery document lists no scopes_supported; scopes not checked.',
            'Check that the provider has the openid, profile and email scope mappings.',
        )
    scopes = _strings(discovery.get('scopes_supported'))
    hint = (
        "Add the default scope mappings 'authentik default OAuth Mapping: OpenID …' for openid, profile "
        '(carries groups) and email to the provider (Advanced protocol settings > Scopes), or apply '
        '`netbox authentik_blueprint`.'
    )
    missing = [scope for scope in REQUIRED_SCOPES if scope not in scopes]
    if missing:
        return error(
            'scopes',
            f'Authentik does not offer the scope(s) {", ".join(missing)}: NetBox gets no username or groups.',
            hint,
        )
    if 'email' not in scopes:
        return warning('scopes', 'Authentik does not offer the email scope: NetBox users get no email address.', hint)
    return ok('scopes', 'Authentik offers the scopes openid, profile (with groups) and email.')


def _claims_finding(check, claim, discovery, consequence, hint):
    if 'claims_supported' not in discovery:
        return warning(check, f'The discovery document lists no claims_supported; the {claim} claim not checked.', hint)
    if claim in _strings(discovery.get('claims_supported')):
        return ok(check, f'Authentik sends the {claim} claim.')
    return warning(check, f'Authentik does not list the {claim} claim: {consequence}.', hint)


def groups_claim_finding(endpoint, discovery, response, timeout):
    return _claims_finding(
        'groups_claim',
        'groups',
        discovery,
        'group sync sees no groups',
        "Add the 'profile' scope mapping (it carries groups) to the provider, or a custom mapping that returns groups.",
    )


def username_claim_finding(endpoint, discovery, response, timeout):
    claim = plugin_settings.get('username_claim')
    return _claims_finding(
        'username_claim',
        claim,
        discovery,
        'sign-ins get no username',
        f"Add the scope mapping that returns {claim!r}, or set {checks.CONFIG}['username_claim'].",
    )


def client_auth_finding(endpoint, discovery, response, timeout):
    methods = discovery.get('token_endpoint_auth_methods_supported')
    if methods is None:
        # OpenID Connect Discovery: absent means client_secret_basic.
        return ok('client_auth', 'The token endpoint accepts client_secret_basic (the default).')
    accepted = [method for method in CLIENT_AUTH_METHODS if method in _strings(methods)]
    if accepted:
        return ok('client_auth', f'The token endpoint accepts {" and ".join(accepted)}.')
    return error(
        'client_auth',
        f'The token endpoint accepts neither client_secret_post nor client_secret_basic: {methods}.',
        'Make the provider a Confidential client in Authentik.',
    )


def end_session_finding(endpoint, discovery, response, timeout):
    end_session = discovery.get('end_session_endpoint')
    if isinstance(end_session, str) and end_session:
        return ok('end_session', f'End-session endpoint: {end_session}.')
    if not plugin_settings.get('logout_at_authentik'):
        return ok('end_session', 'No end-session endpoint; not used (logout_at_authentik is off).')
    return warning(
        'end_session',
        'Authentik advertises no end_session_endpoint: logging out of NetBox does not end the Authentik session.',
        f"Upgrade Authentik, or set {checks.CONFIG}['logout_at_authentik'] to False.",
    )
