"""The social-core backend that signs people in to NetBox through Authentik."""

import base64
import hashlib
import json
import logging
import os

import jwt
import requests
from django.core.cache import cache
from django.db import connection, transaction
from django.utils.translation import gettext as _
from social_core.backends.open_id_connect import OpenIdConnectAuth
from social_core.exceptions import AuthConnectionError, AuthException, AuthTokenError, SocialAuthBaseException

from . import metadata
from . import settings as plugin_settings
from .metadata import CACHE_PREFIX  # noqa: F401  (the back-channel logout's replay cache shares the prefix)
from .pipeline import resolve_pipeline

logger = logging.getLogger(__name__)

WELL_KNOWN = '/.well-known/openid-configuration'
ASYMMETRIC_ALGORITHMS = {
    'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512',
}
HMAC_ALGORITHMS = {'HS256', 'HS384', 'HS512'}
# The claims the plugin reads; with fetch_userinfo='auto' userinfo is skipped when all are in the id_token.
USED_CLAIMS = ('email', 'name', 'groups')
# A token the cached metadata cannot verify (unadvertised alg, unknown kid, failed signature) may follow a
# signing-key change in Authentik: discovery and JWKS are refetched, at most once per this many seconds
# across all workers, so a flood of forged tokens costs one refresh per interval.
METADATA_REFRESH_INTERVAL = 30


class MalformedTokenError(jwt.DecodeError):
    """A token that is not a JWT at all (its header cannot be read)."""


class UnknownSigningKeyError(AuthTokenError):
    """A token whose kid (or key type) matches no key in Authentik's JWKS."""


class AuthentikError(AuthException):
    """A sign-in failure with a short message meant for the person on NetBox's login page."""

    def __str__(self):
        return str(self.args[0]) if self.args else _('Sign-in through Authentik failed.')


def normalize_endpoint(endpoint, slug=None):
    """Return the application URL without trailing slash, from what an admin pasted.

    Accepts the issuer with or without its trailing slash, with the discovery path still
    on it, or a bare Authentik base URL plus the application's slug.
    """
    endpoint = (endpoint or '').strip()
    if endpoint.endswith(WELL_KNOWN) or endpoint.endswith(WELL_KNOWN + '/'):
        endpoint = endpoint[: endpoint.rindex(WELL_KNOWN)]
    endpoint = endpoint.rstrip('/')
    if slug and '/application/o/' not in endpoint + '/':
        endpoint = f'{endpoint}/application/o/{slug.strip("/")}'
    return endpoint


