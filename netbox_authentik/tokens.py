"""Verifying what Authentik signs: id_tokens and back-channel logout_tokens, JWS and JWE.

One set of rules for both kinds of token: decrypt a JWE (bounded, before any signature check), accept
only an algorithm discovery advertises (never `none`, never HMAC where Authentik signs with a key),
the matching key, then signature, `iss`, `aud` and times. A token the cached metadata cannot verify
is checked once more after the provider refreshed discovery and JWKS (a signing-key change).
"""

import base64
import hashlib
import json
import logging
import os
import time

import jwt
from django.core.cache import cache
from django.utils.translation import gettext as _
from social_core.exceptions import SocialAuthBaseException

from . import settings as plugin_settings
from .errors import AuthentikError, TokenError
from .metadata import CACHE_PREFIX

logger = logging.getLogger(__name__)

ASYMMETRIC_ALGORITHMS = {
    'RS256',
    'RS384',
    'RS512',
    'PS256',
    'PS384',
    'PS512',
    'ES256',
    'ES384',
    'ES512',
}
HMAC_ALGORITHMS = {'HS256', 'HS384', 'HS512'}
BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'
# A logout_token is meant for immediate delivery; an older one is refused, and its jti is
# remembered at least this long so that no replay can slip in between.
LOGOUT_TOKEN_MAX_AGE = 600
# Authentik's logout_tokens are well under 2 KB; anything far larger is refused unread.
LOGOUT_TOKEN_MAX_LENGTH = 16 * 1024


class MalformedTokenError(jwt.DecodeError):
    """A token that is not a JWT at all (its header cannot be read)."""


class UnknownSigningKeyError(TokenError):
    """A token whose kid (or key type) matches no key in Authentik's JWKS."""

    default_code = 'invalid_signature'


