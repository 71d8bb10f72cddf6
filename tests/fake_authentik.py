"""Authentik at the HTTP edge, for protocol tests: real keys, real signed tokens, faked transport only.

The discovery document, JWKS, authorize, token and userinfo endpoints are registered on a
`responses` mock with Authentik's URL layout and claims. The token endpoint checks what Authentik
checks: the client credentials, a code it issued and nobody used yet, the redirect_uri and the
PKCE verifier of that code's authorize request.
"""

import base64
import hashlib
import json
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from netbox_authentik.errors import STRUCTURED as STRUCTURED_ERRORS

BASE = 'https://authentik.example.com'
SLUG = 'netbox'
ISSUER = f'{BASE}/application/o/{SLUG}/'
CLIENT_ID = 'netbox'
CLIENT_SECRET = 'test-client-secret-0123456789abcdef'
DISCOVERY_URL = f'{BASE}/application/o/{SLUG}/.well-known/openid-configuration'
AUTHORIZE_URL = f'{BASE}/application/o/authorize/'
TOKEN_URL = f'{BASE}/application/o/token/'
USERINFO_URL = f'{BASE}/application/o/userinfo/'
JWKS_URL = f'{BASE}/application/o/{SLUG}/jwks/'
END_SESSION_URL = f'{BASE}/application/o/{SLUG}/end-session/'
INTROSPECT_URL = f'{BASE}/application/o/introspect/'

_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC_KEYS = {
    'ES256': ec.generate_private_key(ec.SECP256R1()),
    'ES384': ec.generate_private_key(ec.SECP384R1()),
    'ES512': ec.generate_private_key(ec.SECP521R1()),
}

# The modules that log a sign-in's failures (one logger per module, under 'netbox_authentik').
SIGN_IN_LOGGERS = frozenset(
    {'netbox_authentik.backends', 'netbox_authentik.provider', 'netbox_authentik.tokens', 'netbox_authentik.claims'}
)


def public_jwk(private_key, kid, alg):
    """Return the public JWK (dict) of a private key, as Authentik's JWKS lists it."""
    algorithm = jwt.get_algorithm_by_name(alg)
    jwk = json.loads(algorithm.to_jwk(private_key.public_key()))
    jwk.update({'kid': kid, 'use': 'sig', 'alg': alg})
    return jwk


def rsa_public_pem():
    """The RSA public key as PEM bytes (what an algorithm-confusion attacker would use as HMAC secret)."""
    return _RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def authentik_claims(username='alice', groups=('netbox-users', 'network-engineers'), **overrides):
    """Claims shaped like Authentik's default scope mappings (profile + email) in an id_token."""
    now = int(time.time())
    claims = {
        'iss': ISSUER,
        'sub': uuid.uuid5(uuid.NAMESPACE_URL, username).hex * 2,  # 64 hex chars, like hashed_user_id
        'aud': CLIENT_ID,
        'exp': now + 3600,
        'iat': now,
        'auth_time': now,
        'acr': 'goauthentik.io/providers/oauth2/default',
        'amr': ['pwd'],
        'email': f'{username}@example.com',
        'email_verified': False,
        'name': f'{username.title()} Example',
        'given_name': f'{username.title()} Example',
        'preferred_username': username,
        'nickname': username,
    }
    if groups is not None:
        claims['groups'] = groups if isinstance(groups, str) else list(groups)
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not ...}


def access_token_claims(username='alice', groups=('netbox-users', 'network-engineers'), **overrides):
    """Claims of an access token as Authentik issues it: the id_token's without amr, plus azp, uid, scope; no jti."""
    claims = authentik_claims(username, groups, amr=..., azp=CLIENT_ID, scope='openid profile email')
    claims['uid'] = uuid.uuid5(uuid.NAMESPACE_DNS, username).hex
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not ...}


