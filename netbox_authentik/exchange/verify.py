"""The Authentik token presented for an exchange, checked by the sign-in's own rules.

Signature, algorithm, key, JWE, `iss`, times and leeway are checked by tokens.TokenVerificationMixin through
the backend, with the same cached discovery and JWKS (and the same refresh on a signing-key change) as a
sign-in. On top: `aud` and `azp` in the allow-list, the claims an exchange reads, and, when
api_token_introspect is on, Authentik's word that the token is still active.
"""

import hashlib
import logging

import jwt

from netbox_authentik import settings as plugin_settings
from netbox_authentik.errors import TokenError
from netbox_authentik.tokens import MalformedTokenError

logger = logging.getLogger(__name__)

TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt'
ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token'
SUBJECT_TOKEN_TYPES = (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, ID_TOKEN_TYPE)
# Authentik's access tokens are well under 4 KB, even with many groups; anything far larger is refused unread.
SUBJECT_TOKEN_MAX_LENGTH = 64 * 1024
REQUIRED_CLAIMS = ('iss', 'sub', 'aud', 'exp', 'iat')
# PyJWT 2.10 checks that `sub` is a string; older releases leave it to _check_claims.
INVALID_SUBJECT = getattr(jwt.exceptions, 'InvalidSubjectError', ())


class ExchangeRefused(Exception):
    """An exchange NetBox refuses: the OAuth error code, a description safe to send back, and the HTTP status."""

    def __init__(self, error, description, status=400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def invalid_grant(description):
    return ExchangeRefused('invalid_grant', description)


def accepted_client_ids(backend):
    """The client ids whose Authentik tokens may be exchanged: NetBox's own, then api_token_audiences."""
    client_id, _secret = backend.get_key_and_secret()
    extra = [value for value in plugin_settings.get('api_token_audiences') if isinstance(value, str) and value]
    return [client_id, *extra] if client_id else extra


def subject_digest(subject_token):
    """The key of an Authentik token's one exchange (its tokens carry no jti): SHA-256 of the token."""
    return hashlib.sha256(subject_token.encode()).hexdigest()


def verify_subject_token(backend, subject_token):
    """Return the claims of an Authentik token NetBox may exchange; raise ExchangeRefused otherwise.

    Authentik unreachable (metadata, introspection) raises the provider's AuthentikError.
    """
    if len(subject_token) > SUBJECT_TOKEN_MAX_LENGTH:
        raise ExchangeRefused('invalid_request', f'subject_token is longer than {SUBJECT_TOKEN_MAX_LENGTH} characters')
    if subject_token.count('.') == 4 and not plugin_settings.get('id_token_decryption_key'):
        # Without the key this is NetBox's configuration, not Authentik being down; the reason goes to the log.
        logger.error('An encrypted Authentik token was presented but id_token_decryption_key is not set')
        raise invalid_grant('subject_token is encrypted and NetBox holds no key to decrypt it')
    client_ids = accepted_client_ids(backend)
    claims = _decode(backend, subject_token, client_ids)
    _check_claims(claims, client_ids)
    if plugin_settings.get('api_token_introspect'):
        _check_active_at_authentik(backend, subject_token, claims)
    return claims


def _decode(backend, subject_token, client_ids):
    try:
        claims, _algorithm = backend.decode_signed_jwt(subject_token, REQUIRED_CLAIMS, audiences=client_ids)
    except MalformedTokenError as error:
        raise invalid_grant('subject_token is not a well-formed JWT') from error
    except jwt.InvalidAlgorithmError as error:
        raise invalid_grant(
            f'subject_token is signed with {error.args[0]!r}, which Authentik does not advertise'
        ) from error
    except jwt.InvalidAudienceError as error:
        raise ExchangeRefused(
            'unauthorized_client', 'subject_token was issued to a client NetBox does not accept (aud)', status=401
        ) from error
    except jwt.InvalidIssuerError as error:
        raise invalid_grant('subject_token was not issued by this Authentik application (iss)') from error
    except jwt.ExpiredSignatureError as error:
        raise invalid_grant('subject_token has expired') from error
    except jwt.ImmatureSignatureError as error:
        raise invalid_grant('subject_token is not valid yet (iat or nbf)') from error
    except jwt.MissingRequiredClaimError as error:
        raise invalid_grant(f'subject_token has no {error.claim} claim') from error
    except jwt.InvalidSignatureError as error:
        raise invalid_grant('subject_token signature is invalid') from error
    except INVALID_SUBJECT as error:
        raise invalid_grant('subject_token sub claim is not a string') from error
    except TokenError as error:
        # An unknown kid, an unusable key, a failed decryption: tokens.py logged the detail.
        raise invalid_grant('subject_token is signed with an unknown key or cannot be decrypted') from error
    except jwt.PyJWTError as error:
        raise invalid_grant(f'subject_token is invalid: {type(error).__name__}') from error
    return claims


def _check_claims(claims, client_ids):
    """The rules PyJWT does not know: azp, a subject, no logout_token or sign-in id_token, well-typed claims."""
    if 'events' in claims:
        # A back-channel logout_token is signed like an access token; it must never become an API token.
        raise invalid_grant('subject_token is a logout_token')
    if 'nonce' in claims:
        # The id_token of a browser sign-in (NetBox's own keeps it as logout hint, where admins can see it):
        # its holder has signed in already, and nobody else should be able to turn it into an API token.
        raise invalid_grant('subject_token is the id_token of a browser sign-in (nonce); exchange an access token')
    if not isinstance(claims['sub'], str) or not claims['sub']:
        raise invalid_grant('subject_token sub claim is not a string')
    if not isinstance(claims['iat'], int | float) or isinstance(claims['iat'], bool):
        raise invalid_grant('subject_token iat claim is not a number')
    if 'azp' in claims and claims['azp'] not in client_ids:
        raise ExchangeRefused(
            'unauthorized_client', 'subject_token was issued to a client NetBox does not accept (azp)', status=401
        )
    for name in ('scope', 'sid', 'azp'):
        if name in claims and not isinstance(claims[name], str):
            raise invalid_grant(f'subject_token {name} claim is not a string')


def _check_active_at_authentik(backend, subject_token, claims):
    """Ask Authentik's introspection endpoint (HTTP Basic with NetBox's client) whether the token is still active."""
    endpoint = backend.oidc_config().get('introspection_endpoint')
    if not isinstance(endpoint, str) or not endpoint.startswith(('http://', 'https://')):
        logger.error('api_token_introspect is on, but Authentik advertises no introspection_endpoint')
        raise ExchangeRefused('temporarily_unavailable', 'Authentik cannot be asked about this token', status=503)
    client_id, secret = backend.get_key_and_secret()
    answer = backend.get_json(endpoint, method='POST', data={'token': subject_token}, auth=(client_id, secret or ''))
    if not isinstance(answer, dict) or answer.get('active') is not True:
        raise invalid_grant('Authentik says subject_token is no longer active (introspection)')
    if answer.get('sub', claims['sub']) != claims['sub']:
        raise invalid_grant("Authentik's introspection answer is about another subject")