class TokenVerificationMixin:
    """The backend's token checks; mixed into backends.AuthentikOIDCAuth with the provider mixin."""

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
            logger.error(
                "Authentik sent an encrypted id_token but PLUGINS_CONFIG['netbox_authentik']"
                "['id_token_decryption_key'] is not set"
            )
            raise AuthentikError(
                self,
                _(
                    'Authentik sent an encrypted token NetBox cannot read. Ask your NetBox '
                    'administrator to set id_token_decryption_key.'
                ),
            )
        from jose import jwe

        try:
            _check_jwe_header(id_token)
            return jwe.decrypt(id_token, _read_pem(pem)).decode()
        # python-jose raises TypeError, KeyError and others on some malformed headers; the token comes
        # from outside, so every failure is a refusal, never a 500.
        except Exception as error:
            reason = str(error) if isinstance(error, RefusedJWEError) else type(error).__name__
            logger.error('Decrypting the Authentik id_token failed: %s', reason)
            raise TokenError(self, 'id_token could not be decrypted') from error

    def decode_signed_jwt(self, token, required_claims, audiences=None):
        """Verify a token Authentik signed (id_token, logout_token, access token); return (claims, algorithm).

        One set of rules for all: decrypt a JWE, accept only an algorithm discovery advertises
        (never `none`, never HMAC where Authentik signs with a key), the matching key, then
        signature, `iss` (discovery's issuer, exactly), `aud` (the client id, or one of `audiences`
        where given: the API token exchange accepts more client ids) and times.
        A token the cached metadata cannot verify is checked once more after refresh_metadata().
        Raises MalformedTokenError, jwt.InvalidAlgorithmError, TokenError (decryption,
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
            return self._verify_signed_jwt(token, header, required_claims, audiences)
        except (jwt.InvalidAlgorithmError, jwt.InvalidSignatureError, UnknownSigningKeyError) as error:
            reason = _signing_key_change_reason(header.get('alg'), error)
            if reason is None:
                raise
            self.refresh_metadata(reason)
        return self._verify_signed_jwt(token, header, required_claims, audiences, final=True)

    def _verify_signed_jwt(self, token, header, required_claims, audiences=None, final=False):
        algorithm = header.get('alg')
        if algorithm not in self.signing_algorithms():
            if final or algorithm not in ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS:
                logger.warning(
                    'Rejected an Authentik token signed with %r; Authentik advertises %s',
                    algorithm,
                    self.signing_algorithms(),
                )
            raise jwt.InvalidAlgorithmError(algorithm)
        key = self.verification_key(token, header)
        client_id, _secret = self.get_key_and_secret()
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=list(audiences) if audiences else client_id,
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
            raise TokenError(self, 'malformed id_token', code='malformed_response') from error
        except jwt.InvalidAlgorithmError as error:
            raise TokenError(self, 'id_token algorithm not allowed', code='invalid_signature') from error
        except jwt.ExpiredSignatureError as error:
            raise TokenError(self, 'Signature has expired', code='response_expired') from error
        except jwt.PyJWTError as error:
            raise TokenError(self, str(error), code=_jwt_error_code(error)) from error
        client_id, _secret = self.get_key_and_secret()
        self.validate_authorized_party(claims, client_id)
        if 'at_hash' in claims and claims['at_hash'] != self.calc_at_hash(access_token, algorithm):
            raise TokenError(self, 'Invalid access token')
        return claims

    def verification_key(self, id_token, header):
        """Return the key that must have signed this token: the client secret for HS*, else a JWKS key."""
        algorithm = header['alg']
        if algorithm in HMAC_ALGORITHMS:
            # Authentik without a signing key signs with the client secret; its JWKS is then {}.
            _client_id, secret = self.get_key_and_secret()
            if not secret:
                # An empty key would let anyone sign a token.
                raise TokenError(self, 'HS id_token but no client secret configured')
            return secret.encode()
        jwk = _find_jwk(self.get_jwks_keys(), header.get('kid'), algorithm)
        if jwk is None:
            raise UnknownSigningKeyError(self, 'id_token signed with an unknown key')
        try:
            return jwt.PyJWK(jwk, algorithm=algorithm).key
        except jwt.PyJWTError as error:
            raise TokenError(self, 'unusable signing key') from error


def _jwt_error_code(error):
    """social-core 7's code for a PyJWT refusal (read by its error middleware; ignored by social-core 5)."""
    if isinstance(error, jwt.InvalidSignatureError):
        return 'invalid_signature'
    if isinstance(error, jwt.ImmatureSignatureError):
        return 'response_not_yet_valid'
    if isinstance(error, jwt.MissingRequiredClaimError):
        return 'missing_claim'
    return 'invalid_claim'


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
        key
        for key in keys
        if key.get('kty') == key_type and key.get('use', 'sig') == 'sig' and key.get('alg', algorithm) == algorithm
    ]
    if kid is not None:
        candidates = [key for key in candidates if key.get('kid') == kid]
    return candidates[0] if len(candidates) == 1 or (candidates and kid is not None) else None


# Encrypted tokens: Authentik's own are RSA-OAEP-256 / A256CBC-HS512 and well under 4 KB.
JWE_MAX_LENGTH = 16 * 1024
JWE_KEY_ALGORITHMS = frozenset({'RSA-OAEP', 'RSA-OAEP-256'})
JWE_CONTENT_ALGORITHMS = frozenset({'A128CBC-HS256', 'A192CBC-HS384', 'A256CBC-HS512', 'A128GCM', 'A192GCM', 'A256GCM'})


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
    if not (
        isinstance(algorithm, str)
        and algorithm in JWE_KEY_ALGORITHMS
        and isinstance(encryption, str)
        and encryption in JWE_CONTENT_ALGORITHMS
    ):
        raise RefusedJWEError('alg or enc is not one NetBox accepts')


def _read_pem(value):
    if value.lstrip().startswith('-----BEGIN'):
        return value
    with open(os.path.expanduser(value)) as pem_file:
        return pem_file.read()


# -- validating the logout_token ---------------------------------------------------------------------


class LogoutTokenError(Exception):
    """A logout_token NetBox refuses; the message names the rule it broke and is safe to send back."""