class AuthentikOIDCAuth(OpenIdConnectAuth):
    """Authentik's OAuth2/OpenID provider, with its signing modes, URL layout and claims."""

    name = 'authentik'
    DEFAULT_USE_PKCE = True
    PKCE_DEFAULT_CODE_CHALLENGE_METHOD = 'S256'
    # The access token is of no use to NetBox after sign-in; the id_token is kept as logout hint.
    EXTRA_DATA = ['id_token', ('sub', 'id')]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._oidc_config = None

    # -- endpoint and provider metadata -------------------------------------------------------

    def oidc_endpoint(self):
        endpoint = normalize_endpoint(self.setting('OIDC_ENDPOINT'), plugin_settings.get('application_slug'))
        if not endpoint.startswith(('http://', 'https://')):
            logger.error('SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT is missing or not an http(s) URL')
            raise AuthentikError(self, _('Sign-in through Authentik is not configured. Ask your NetBox administrator.'))
        return endpoint

    def discovery_url(self):
        """Return the URL of Authentik's discovery document for this application."""
        return self.oidc_endpoint() + WELL_KNOWN

    def oidc_config(self, refresh=False):
        """Return Authentik's discovery document, shared by every worker through Django's cache."""
        if self._oidc_config is None or refresh:
            document = self._cached_json(metadata.DISCOVERY, self.discovery_url(), refresh=refresh)
            if not isinstance(document, dict) or not isinstance(document.get('issuer'), str):
                logger.error('Authentik discovery document at %s has no issuer', self.discovery_url())
                raise AuthentikError(self, _('Authentik sent an unusable discovery document.'))
            self._oidc_config = document
        return self._oidc_config

    def get_jwks_keys(self):
        """Return the signing keys from Authentik's JWKS (cached). An empty JWKS ({}) has no keys."""
        return metadata.jwks_keys(self._cached_json(metadata.JWKS, self.jwks_uri()))

    def refresh_metadata(self, reason):
        """Refetch discovery and JWKS before rejecting a token: Authentik may have changed its signing key.

        At most once per METADATA_REFRESH_INTERVAL across all workers. A worker that is not the one to
        refetch re-reads the cache, where another worker may have put the refreshed documents.
        """
        self._oidc_config = None
        if not cache.add(metadata.cache_key('metadata-refresh', self.discovery_url()), 1,
                         METADATA_REFRESH_INTERVAL):
            logger.warning('%s; Authentik discovery and JWKS were refreshed less than %ss ago', reason,
                           METADATA_REFRESH_INTERVAL)
            return
        logger.info('%s; refreshing Authentik discovery and JWKS', reason)
        self.oidc_config(refresh=True)
        self._cached_json(metadata.JWKS, self.jwks_uri(), refresh=True)

    def _cached_json(self, endpoint_name, url, refresh=False):
        """Fetch a metadata document through the cache; a stale copy serves while Authentik is down."""
        entry = metadata.cached_entry(endpoint_name, url)
        if entry and not refresh and metadata.is_fresh(entry):
            return entry['document']
        try:
            document = self._fetch_json_with_retry(endpoint_name, url)
        except AuthentikError:
            if entry:
                logger.warning('Using the cached Authentik %s document: refreshing it failed', endpoint_name)
                return entry['document']
            raise
        metadata.store(endpoint_name, url, document)
        return document

    def _fetch_json_with_retry(self, endpoint_name, url):
        """GET a metadata document, retried once on a connection error or a 5xx."""
        for attempt in (1, 2):
            try:
                return self.get_json(url)
            except AuthentikError as error:
                if attempt == 2 or not getattr(error, 'retryable', False):
                    raise
                logger.info('Retrying Authentik %s request once', endpoint_name)
        raise AssertionError('unreachable')

    # -- HTTP edge: every failure becomes a message for the login page -------------------------

    def request(self, url, *, timeout=None, **kwargs):
        endpoint_name = self._endpoint_name(url)
        timeout = timeout or plugin_settings.get('http_timeout')
        try:
            return super().request(url, timeout=timeout, **kwargs)
        except (AuthConnectionError, requests.ConnectionError, requests.Timeout) as error:
            cause = 'timed out' if _is_timeout(error) else 'connection failed'
            logger.error('Authentik %s endpoint %s: %s', endpoint_name, logsafe.safe(url), cause)
            raise _retryable(AuthentikError(self, _('Authentik could not be reached. Try again later.'))) from error
        except requests.HTTPError as error:
            status = error.response.status_code
            oauth_error = _oauth_error_code(error.response)
            logger.error('Authentik %s endpoint %s answered HTTP %s%s', endpoint_name, logsafe.safe(url), status,
                         f' ({oauth_error})' if oauth_error else '')
            if _rejects_client_credentials(endpoint_name, status, oauth_error):
                logger.error('Authentik does not accept NetBox\'s client credentials: check that '
                             'SOCIAL_AUTH_AUTHENTIK_KEY and SOCIAL_AUTH_AUTHENTIK_SECRET are the Client ID and Client '
                             'Secret of the Authentik provider')
            failure = AuthentikError(self, _http_error_message(endpoint_name, status, oauth_error))
            if status >= 500:
                failure = _retryable(failure)
            raise failure from error
        except requests.RequestException as error:
            logger.error('Authentik %s endpoint %s: %s', endpoint_name, logsafe.safe(url), type(error).__name__)
            raise AuthentikError(self, _('Authentik could not be reached. Try again later.')) from error

    def get_json(self, url, *args, **kwargs):
        response = self.request(url, *args, **kwargs) if args else self.request(url, **kwargs)
        try:
            return response.json()
        except ValueError as error:
            logger.error('Authentik %s endpoint %s did not answer with JSON', self._endpoint_name(url),
                         logsafe.safe(url))
            raise AuthentikError(self, _('Authentik sent an answer NetBox could not read.')) from error

    def _endpoint_name(self, url):
        if url.endswith(WELL_KNOWN):
            return 'discovery'
        config = self._oidc_config or {}
        for name, field in (('token', 'token_endpoint'), ('userinfo', 'userinfo_endpoint'),
                            ('JWKS', 'jwks_uri'), ('end-session', 'end_session_endpoint')):
            if config.get(field) == url:
                return name
        return 'metadata'

    def auth_url(self):
        return self._guarded(super().auth_url)

    def auth_complete(self, *args, **kwargs):
        return self._guarded(super().auth_complete, *args, **kwargs)

    def _guarded(self, step, *args, **kwargs):
        """Run a sign-in step; anything unexpected is logged and shown as a short message, never a 500."""
        if refusal := guards.refusal_without_plugin(getattr(self.strategy, 'request', None)):
            raise AuthentikError(self, refusal)
        try:
            result = step(*args, **kwargs)
        except AuthentikError:
            raise
        except SocialAuthBaseException as error:
            # NetBox shows the person only a generic message, so the reason (never a token) goes to the log.
            # It may quote the callback's error_description: escaped, so it cannot forge a log line.
            logger.warning('Sign-in through Authentik rejected: %s', logsafe.safe(error))
            raise
        except Exception as error:
            logger.exception('Sign-in through Authentik failed unexpectedly: %s', type(error).__name__)
            raise AuthentikError(self, _('Sign-in through Authentik failed. Please try again.')) from error
        guards.warn_reusable_subject(self.id_token)
        return result

    def get_and_store_nonce(self, url, state):
        """Store the sign-in's nonce with its time; rows no sign-in can use any more are deleted (nonces.py)."""
        return nonces.store_nonce(self, url, state)

    # -- id_token validation ---------------------------------------------------------------------

    def signing_algorithms(self):
        """Return the id_token algorithms Authentik advertises that this backend accepts."""
        advertised = self.oidc_config().get('id_token_signing_alg_values_supported') or ['RS256']
        return [alg for alg in advertised if alg in ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS]

    def decrypt_id_token(self, id_token):
        """Return the signed JWT inside an encrypted (JWE) id_token, or the token unchanged."""
        if not isinstance(id_token, str) or id_token.count('.') != 4:
            return id_token
        pem = plugin_settings.get('id_token_decryption_key')
        if not pem:
            logger.error("Authentik sent an encrypted id_token but PLUGINS_CONFIG['netbox_authentik']"
                         "['id_token_decryption_key'] is not set")
            raise AuthentikError(self, _('Authentik sent an encrypted token NetBox cannot read. Ask your NetBox '
                                         'administrator to set id_token_decryption_key.'))
        from jose import jwe

        try:
            _check_jwe_header(id_token)
            return jwe.decrypt(id_token, _read_pem(pem)).decode()
        # python-jose raises TypeError, KeyError and others on some malformed headers; the token comes
        # from outside, so every failure is a refusal, never a 500.
        except Exception as error:
            reason = str(error) if isinstance(error, RefusedJWEError) else type(error).__name__
            logger.error('Decrypting the Authentik id_token failed: %s', reason)
            raise AuthTokenError(self, 'id_token could not be decrypted') from error

    def decode_signed_jwt(self, token, required_claims):
        """Verify a token Authentik signed (id_token or logout_token); return (claims, algorithm).

        One set of rules for both: decrypt a JWE, accept only an algorithm discovery advertises
        (never `none`, never HMAC where Authentik signs with a key), the matching key, then
        signature, `iss` (discovery's issuer, exactly), `aud` (the client id) and times.
        A token the cached metadata cannot verify is checked once more after refresh_metadata().
        Raises MalformedTokenError, jwt.InvalidAlgorithmError, AuthTokenError (decryption,
        unknown key) or another jwt.PyJWTError.
        """
        token = self.decrypt_id_token(token)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise MalformedTokenError(str(error)) from error
        if not isinstance(header.get('alg'), str):
            # A list or object here is no algorithm at all; it must never reach a set lookup or a refresh.
            raise MalformedTokenError('the token header has no algorithm name')
        try:
            return self._verify_signed_jwt(token, header, required_claims)
        except (jwt.InvalidAlgorithmError, jwt.InvalidSignatureError, UnknownSigningKeyError) as error:
            reason = _signing_key_change_reason(header.get('alg'), error)
            if reason is None:
                raise
            self.refresh_metadata(reason)
        return self._verify_signed_jwt(token, header, required_claims, final=True)

    def _verify_signed_jwt(self, token, header, required_claims, final=False):
        algorithm = header.get('alg')
        if algorithm not in self.signing_algorithms():
            if final or algorithm not in ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS:
                logger.warning('Rejected an Authentik token signed with %r; Authentik advertises %s',
                               algorithm, self.signing_algorithms())
            raise jwt.InvalidAlgorithmError(algorithm)
        key = self.verification_key(token, header)
        client_id, _secret = self.get_key_and_secret()
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=client_id,
            issuer=self.id_token_issuer(),
            leeway=self.setting('JWT_LEEWAY', self.JWT_LEEWAY),
            options={'require': list(required_claims)},
        )
        return claims, algorithm

    def decode_and_validate_id_token(self, id_token, access_token):
        """Verify the id_token's signature, issuer, audience and times; return its claims."""
        try:
            claims, algorithm = self.decode_signed_jwt(id_token, ['iss', 'sub', 'aud', 'exp', 'iat'])
        except MalformedTokenError as error:
            raise AuthTokenError(self, 'malformed id_token') from error
        except jwt.InvalidAlgorithmError as error:
            raise AuthTokenError(self, 'id_token algorithm not allowed') from error
        except jwt.ExpiredSignatureError as error:
            raise AuthTokenError(self, 'Signature has expired') from error
        except jwt.PyJWTError as error:
            raise AuthTokenError(self, str(error)) from error
        client_id, _secret = self.get_key_and_secret()
        self.validate_authorized_party(claims, client_id)
        if 'at_hash' in claims and claims['at_hash'] != self.calc_at_hash(access_token, algorithm):
            raise AuthTokenError(self, 'Invalid access token')
        return claims

    def verification_key(self, id_token, header):
        """Return the key that must have signed this token: the client secret for HS*, else a JWKS key."""
        algorithm = header['alg']
        if algorithm in HMAC_ALGORITHMS:
            # Authentik without a signing key signs with the client secret; its JWKS is then {}.
            _client_id, secret = self.get_key_and_secret()
            if not secret:
                # An empty key would let anyone sign a token.
                raise AuthTokenError(self, 'HS id_token but no client secret configured')
            return secret.encode()
        jwk = _find_jwk(self.get_jwks_keys(), header.get('kid'), algorithm)
        if jwk is None:
            raise UnknownSigningKeyError(self, 'id_token signed with an unknown key')
        try:
            return jwt.PyJWK(jwk, algorithm=algorithm).key
        except jwt.PyJWTError as error:
            raise AuthTokenError(self, 'unusable signing key') from error

    # -- claims ------------------------------------------------------------------------------------

    def user_data(self, access_token, *args, **kwargs):
        """Return the claims; userinfo is asked only when the id_token lacks one the plugin uses."""
        claims = dict(self.id_token or {})
        mode = plugin_settings.get('fetch_userinfo')
        needed = (plugin_settings.get('username_claim'), *USED_CLAIMS)
        if mode == 'never' or (mode == 'auto' and all(claim in claims for claim in needed)):
            return claims
        userinfo = self.get_json(self.userinfo_url(), headers={'Authorization': f'Bearer {access_token}'})
        if not isinstance(userinfo, dict) or userinfo.get('sub') != claims.get('sub'):
            logger.error("Authentik's userinfo answer does not belong to the id_token's subject")
            raise AuthTokenError(self, 'Invalid UserInfo sub')
        return {**claims, **userinfo}

    def claim(self, response, name):
        """Return a claim from userinfo/token response, else from the verified id_token."""
        if name in response:
            return response[name]
        return (self.id_token or {}).get(name)

    def get_user_details(self, response):
        """Map Authentik's claims onto NetBox's user fields; groups are handled by the pipeline."""
        fullname = self.claim(response, 'name') or ''
        # Authentik sends the full name in given_name too, and no family_name: split `name`.
        if self.claim(response, 'family_name'):
            first_name, last_name = self.claim(response, 'given_name') or '', self.claim(response, 'family_name')
        else:
            first_name, _sep, last_name = fullname.strip().partition(' ')
        return {
            'username': self.claim(response, plugin_settings.get('username_claim')),
            'email': self.claim(response, 'email') or '',
            'fullname': fullname,
            'first_name': first_name,
            'last_name': last_name.strip(),
        }

    def authentik_groups(self, response):
        """Return the raw `groups` claim as Authentik sent it, or None when it is absent or null."""
        if isinstance(response, dict) and response.get('groups') is not None:
            return response['groups']
        return (self.id_token or {}).get('groups')

    def extra_data(self, user, uid, response, details, pipeline_kwargs):
        """Store what NetBox needs later (id_token as logout hint), never the access token."""
        data = super().extra_data(user, uid, response, details, pipeline_kwargs)
        data.pop('access_token', None)
        return data

    # -- pipeline ----------------------------------------------------------------------------------

    def pipeline(self, pipeline, pipeline_index=0, *args, **kwargs):
        """Run the sign-in pipeline in one transaction, serialised per Authentik identity."""
        # Django's authenticate() runs this on a fresh instance; the verified id_token is on kwargs['backend'].
        subject = (getattr(kwargs.get('backend'), 'id_token', None) or self.id_token or {}).get('sub') or ''
        with transaction.atomic():
            if subject:
                # Two first sign-ins of one identity must not create two NetBox users.
                lock_id = int.from_bytes(hashlib.sha256(f'{self.name}:{subject}'.encode()).digest()[:8], 'big',
                                         signed=True)
                with connection.cursor() as cursor:
                    cursor.execute('SELECT pg_advisory_xact_lock(%s)', [lock_id])
            return super().pipeline(resolve_pipeline(pipeline), pipeline_index, *args, **kwargs)


