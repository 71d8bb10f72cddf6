"""Which NetBox sessions came from Authentik, and ending them when Authentik says the person logged out.

At sign-in the session itself keeps Authentik's session id (``sid``) and the sign-in time, and Django's
cache (Redis, shared by every worker) adds ``session key + sid`` to a per-user Redis set. Set members
are added and removed atomically, so simultaneous sign-ins of one person never drop each other.

A back-channel logout then does two things:

- it deletes the sessions it can find at once: from the per-user set, or, when Redis has lost the set
  (flush, restart), by scanning a database session store;
- it records "Authentik logged this person (or this sid) out at T" in the cache, for the lifetime of a
  session. ``EndedAuthentikSessionMiddleware`` ends any Authentik session signed in before T on its next
  request: this catches sessions the first step cannot see, such as one whose key rotated after sign-in
  (password change) or a signed-cookie session.
"""

import hashlib
import logging
import time
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.core.cache import cache
from django.dispatch import receiver
from django.utils import timezone
from django.utils.module_loading import import_string
from social_django.models import UserSocialAuth

from ..settings import BACKEND_NAME
from ..signin.metadata import CACHE_PREFIX

logger = logging.getLogger('netbox_authentik.sessions')  # the name admins configure (README: Logging)

# Authentik's session id (id_token `sid`), kept in the NetBox session it opened.
SESSION_SID_KEY = 'netbox_authentik_sid'
# When the Authentik sign-in opened this NetBox session (seconds since the epoch).
SESSION_SIGNED_IN_AT_KEY = 'netbox_authentik_signed_in_at'


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


@receiver(user_logged_in, dispatch_uid='netbox_authentik.record_authentik_session')
def record_authentik_session(sender, request=None, user=None, **kwargs):
    """Remember which NetBox session an Authentik sign-in opened, when, and its Authentik sid."""
    backend = getattr(request, 'backend', None)
    if request is None or user is None or getattr(backend, 'name', None) != BACKEND_NAME:
        return
    try:
        sid = (getattr(backend, 'id_token', None) or {}).get('sid')
        sid = sid if isinstance(sid, str) else ''
        request.session[SESSION_SID_KEY] = sid
        request.session[SESSION_SIGNED_IN_AT_KEY] = time.time()
        if request.session.session_key is None:
            # login() flushed another user's session: the new key exists only once saved.
            request.session.save()
        _record_session(user.pk, request.session.session_key, sid)
    except Exception:  # recording is for a later logout; it must never break a sign-in
        logger.exception('Could not record the NetBox session of an Authentik sign-in')


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def _lifetime():
    # Nothing recorded here matters once every session it could concern has expired.
    return settings.SESSION_COOKIE_AGE


# -- the per-user record of sessions (a Redis set of "session_key sid") ---------------------------------


def _user_sessions_key(user_pk):
    return f'{CACHE_PREFIX}:signed-in:user:{user_pk}'


def _sid_user_key(sid):
    return f'{CACHE_PREFIX}:sessions:sid:{_digest(sid)}'


def _digest(value):
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _member(session_key, sid):
    # Session keys are [a-z0-9]: the first space separates the key from the sid.
    return f'{session_key} {sid}'


def _record_session(user_pk, session_key, sid):
    """Add a session to the user's set, and drop sessions that have ended since."""
    key = _user_sessions_key(user_pk)
    current = _member(session_key, sid)
    cache.sadd(key, current)
    cache.expire(key, _lifetime())
    if sid:
        cache.set(_sid_user_key(sid), user_pk, _lifetime())
    store = _session_store()
    ended = [
        member for member in cache.smembers(key) if member != current and not store().exists(member.partition(' ')[0])
    ]
    if ended:
        cache.srem(key, *ended)


