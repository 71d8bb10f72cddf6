"""OpenID Connect Back-Channel Logout 1.0: Authentik ends a person's NetBox sessions, server to server.

Authentik POSTs a signed ``logout_token`` to /plugins/authentik/backchannel-logout/ when a person's
Authentik session ends. The token names the person (``sub``) and/or their Authentik session (``sid``).
This module checks the token; netbox_authentik/sessions.py finds and ends the matching NetBox sessions.
"""

import hashlib
import logging
import time

import jwt
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from social_core.exceptions import AuthTokenError, MissingBackend, SocialAuthBaseException
from social_django.utils import load_strategy

from .backends import CACHE_PREFIX, MalformedTokenError
from .logsafe import safe
from .sessions import BACKEND_NAME, end_authentik_sessions

logger = logging.getLogger(__name__)

BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'
# A logout_token is meant for immediate delivery; an older one is refused, and its jti is
# remembered at least this long so that no replay can slip in between.
LOGOUT_TOKEN_MAX_AGE = 600
# Authentik's logout_tokens are well under 2 KB; anything far larger is refused unread.
LOGOUT_TOKEN_MAX_LENGTH = 16 * 1024


def authentik_backend(request, redirect_uri=None):
    """Return the configured authentik backend for this request (raises MissingBackend if not configured)."""
    return load_strategy(request).get_backend(BACKEND_NAME, redirect_uri=redirect_uri)


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
        raise LogoutTokenError(f'logout_token is signed with {error.args[0]!r}, which Authentik does not advertise') \
            from error
    except AuthTokenError as error:
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
    token_id = f"{claims['iss']} {claims['jti']}"
    key = f'{CACHE_PREFIX}:logout-jti:{hashlib.sha256(token_id.encode()).hexdigest()}'
    # cache.add is atomic in Redis: of two workers receiving the same token, only one wins.
    return cache.add(key, 1, LOGOUT_TOKEN_MAX_AGE * 2)


# -- the endpoint --------------------------------------------------------------------------------------


def _error(status, error, description):
    response = JsonResponse({'error': error, 'error_description': description}, status=status)
    response['Cache-Control'] = 'no-store'
    return response


@method_decorator([csrf_exempt, login_not_required, never_cache], name='dispatch')
class BackchannelLogoutView(View):
    """OpenID Connect Back-Channel Logout 1.0: Authentik ends a person's NetBox sessions, server to server."""

    http_method_names = ['post']

    def post(self, request):
        try:
            backend = authentik_backend(request)
            claims = validate_logout_token(backend, request.POST.get('logout_token'))
            if not claim_jti(claims):
                raise LogoutTokenError('logout_token was already used (jti)')
        except LogoutTokenError as error:
            # The reason only, never the token: it names a person and a session.
            logger.warning('Refused an Authentik back-channel logout: %s', safe(error))
            return _error(400, 'invalid_request', str(error))
        except MissingBackend:
            logger.error('Back-channel logout received, but the authentik backend is not in REMOTE_AUTH_BACKEND')
            return _error(400, 'invalid_request', 'Sign-in through Authentik is not configured')
        except SocialAuthBaseException as error:
            logger.error('Back-channel logout could not be checked: Authentik metadata unavailable (%s)',
                         type(error).__name__)
            return _error(503, 'temporarily_unavailable', 'Authentik metadata is unavailable')
        try:
            ended = end_authentik_sessions(sub=claims.get('sub'), sid=claims.get('sid'))
        except DatabaseError:
            # NetBox's maintenance mode makes the database read-only.
            logger.exception('Back-channel logout could not delete NetBox sessions')
            return _error(503, 'temporarily_unavailable', 'NetBox could not end the sessions')
        logger.info('Authentik back-channel logout ended %d NetBox session(s)', ended)
        return HttpResponse(status=200)
