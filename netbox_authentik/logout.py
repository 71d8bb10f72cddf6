"""Sign-out that ends the Authentik session too, and a /login/ that goes straight to Authentik.

Both are plugin middleware around NetBox's own LoginView and LogoutView, so NetBox's logging,
messages and cookie handling stay exactly as they are; the middleware only decides where the
browser goes next.
"""

import logging
import secrets
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.cache import cache
from django.core.signing import BadSignature
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from social_core.actions import do_auth
from social_core.exceptions import SocialAuthBaseException
from social_django.models import UserSocialAuth
from social_django.views import NAMESPACE as SOCIAL_NAMESPACE

from . import settings as plugin_settings
from .errors import BackendNotConfiguredError, describe
from .logsafe import safe
from .metadata import cache_key
from .provider import BACKEND_NAME, authentik_backend
from .sessions import is_authentik_session

logger = logging.getLogger(__name__)


# -- RP-initiated logout ---------------------------------------------------------------------------------


def end_session_url(end_session_endpoint, client_id, post_logout_redirect_uri, state, id_token_hint=None):
    """Return Authentik's end-session URL carrying the RP-initiated logout parameters, URL-encoded."""
    parts = urlsplit(end_session_endpoint)
    query = parse_qsl(parts.query, keep_blank_values=True)
    parameters = {
        'id_token_hint': id_token_hint,
        'post_logout_redirect_uri': post_logout_redirect_uri,
        'client_id': client_id,
        'state': state,
    }
    query.extend((name, value) for name, value in parameters.items() if value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def post_logout_redirect_uri(request):
    """Where Authentik sends the person afterwards: the setting, else NetBox's login page as an absolute URL."""
    # LOGIN_URL carries BASE_PATH; build_absolute_uri honours X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER).
    return plugin_settings.get('post_logout_redirect_uri') or request.build_absolute_uri(settings.LOGIN_URL)


def latest_id_token(user):
    """Return the id_token of the user's most recently used Authentik link, or None."""
    link = (
        UserSocialAuth.objects.filter(user=user, provider=BACKEND_NAME).order_by('-modified').only('extra_data').first()
    )
    id_token = (link.extra_data or {}).get('id_token') if link else None
    return id_token if isinstance(id_token, str) and id_token else None


# The `state` sent to end-session, kept in a signed cookie: LogoutView has flushed the session by then.
LOGOUT_STATE_COOKIE = 'netbox_authentik_logout_state'
LOGOUT_STATE_SALT = 'netbox_authentik.logout.state'
LOGOUT_STATE_MAX_AGE = 900


def authentik_logout_url(request, id_token_hint, state):
    """Return the URL that ends the Authentik session, or None when Authentik offers no end-session endpoint."""
    backend = authentik_backend(request)
    endpoint = backend.oidc_config().get('end_session_endpoint')
    if not isinstance(endpoint, str) or not endpoint.startswith(('https://', 'http://')):
        logger.warning("Authentik's discovery document has no end_session_endpoint; the Authentik session stays")
        return None
    client_id, _secret = backend.get_key_and_secret()
    return end_session_url(endpoint, client_id, post_logout_redirect_uri(request), state, id_token_hint)


class AuthentikLogoutMiddleware:
    """After NetBox's logout of an Authentik sign-in, send the browser on to Authentik's end-session endpoint."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != 'GET' or request.path_info != reverse('logout'):
            return self.get_response(request)
        try:
            # Read before NetBox's LogoutView flushes the session and forgets the user.
            signed_in_through_authentik = (
                plugin_settings.get('logout_at_authentik')
                and request.user.is_authenticated
                and is_authentik_session(request.session)
            )
            id_token_hint = latest_id_token(request.user) if signed_in_through_authentik else None
        except Exception:  # logout must always work; at worst it stays a NetBox-only logout
            logger.exception('Could not tell whether this logout should end an Authentik session')
            signed_in_through_authentik = False
        response = self.get_response(request)
        if not signed_in_through_authentik or not response.has_header('Location') or request.user.is_authenticated:
            return response
        state = secrets.token_urlsafe(24)
        try:
            url = authentik_logout_url(request, id_token_hint, state)
        except SocialAuthBaseException as error:
            logger.warning('Logout ended the NetBox session only: %s', safe(describe(error)))
            url = None
        except Exception:
            logger.exception('Logout ended the NetBox session only: building the Authentik logout URL failed')
            url = None
        if url is None:
            messages.warning(
                request,
                _(
                    'You have logged out of NetBox, but NetBox could not end your Authentik '
                    'session. Sign out of Authentik too if this is a shared computer.'
                ),
            )
            return response
        response['Location'] = url
        response.set_signed_cookie(
            LOGOUT_STATE_COOKIE,
            state,
            salt=LOGOUT_STATE_SALT,
            max_age=LOGOUT_STATE_MAX_AGE,
            path=settings.SESSION_COOKIE_PATH,
            secure=request.is_secure(),
            httponly=True,
            samesite='Lax',
        )
        return response


def logout_return(request):
    """Authentik's end-session sent the browser back with the state NetBox sent: drop it from the URL.

    Returns the redirect to the same page without `state`, or None when the state is not the one
    this browser's logout sent (an old bookmark, a forged link): the page is then served as asked.
    """
    if request.method != 'GET' or 'state' not in request.GET:
        return None
    if request.path != urlsplit(post_logout_redirect_uri(request)).path:
        return None
    try:
        sent = request.get_signed_cookie(LOGOUT_STATE_COOKIE, salt=LOGOUT_STATE_SALT, max_age=LOGOUT_STATE_MAX_AGE)
    except (KeyError, BadSignature):
        return None
    if not constant_time_compare(request.GET['state'], sent):
        return None
    query = request.GET.copy()
    del query['state']
    response = HttpResponseRedirect(f'{request.path}?{query.urlencode()}' if query else request.path)
    response.delete_cookie(LOGOUT_STATE_COOKIE, path=settings.SESSION_COOKIE_PATH, samesite='Lax')
    add_never_cache_headers(response)
    return response


# -- login_redirect ----------------------------------------------------------------------------------------


def wants_authentik_sign_in(request):
    """True when GET /login/ should skip NetBox's login page and go straight to Authentik."""
    return bool(
        plugin_settings.get('login_redirect')
        and not request.user.is_authenticated
        # Break-glass: /login/?local=1 always shows NetBox's own login form.
        and 'local' not in request.GET
        # A pending message (logged out, sign-in failed) belongs on the login page; redirecting would hide
        # it and, after a failed or ended Authentik sign-in, bounce straight back into Authentik.
        and not len(messages.get_messages(request))
    )


# login_redirect asks Authentik first: a redirect into a dead host traps people on the browser's error page.
PROBE_TIMEOUT = 2
# "Reachable" is believed for a few seconds only: the browser is about to call Authentik anyway, and a longer
# memory would keep sending people into a host that has just gone down. "Unreachable" is kept a little longer,
# so that a dead Authentik costs one PROBE_TIMEOUT per ten seconds, not one per visit.
PROBE_REMEMBER_REACHABLE = 3
PROBE_REMEMBER_UNREACHABLE = 10


def authentik_reachable(backend):
    """True when Authentik answers its discovery URL within PROBE_TIMEOUT; remembered briefly in Django's cache."""
    url = backend.discovery_url()
    key = cache_key('reachable', url)
    now = time.time()
    remembered = cache.get(key)
    # The time of the probe travels with its result: every worker judges the age by the same clock.
    if isinstance(remembered, tuple) and len(remembered) == 2:
        reachable, probed_at = remembered
        if 0 <= now - probed_at < (PROBE_REMEMBER_REACHABLE if reachable else PROBE_REMEMBER_UNREACHABLE):
            return reachable
    try:
        # Any answer but a 5xx: the browser would get Authentik's page. A 5xx is a broken or absent Authentik.
        reachable = requests.get(url, timeout=PROBE_TIMEOUT, headers={'Accept': 'application/json'}).status_code < 500
        cause = 'answered with a server error'
    except requests.RequestException as error:
        reachable, cause = False, type(error).__name__
    if not reachable:
        logger.warning(
            'login_redirect: Authentik at %s is not reachable (%s); /login/ shows the local login form for %s s',
            url,
            cause,
            PROBE_REMEMBER_UNREACHABLE,
        )
    cache.set(key, (reachable, now), PROBE_REMEMBER_UNREACHABLE)
    return reachable


def _unreachable_message(request):
    local_form = f'{reverse("login")}?local=1'
    messages.error(
        request,
        _(
            'NetBox could not reach Authentik. Try again later, or sign in with a local NetBox '
            'account; the local login form is always at {url}.'
        ).format(url=local_form),
    )


def begin_authentik_sign_in(request):
    """Start the Authentik sign-in server-side, keeping `next`; None when it cannot start."""
    # Social-auth's begin view is POST-only (CSRF). Starting here is equally safe: it runs only for an
    # anonymous visitor (nothing can be linked to an existing account), the state check on return still
    # guards the callback, and social-core sanitises `next` against open redirects.
    try:
        backend = authentik_backend(request, redirect_uri=reverse(f'{SOCIAL_NAMESPACE}:complete', args=[BACKEND_NAME]))
        if not authentik_reachable(backend):
            # Before do_auth: a visit that does not reach Authentik stores no nonce.
            _unreachable_message(request)
            return None
        response = do_auth(backend, redirect_name=REDIRECT_FIELD_NAME, user=request.user)
    except BackendNotConfiguredError:
        logger.error('login_redirect is on, but the authentik backend is not in REMOTE_AUTH_BACKEND')
        return None
    except Exception as error:
        if isinstance(error, SocialAuthBaseException):
            logger.warning(
                'login_redirect: showing the local login form, the Authentik sign-in could not start: %s',
                safe(describe(error)),
            )
        else:
            logger.exception('login_redirect: showing the local login form, the Authentik sign-in failed to start')
        _unreachable_message(request)
        return None
    add_never_cache_headers(response)
    return response


class LoginRedirectMiddleware:
    """GET /login/: the clean URL after Authentik's logout, and with login_redirect on, straight to Authentik."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (response := logout_return(request)) is not None:
            return response
        if request.method == 'GET' and request.path_info == reverse('login') and wants_authentik_sign_in(request):
            if (response := begin_authentik_sign_in(request)) is not None:
                return response
        return self.get_response(request)