def _signing_key_change_reason(algorithm, error):
    """Why a token the cached metadata cannot verify may follow a signing-key change; None when it cannot."""
    if isinstance(error, jwt.InvalidAlgorithmError):
        # `none` or an algorithm NetBox never accepts cannot become valid through a refresh.
        if algorithm in ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS:
            return f'An Authentik token is signed with {algorithm!r}, which the cached discovery does not advertise'
        return None
    if isinstance(error, UnknownSigningKeyError):
        return 'An Authentik token names a key that is not in the cached JWKS'
    # HS* tokens are checked with the configured client secret, which no refresh changes.
    if algorithm in ASYMMETRIC_ALGORITHMS:
        return "An Authentik token's signature does not match the cached JWKS key"
    return None


def _find_jwk(keys, kid, algorithm):
    """Return the JWKS key for kid (or the only fitting key when the token has no kid)."""
    key_type = 'EC' if algorithm.startswith('ES') else 'RSA'
    candidates = [
        key for key in keys
        if key.get('kty') == key_type and key.get('use', 'sig') == 'sig' and key.get('alg', algorithm) == algorithm
    ]
    if kid is not None:
        candidates = [key for key in candidates if key.get('kid') == kid]
    return candidates[0] if len(candidates) == 1 or (candidates and kid is not None) else None


