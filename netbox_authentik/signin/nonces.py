"""Sign-in nonces (social_django's Association rows): bounded, never a permanent row per visit.

social-core's OpenIdConnectAuth stores one row per sign-in start (auth_params -> get_and_store_nonce)
and deletes it only when an id_token comes back with that nonce. A start that never returns (a
visitor who leaves Authentik's page, a crawler on /login/ with login_redirect on) used to leave its
row for ever, with issued = 0. Here each row carries its time. Every new start deletes the rows past
NONCE_LIFETIME, and keeps only the newest few of the same browser session, which its rows name in the
`secret` column (social-core never reads a nonce row's secret; social-core 5 reuses the session's state
for every start, social-core 7 makes a new one each time, so the state cannot tell a browser's rows).
`netbox authentik_cleanup` removes the rest.

social-core 7 also writes a row per start into social_django's Nonce table (each state is used once);
a new start deletes those of this backend past NONCE_LIFETIME and those of the browser's deleted
sign-ins, so they are bounded the same way. (social-auth-app-django 8's `clearsocial` deletes them too.)
"""

import base64
import time

from django.db.models import F, Q
from social_core.backends.open_id_connect import OpenIdConnectAssociation

from ..settings import BACKEND_NAME

# Long enough for a person at Authentik's login page (password reset, MFA enrolment included).
NONCE_LIFETIME = 3600
# Sign-ins one browser session may have pending at once (tabs); older ones of it are deleted.
PENDING_PER_BROWSER = 5
# The session key of the random name that marks this browser's nonce rows.
BROWSER_SESSION_KEY = 'netbox_authentik_nonce_browser'
# Where social-core 7 keeps the one-use state rows of this plugin's backend (its _nonce_scope()).
STATE_SCOPE = f'social_core.oauth2.{BACKEND_NAME}'


def now():
    """Seconds since the epoch, as social-core's Association rows count time."""
    return int(time.time())


def association_model():
    """social_django's Association model, where social-core keeps OpenID Connect nonces."""
    from social_django.models import Association

    return Association


def expired(at=None, server_url=None):
    """The nonce rows past their lifetime at `at` (default: now); rows written without a time (issued = 0) too."""
    at = now() if at is None else at
    rows = association_model().objects.filter(issued__lt=at - F('lifetime'))
    return rows if server_url is None else rows.filter(server_url=server_url)


def store_nonce(backend, url, state):
    """Store a new nonce with its time, after deleting the rows no sign-in can use any more; return it."""
    issued = now()
    expired(issued, server_url=url).delete()
    nonce = backend.strategy.random_string(64)
    browser = _browser_name(backend.strategy)
    backend.strategy.storage.association.store(
        url,
        OpenIdConnectAssociation(nonce, secret=browser, issued=issued, lifetime=NONCE_LIFETIME, assoc_type=state or ''),
    )
    # social_django stores an association's secret base64-encoded.
    same_browser = association_model().objects.filter(
        server_url=url, secret=base64.encodebytes(browser.encode()).decode()
    )
    newest = list(same_browser.order_by('-id').values_list('id', flat=True)[:PENDING_PER_BROWSER])
    older = same_browser.exclude(id__in=newest)
    _delete_state_rows(backend, issued, list(older.values_list('assoc_type', flat=True)), keep=state)
    older.delete()
    return nonce


def expired_states(at=None):
    """social-core 7's one-use state rows of this plugin's backend whose sign-in can no longer complete.

    A row is written when a sign-in starts and consumed when it comes back; one past NONCE_LIFETIME (the
    backend's STATE_LIFETIME) belongs to a sign-in that never came back. social-core 5 writes none.
    """
    from social_django.models import Nonce

    at = now() if at is None else at
    return Nonce.objects.filter(server_url=STATE_SCOPE, timestamp__lt=at - NONCE_LIFETIME)


def _delete_state_rows(backend, issued, states, keep):
    """Delete social-core 7's used-once state rows of this backend: expired ones and those of `states`, not `keep`."""
    # social-core 7 keeps them under the scope _nonce_scope() names; social-core 5 has neither.
    scope = getattr(backend, '_nonce_scope', None)
    if not callable(scope):
        return
    from social_django.models import Nonce

    rows = Nonce.objects.filter(server_url=scope()).exclude(salt=keep or '')
    rows.filter(Q(timestamp__lt=issued - NONCE_LIFETIME) | Q(salt__in=[state for state in states if state])).delete()


def _browser_name(strategy):
    """The random name of this browser session's nonce rows, made on its first sign-in start."""
    name = strategy.session_get(BROWSER_SESSION_KEY)
    if not isinstance(name, str) or not name:
        name = strategy.random_string(32)
        strategy.session_set(BROWSER_SESSION_KEY, name)
    return name