def _recorded_sessions(user_pks):
    """Return {session_key: (user_pk, sid)} for these users, from their sets or else a scan."""
    sessions = {}
    unrecorded = []
    for user_pk in user_pks:
        # Redis drops an empty set, so "no members" and "Redis lost the record" look alike; both scan.
        members = cache.smembers(_user_sessions_key(user_pk))
        if not members:
            unrecorded.append(user_pk)
        for member in members:
            session_key, _space, sid = member.partition(' ')
            sessions[session_key] = (user_pk, sid)
    if unrecorded:
        sessions.update(_scan_sessions(user_pks=unrecorded))
    return sessions


def _scan_sessions(user_pks=None, sid=None):
    """Search a database session store for Authentik sessions of these users, or with this sid."""
    store_class = _session_store()
    if not hasattr(store_class, 'get_model_class'):
        logger.warning(
            'The record of Authentik sign-ins is gone from the cache and SESSION_ENGINE %s cannot be '
            'searched: sessions opened before end at their next request',
            settings.SESSION_ENGINE,
        )
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


def _forget_sessions(sessions, session_keys):
    for session_key in session_keys:
        user_pk, sid = sessions[session_key]
        cache.srem(_user_sessions_key(user_pk), _member(session_key, sid))


# -- "Authentik logged them out at T" -------------------------------------------------------------------


def _user_logout_key(user_pk):
    return f'{CACHE_PREFIX}:logged-out:user:{user_pk}'


def _sid_logout_key(sid):
    return f'{CACHE_PREFIX}:logged-out:sid:{_digest(sid)}'


def _mark_logged_out(keys):
    if keys:
        cache.set_many(dict.fromkeys(keys, time.time()), _lifetime())


def ended_by_authentik(session):
    """True when Authentik logged out the person or the Authentik session after this session signed in."""
    user_pk = session.get(SESSION_KEY)
    if user_pk is None or not is_authentik_session(session):
        return False
    # A session from before the sign-in time was recorded counts as the oldest.
    signed_in_at = session.get(SESSION_SIGNED_IN_AT_KEY, 0)
    keys = [_user_logout_key(user_pk)]
    if sid := session.get(SESSION_SID_KEY):
        keys.append(_sid_logout_key(sid))
    return any(
        isinstance(logged_out_at, float) and signed_in_at < logged_out_at
        for logged_out_at in cache.get_many(keys).values()
    )


class EndedAuthentikSessionMiddleware:
    """Sign out a NetBox session whose Authentik session a back-channel logout ended."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if ended_by_authentik(request.session):
            logger.info('Ended a NetBox session of user %s: Authentik logged them out', request.session[SESSION_KEY])
            logout(request)
        return self.get_response(request)


# -- ending sessions -----------------------------------------------------------------------------------


def end_authentik_sessions(sub=None, sid=None):
    """End the NetBox sessions a logout_token names; return how many were deleted at once."""
    user_pks = set()
    if sub:
        user_pks.update(UserSocialAuth.objects.filter(provider=BACKEND_NAME, uid=sub).values_list('user_id', flat=True))
    elif sid and (user_pk := cache.get(_sid_user_key(sid))) is not None:
        user_pks.add(user_pk)
    if user_pks:
        sessions = _recorded_sessions(user_pks)
    elif sid and not sub:
        sessions = _scan_sessions(sid=sid)
    else:
        sessions = {}
    if sid and (matching := {key for key, (_pk, recorded_sid) in sessions.items() if recorded_sid == sid}):
        targets = matching
        _mark_logged_out([_sid_logout_key(sid)])
    elif sid and not sub:
        targets = set()
        _mark_logged_out([_sid_logout_key(sid)])
    else:
        # Authentik's back-channel preview may send a sid that differs from the id_token's: ending all of
        # the person's sessions then errs on the safe side.
        targets = set(sessions)
        _mark_logged_out([_user_logout_key(user_pk) for user_pk in user_pks])
    store = _session_store()
    for session_key in targets:
        store(session_key=session_key).delete()
    _forget_sessions(sessions, targets)
    return len(targets)
