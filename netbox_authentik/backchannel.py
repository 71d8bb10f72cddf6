"""NetBox sessions opened through Authentik: recorded at sign-in, ended by OpenID Connect back-channel logout.

Authentik POSTs a signed ``logout_token`` to /plugins/authentik/backchannel-logout/ when a person's
Authentik session ends. The token names the person (``sub``) and/or their Authentik session (``sid``);
NetBox then deletes the matching NetBox sessions.

Finding those sessions: Django's session tables have no user column, so at sign-in the plugin records
``user id -> {session key: sid}`` in Django's cache (Redis, shared by every worker, any SESSION_ENGINE).
Ending a person's sessions then costs one cache read per linked user, however many sessions NetBox
holds. Should Redis have lost that record (flush, restart), a database session store is scanned
instead, so a back-channel logout still takes effect.
"""

import hashlib
import logging
import time
from importlib import import_module

import jwt
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.signals import user_logged_in
from django.core.cache import cache
from django.db import DatabaseError
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.module_loading import import_string
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from social_core.exceptions import AuthTokenError, MissingBackend, SocialAuthBaseException
from social_django.models import UserSocialAuth
from social_django.utils import load_strategy

from .backends import CACHE_PREFIX, MalformedTokenError

logger = logging.getLogger(__name__)

BACKEND_NAME = 'authentik'
BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'
# A logout_token is meant for immediate delivery; an older one is refused, and its jti is
# remembered at least this long so that no replay can slip in between.
LOGOUT_TOKEN_MAX_AGE = 600
# Authentik's session id (id_token `sid`), kept in the NetBox session it opened.
SESSION_SID_KEY = 'netbox_authentik_sid'


# -- which sessions came from Authentik ---------------------------------------------------------------


def is_authentik_session(session):
    """True when Django recorded the authentik backend as the one that signed this session in."""
    # Django rewrites BACKEND_SESSION_KEY at every login, so a later local login is not mistaken for SSO.
    path = session.get(BACKEND_SESSION_KEY)
    if not path:
        return False
    try:
        backend_class = import_string(path)
    except ImportError:
        return False
    return getattr(backend_class, 'name', None) == BACKEND_NAME


def authentik_backend(request, redirect_uri=None):
    """Return the configured authentik backend for this request (raises MissingBackend if not configured)."""
    return load_strategy(request).get_backend(BACKEND_NAME, redirect_uri=redirect_uri)


@receiver(user_logged_in, dispatch_uid='netbox_authentik.record_authentik_session')
def record_authentik_session(sender, request=None, user=None, **kwargs):
    """Remember which NetBox session an Authentik sign-in opened, and its Authentik sid."""
    backend = getattr(request, 'backend', None)
    if request is None or user is None or getattr(backend, 'name', None) != BACKEND_NAME:
        return
    try:
        sid = (getattr(backend, 'id_token', None) or {}).get('sid')
        sid = sid if isinstance(sid, str) else ''
        request.session[SESSION_SID_KEY] = sid
        if request.session.session_key is None:
            # login() flushed another user's session: the new key exists only once saved.
            request.session.save()
        _index_session(user.pk, request.session.session_key, sid)
    except Exception:  # recording is for a later logout; it must never break a sign-in
        logger.exception('Could not record the NetBox session of an Authentik sign-in')


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def _user_index_key(user_pk):
    return f'{CACHE_PREFIX}:sessions:user:{user_pk}'


def _sid_index_key(sid):
    return f'{CACHE_PREFIX}:sessions:sid:{hashlib.sha256(sid.encode()).hexdigest()[:32]}'


def _index_ttl():
    # A record outliving its sessions is harmless; one expiring early falls back to the scan.
    return settings.SESSION_COOKIE_AGE


def _index_session(user_pk, session_key, sid):
    """Add a session to the user's record, dropping sessions that have ended since."""
    store = _session_store()
    index = {key: value for key, value in (cache.get(_user_index_key(user_pk)) or {}).items()
             if key != session_key and store().exists(key)}
    index[session_key] = sid
    cache.set(_user_index_key(user_pk), index, _index_ttl())
    if sid:
        cache.set(_sid_index_key(sid), user_pk, _index_ttl())