class FakeAuthentik:
    """Authentik's provider for one application, registered on a `responses` mock."""

    def __init__(self, mock, alg='RS256', kid='authentik-key-1'):
        self.mock = mock
        self.alg = alg
        self.kid = kid
        self.discovery = {
            'issuer': ISSUER,
            'authorization_endpoint': AUTHORIZE_URL,
            'token_endpoint': TOKEN_URL,
            'userinfo_endpoint': USERINFO_URL,
            'end_session_endpoint': END_SESSION_URL,
            'introspection_endpoint': INTROSPECT_URL,
            'jwks_uri': JWKS_URL,
            'response_types_supported': ['code', 'id_token', 'id_token token', 'code token', 'code id_token'],
            'id_token_signing_alg_values_supported': [alg],
            'subject_types_supported': ['public'],
            'token_endpoint_auth_methods_supported': ['client_secret_post', 'client_secret_basic'],
            'scopes_supported': ['openid', 'email', 'profile'],
            'claims_supported': [
                'sub',
                'iss',
                'aud',
                'exp',
                'iat',
                'auth_time',
                'acr',
                'amr',
                'nonce',
                'email',
                'email_verified',
                'name',
                'given_name',
                'preferred_username',
                'nickname',
                'groups',
            ],
            'code_challenge_methods_supported': ['plain', 'S256'],
            'backchannel_logout_supported': True,
        }
        self._private_key = None  # None: the module's key for the algorithm
        self.keys = [self.signing_jwk()] if alg.startswith(('RS', 'ES')) else []
        self.codes = {}  # authorization code -> what its authorize request asked for

    # -- keys and tokens -------------------------------------------------------------------------

    def private_key(self, alg=None):
        alg = alg or self.alg
        if alg.startswith('HS'):
            return CLIENT_SECRET
        if alg == self.alg and self._private_key is not None:
            return self._private_key
        return _EC_KEYS[alg] if alg.startswith('ES') else _RSA_KEY

    def signing_jwk(self, kid=None, alg=None):
        alg = alg or self.alg
        return public_jwk(self.private_key(alg), kid or self.kid, alg)

    def sign(self, claims, alg=None, kid=..., key=None):
        """Return a compact JWS of `claims` (a value of ... drops a claim), signed like Authentik."""
        claims = {name: value for name, value in claims.items() if value is not ...}
        alg = alg or self.alg
        headers = {}
        kid = self.kid if kid is ... else kid
        if kid is not None and not alg.startswith('HS'):
            headers['kid'] = kid
        return jwt.encode(claims, key if key is not None else self.private_key(alg), algorithm=alg, headers=headers)

    # -- endpoints ---------------------------------------------------------------------------------

    def register_metadata(self):
        """Serve discovery, JWKS (JWKS is {} without a signing key, as Authentik answers) and authorize."""
        self.mock.add(responses.GET, DISCOVERY_URL, json=self.discovery)
        self.mock.add(responses.GET, JWKS_URL, json={'keys': self.keys} if self.keys else {})
        self.register_authorize()

    def change_signing_key(self, alg, kid=None, key=None):
        """Select another signing key on the provider: discovery and JWKS change at once, as in Authentik."""
        self.alg = alg
        self.kid = kid or self.kid
        self._private_key = key
        self.discovery = {**self.discovery, 'id_token_signing_alg_values_supported': [alg]}
        self.keys = [self.signing_jwk()] if alg.startswith(('RS', 'ES')) else []
        self.mock.replace(responses.GET, DISCOVERY_URL, json=self.discovery)
        self.mock.replace(responses.GET, JWKS_URL, json={'keys': self.keys} if self.keys else {})

    def register_authorize(self):
        """The authorize endpoint a browser visits: the person signs in, Authentik redirects back with a code."""
        self.mock.add_callback(responses.GET, AUTHORIZE_URL, callback=self._authorize)

    def _authorize(self, request):
        query = {key: values[0] for key, values in parse_qs(urlparse(request.url).query).items()}
        if query.get('client_id') != CLIENT_ID or query.get('response_type') != 'code' or 'redirect_uri' not in query:
            return 400, {}, 'invalid authorization request'
        code = uuid.uuid4().hex
        self.codes[code] = {
            'client_id': query['client_id'],
            'redirect_uri': query['redirect_uri'],
            'code_challenge': query.get('code_challenge'),
            'code_challenge_method': query.get('code_challenge_method', 'plain'),
        }
        callback = f'{query["redirect_uri"]}?{urlencode({"code": code, "state": query.get("state", "")})}'
        return 302, {'Location': callback}, ''

    def register_token(self, id_token, status=200, **extra):
        """Answer the next token request with id_token, once the request passes Authentik's checks."""
        if status != 200:
            self.mock.add(responses.POST, TOKEN_URL, json={'error': 'invalid_grant'}, status=status)
            return
        body = {
            'access_token': 'access-' + uuid.uuid4().hex,
            'token_type': 'Bearer',
            'expires_in': 3600,
            'id_token': id_token,
            'scope': 'openid profile email',
            **extra,
        }

        def token(request):
            refused = self.token_request_error(request)
            if refused:
                return 400, {'Content-Type': 'application/json'}, json.dumps({'error': refused})
            return 200, {'Content-Type': 'application/json'}, json.dumps(body)

        self.mock.add_callback(responses.POST, TOKEN_URL, callback=token)

    def token_request_error(self, request):
        """Return the OAuth error Authentik answers a token request with (all 400s), or None when it is good."""
        client_id, secret = basic_auth_credentials(request)
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return 'invalid_client'
        form = {key: values[0] for key, values in parse_qs(_body_text(request)).items()}
        if form.get('grant_type') != 'authorization_code':
            return 'unsupported_grant_type'
        grant = self.codes.pop(form.get('code'), None)  # a code is good for one exchange, whatever its outcome
        if grant is None or grant['client_id'] != client_id or form.get('redirect_uri') != grant['redirect_uri']:
            return 'invalid_grant'
        if grant['code_challenge'] is not None:
            verifier = form.get('code_verifier') or ''
            if grant['code_challenge_method'] == 'S256':
                verifier = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip('=')
            if verifier != grant['code_challenge']:
                return 'invalid_grant'
        return None

    def register_introspection(self, active_tokens):
        """Introspection as Authentik answers: NetBox's client by HTTP Basic; claims plus active for a known token."""

        def introspect(request):
            header = request.headers.get('Authorization', '')
            if not header.startswith('Basic ') or basic_auth_credentials(request) != (CLIENT_ID, CLIENT_SECRET):
                return 401, {'Content-Type': 'application/json'}, json.dumps({'error': 'invalid_client'})
            token = parse_qs(_body_text(request)).get('token', [''])[0]
            if token not in active_tokens:
                return 200, {'Content-Type': 'application/json'}, json.dumps({'active': False})
            claims = jwt.decode(token, options={'verify_signature': False})
            body = {**claims, 'active': True, 'client_id': CLIENT_ID}
            return 200, {'Content-Type': 'application/json'}, json.dumps(body)

        self.mock.add_callback(responses.POST, INTROSPECT_URL, callback=introspect)

    def register_userinfo(self, claims, status=200):
        self.mock.add(responses.GET, USERINFO_URL, json=claims, status=status)