def validate_logout_token(backend, logout_token):
    """Return the claims of a logout_token that passes every rule of Back-Channel Logout 1.0, section 2.6."""
    if not isinstance(logout_token, str) or not logout_token:
        raise LogoutTokenError('logout_token is missing')
    if len(logout_token) > LOGOUT_TOKEN_MAX_LENGTH:
        raise LogoutTokenError(f'logout_token is longer than {LOGOUT_TOKEN_MAX_LENGTH} characters')
    try:
        token = backend.decrypt_id_token(logout_token)
    except SocialAuthBaseException as error:
        raise LogoutTokenError('logout_token could not be decrypted') from error
    try:
        # The same rules as for id_tokens: advertised algorithm only, Authentik's key, iss, aud, times.
        claims, _algorithm = backend.decode_signed_jwt(token, ['iss', 'aud', 'iat', 'jti', 'events'])
    except MalformedTokenError as error:
        raise LogoutTokenError('logout_token is not a well-formed JWT') from error
    except jwt.InvalidAlgorithmError as error:
        raise LogoutTokenError(
            f'logout_token is signed with {error.args[0]!r}, which Authentik does not advertise'
        ) from error
    except TokenError as error:
        raise LogoutTokenError('logout_token is signed with an unknown key') from error
    except jwt.MissingRequiredClaimError as error:
        raise LogoutTokenError(f'logout_token has no {error.claim} claim') from error
    except jwt.InvalidSignatureError as error:
        raise LogoutTokenError('logout_token signature is invalid') from error
    except jwt.InvalidIssuerError as error:
        raise LogoutTokenError('logout_token was not issued by this Authentik application') from error
    except jwt.InvalidAudienceError as error:
        raise LogoutTokenError('logout_token is not meant for this NetBox (aud)') from error
    except jwt.ExpiredSignatureError as error:
        raise LogoutTokenError('logout_token has expired') from error
    except jwt.ImmatureSignatureError as error:
        raise LogoutTokenError('logout_token is issued in the future (iat)') from error
    except jwt.PyJWTError as error:
        raise LogoutTokenError(f'logout_token is invalid: {type(error).__name__}') from error
    _check_logout_claims(claims, backend.setting('JWT_LEEWAY', backend.JWT_LEEWAY))
    return claims


def _check_logout_claims(claims, leeway):
    """The rules PyJWT does not know: age, event, subject or session, no nonce."""
    issued_at = claims['iat']
    if not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
        raise LogoutTokenError('logout_token iat claim is not a number')
    if issued_at < time.time() - LOGOUT_TOKEN_MAX_AGE - leeway:
        raise LogoutTokenError(f'logout_token is older than {LOGOUT_TOKEN_MAX_AGE} seconds (iat)')
    events = claims['events']
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise LogoutTokenError(f'logout_token events claim has no {BACKCHANNEL_LOGOUT_EVENT} event')
    if not _non_empty_string(claims.get('sub')) and not _non_empty_string(claims.get('sid')):
        raise LogoutTokenError('logout_token has neither a sub nor a sid claim')
    for claim in ('sub', 'sid'):
        if claim in claims and not _non_empty_string(claims[claim]):
            raise LogoutTokenError(f'logout_token {claim} claim is not a string')
    # An id_token carries a nonce; a logout_token must not, so one can never pass for the other.
    if 'nonce' in claims:
        raise LogoutTokenError('logout_token must not contain a nonce claim')
    if not _non_empty_string(claims['jti']):
        raise LogoutTokenError('logout_token jti claim is not a string')


def _non_empty_string(value):
    return isinstance(value, str) and bool(value)


def claim_jti(claims):
    """Remember a logout_token's jti; False when it was seen before (a replay). Shared by all workers."""
    token_id = f'{claims["iss"]} {claims["jti"]}'
    key = f'{CACHE_PREFIX}:logout-jti:{hashlib.sha256(token_id.encode()).hexdigest()}'
    # cache.add is atomic in Redis: of two workers receiving the same token, only one wins.
    return cache.add(key, 1, LOGOUT_TOKEN_MAX_AGE * 2)