# -- validating the logout_token ---------------------------------------------------------------------


class LogoutTokenError(Exception):
    """A logout_token NetBox refuses; the message names the rule it broke and is safe to send back."""


def validate_logout_token(backend, logout_token):
    """Return the claims of a logout_token that passes every rule of Back-Channel Logout 1.0, section 2.6."""
    if not isinstance(logout_token, str) or not logout_token:
        raise LogoutTokenError('logout_token is missing')
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


# -- ending sessions -----------------------------------------------------------------------------------


def end_authentik_sessions(sub=None, sid=None):
    """Delete the NetBox sessions a logout_token names; return how many were ended."""
    user_pks = set()
    if sub:
        user_pks.update(UserSocialAuth.objects.filter(provider=BACKEND_NAME, uid=sub).values_list('user_id', flat=True))
    elif sid and (user_pk := cache.get(_sid_index_key(sid))) is not None:
        user_pks.add(user_pk)
    if user_pks:
        sessions = _recorded_sessions(user_pks)
    elif sid and not sub:
        sessions = _scan_sessions(sid=sid)
    else:
        sessions = {}
    targets = _sessions_to_end(sessions, sub, sid)
    store = _session_store()
    for session_key in targets:
        store(session_key=session_key).delete()
    for user_pk in {sessions[key][0] for key in targets}:
        _forget_sessions(user_pk, targets)
    return len(targets)


def _sessions_to_end(sessions, sub, sid):
    """With a sid, that Authentik session's NetBox sessions; else (or if none match) all of sub's."""
    if sid:
        matching = {key for key, (_user_pk, recorded_sid) in sessions.items() if recorded_sid == sid}
        # Authentik's back-channel preview may send a sid that differs from the id_token's: ending all of
        # the person's sessions then errs on the safe side.
        if matching or not sub:
            return matching
    return set(sessions)


def _recorded_sessions(user_pks):
    """Return {session_key: (user_pk, sid)} for these users, from the sign-in record or else a scan."""
    sessions = {}
    unrecorded = []
    for user_pk in user_pks:
        index = cache.get(_user_index_key(user_pk))
        if index is None:
            unrecorded.append(user_pk)
        else:
            sessions.update({key: (user_pk, sid) for key, sid in index.items()})
    if unrecorded:
        sessions.update(_scan_sessions(user_pks=unrecorded))
    return sessions


def _scan_sessions(user_pks=None, sid=None):
    """Search a database session store for Authentik sessions of these users, or with this sid."""
    store_class = _session_store()
    if not hasattr(store_class, 'get_model_class'):
        logger.warning('The record of Authentik sign-ins is gone from the cache and SESSION_ENGINE %s cannot be '
                       'searched: sessions opened before were not ended', settings.SESSION_ENGINE)
        return {}
    wanted_users = {str(pk) for pk in user_pks} if user_pks else None
    decoder = store_class()
    found = {}
    rows = store_class.get_model_class().objects.filter(expire_date__gt=timezone.now())
    for row in rows.only('session_key', 'session_data').iterator():
        data = decoder.decode(row.session_data)
        user_pk = data.get(SESSION_KEY)
        if wanted_users is not None and user_pk not in wanted_users:
            continue
        if sid is not None and data.get(SESSION_SID_KEY) != sid:
            continue
        if user_pk and is_authentik_session(data):
            found[row.session_key] = (user_pk, data.get(SESSION_SID_KEY, ''))
    return found


def _forget_sessions(user_pk, session_keys):
    key = _user_index_key(user_pk)
    index = cache.get(key)
    if index:
        cache.set(key, {k: v for k, v in index.items() if k not in session_keys}, _index_ttl())


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
            logger.warning('Refused an Authentik back-channel logout: %s', error)
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