def begin_sign_in(client, next_url=None):
    """Press the Authentik button, sign in at Authentik; return the authorize query plus the `code` issued."""
    data = {'next': next_url} if next_url else {}
    response = client.post('/oauth/begin/authentik/', data)
    assert response.status_code == 302, response
    return authorize(client, response['Location'])


def authorize(client, authorize_url):
    """The browser at Authentik's authorize URL; return its query plus the `code` Authentik redirected back with.

    The browser (client) keeps the code for its state, so complete_sign_in() carries it back to NetBox.
    """
    assert authorize_url.startswith(AUTHORIZE_URL), authorize_url
    query = {key: values[0] for key, values in parse_qs(urlparse(authorize_url).query).items()}
    answer = requests.get(authorize_url, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    redirect = {key: values[0] for key, values in parse_qs(urlparse(answer.headers['Location']).query).items()}
    assert redirect['state'] == query['state'], redirect
    vars(client).setdefault('authentik_codes', {})[query['state']] = redirect['code']
    return {**query, 'code': redirect['code']}


def complete_sign_in(client, state, code=None):
    """Return from Authentik: GET /oauth/complete/authentik/ with the code Authentik issued for state."""
    code = code or vars(client).get('authentik_codes', {}).get(state, 'never-issued-code')
    return client.get('/oauth/complete/authentik/', {'code': code, 'state': state})


def basic_auth_credentials(request):
    """Return (client_id, secret) from a token request's Basic header, or from its form body."""
    header = request.headers.get('Authorization', '')
    if header.startswith('Basic '):
        client_id, _sep, secret = base64.b64decode(header[6:]).decode().partition(':')
        return client_id, secret
    body = parse_qs(_body_text(request))
    return body.get('client_id', [None])[0], body.get('client_secret', [None])[0]


def _body_text(request):
    return request.body if isinstance(request.body, str) else (request.body or b'').decode()


# -- failure paths and the HTTP edge ---------------------------------------------------------------

# NetBox 4.7's SocialAuthExceptionMiddleware shows this for every SSO exception, whatever its text.
NETBOX_SSO_FAILED = 'Single sign-on failed. Please try again or contact your administrator.'
REJECTED = 'Sign-in through Authentik rejected: '


def rejection_logged(lines, reason):
    """Whether the backend logged a rejected sign-in for this token or userinfo `reason`.

    social-core 5 words it 'Token error: <reason>'; social-core 7 gives its generic text, then '(<reason>)'.
    """
    if STRUCTURED_ERRORS:
        return any(line.startswith(REJECTED) and line.endswith(f' ({reason})') for line in lines)
    return f'{REJECTED}Token error: {reason}' in lines


def login_page_messages(client, response):
    """Follow a failed sign-in to NetBox's login page; return the message toasts shown there, as text."""
    assert response.status_code == 302, response
    assert urlparse(response['Location']).path == '/login/', response['Location']
    page = client.get(response['Location'])
    assert page.status_code == 200, page
    return toast_messages(page)


def requests_to(mock, url, method=None):
    """The requests the backend sent to one URL (query ignored), as recorded by the `responses` mock."""
    return [
        call.request
        for call in mock.calls
        if call.request.url.split('?')[0] == url and method in (None, call.request.method)
    ]


def rsa_private_key():
    """A fresh RSA key: a rotated Authentik signing key, or NetBox's id_token decryption key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(private_key):
    """A private key as unencrypted PKCS#8 PEM text (how an admin pastes or stores it)."""
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def encrypt_id_token(signed_id_token, public_key):
    """Wrap a signed id_token in JWE as Authentik does with an encryption key (RSA-OAEP-256, A256CBC-HS512)."""
    from jose import jwe

    public_pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return jwe.encrypt(
        signed_id_token, public_pem, algorithm='RSA-OAEP-256', encryption='A256CBC-HS512', cty='JWT'
    ).decode()


def sign_hs256_with_raw_key(claims, key_bytes):
    """An HS256 JWS made with any bytes as key; PyJWT refuses PEM keys, an attacker does not."""
    import hashlib
    import hmac

    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b'=').decode()

    signing_input = b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode()) + '.' + b64(json.dumps(claims).encode())
    signature = hmac.new(key_bytes, signing_input.encode(), hashlib.sha256).digest()
    return f'{signing_input}.{b64(signature)}'