# Encrypted tokens: Authentik's own are RSA-OAEP-256 / A256CBC-HS512 and well under 4 KB.
JWE_MAX_LENGTH = 16 * 1024
JWE_KEY_ALGORITHMS = frozenset({'RSA-OAEP', 'RSA-OAEP-256'})
JWE_CONTENT_ALGORITHMS = frozenset({'A128CBC-HS256', 'A192CBC-HS384', 'A256CBC-HS512', 'A128GCM', 'A192GCM',
                                    'A256GCM'})


class RefusedJWEError(ValueError):
    """An encrypted token refused before decryption; the message gives the reason, never the token."""


def _check_jwe_header(token):
    """Refuse, before python-jose decrypts anything, a JWE that is oversized or not what Authentik sends."""
    # Decryption runs before any signature check, for anyone who can reach the back-channel endpoint.
    if len(token) > JWE_MAX_LENGTH:
        raise RefusedJWEError(f'longer than {JWE_MAX_LENGTH} characters')
    encoded_header = token.partition('.')[0]
    header = json.loads(base64.urlsafe_b64decode(encoded_header + '=' * (-len(encoded_header) % 4)))
    if not isinstance(header, dict):
        raise RefusedJWEError('header is not a JSON object')
    if 'zip' in header:
        # A compressed payload can inflate to any size (CVE-2024-33664); Authentik never compresses.
        raise RefusedJWEError('compressed (zip header)')
    algorithm, encryption = header.get('alg'), header.get('enc')
    if not (isinstance(algorithm, str) and algorithm in JWE_KEY_ALGORITHMS
            and isinstance(encryption, str) and encryption in JWE_CONTENT_ALGORITHMS):
        raise RefusedJWEError('alg or enc is not one NetBox accepts')