# -- signed-in sessions, logout and back-channel logout -------------------------------------------------

BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'


def sign_in(client, fake, username='alice', next_url=None, **claim_overrides):
    """Sign `client` in through the whole Authentik flow; return the id_token Authentik issued."""
    query = begin_sign_in(client, next_url)
    id_token = fake.sign(authentik_claims(username, nonce=query['nonce'], **claim_overrides))
    fake.register_token(id_token)
    response = complete_sign_in(client, query['state'])
    assert response.status_code == 302, response
    return id_token


def logout_token_claims(**overrides):
    """Claims of a logout_token as Authentik sends it (no exp, no nonce); a value of ... drops a claim."""
    claims = {
        'iss': ISSUER,
        'aud': CLIENT_ID,
        'iat': int(time.time()),
        'jti': uuid.uuid4().hex,
        'events': {BACKCHANNEL_LOGOUT_EVENT: {}},
        **overrides,
    }
    return {key: value for key, value in claims.items() if value is not ...}


def toast_messages(page):
    """The message toasts a rendered NetBox page shows, as text."""
    import html
    import re

    bodies = re.findall(r'<div class="toast-body">(.*?)</div>', page.content.decode(), re.S)
    return [html.unescape(' '.join(body.split())) for body in bodies]


def recorded_claim(link):
    """The claim a link says its uid holds (social-auth-app-django 8's `id_key`); None where there is no such column."""
    link.refresh_from_db()
    return getattr(link, 'id_key', None)


def plugin_link_claim():
    """What recorded_claim() gives for a link the plugin made for its backend: 'sub' where links record it."""
    from social_django.models import UserSocialAuth

    return 'sub' if any(field.name == 'id_key' for field in UserSocialAuth._meta.get_fields()) else None