def _read_pem(value):
    if value.lstrip().startswith('-----BEGIN'):
        return value
    with open(os.path.expanduser(value)) as pem_file:
        return pem_file.read()


def _is_timeout(error):
    return isinstance(error, requests.Timeout) or isinstance(error.__cause__, requests.Timeout) or (
        'timed out' in str(error).lower()
    )


def _retryable(error):
    error.retryable = True
    return error


def _oauth_error_code(response):
    """Return the OAuth `error` code of an error answer (never its description or body)."""
    try:
        code = response.json().get('error')
    except (ValueError, AttributeError):
        return ''
    return code if isinstance(code, str) and code.replace('_', '').isalnum() else ''


def _rejects_client_credentials(endpoint_name, status, oauth_error):
    """Whether the token endpoint refused NetBox's client id or secret rather than this sign-in's code."""
    # Authentik answers a wrong secret with 400 invalid_client (RFC 6749 allows 400 or 401): the code decides.
    return endpoint_name == 'token' and (oauth_error == 'invalid_client' or (status == 401 and not oauth_error))


def _http_error_message(endpoint_name, status, oauth_error=''):
    """The login page's message for an HTTP error answer, from the OAuth `error` code where there is one."""
    if endpoint_name == 'token' and status in (400, 401):
        if _rejects_client_credentials(endpoint_name, status, oauth_error):
            return _('Authentik rejected NetBox\'s client credentials. Ask your NetBox administrator.')
        if oauth_error == 'invalid_grant':
            return _('Authentik did not accept this sign-in (it may have expired). Please sign in again.')
        return _('Authentik did not accept this sign-in. Please sign in again; if it keeps failing, ask your '
                 'NetBox administrator.')
    return _('Authentik answered with an error (HTTP {status}). Try again later.').format(status=status)


# System checks do not see a backend configured without the plugin; say it when the backend loads.
# The backend also refuses every sign-in then (guards.refusal_without_plugin, in _guarded).
from . import checks, guards, logsafe, nonces  # noqa: E402

checks.log_backend_without_plugin()
