"""OpenID Connect Back-Channel Logout 1.0: Authentik ends a person's NetBox sessions, server to server.

Authentik POSTs a signed ``logout_token`` to /plugins/authentik/backchannel-logout/ when a person's
Authentik session ends. The token names the person (``sub``) and/or their Authentik session (``sid``).
signin/tokens.py checks the token and sessions/registry.py finds and ends the matching NetBox sessions: this module is
the HTTP edge between them.
"""

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from social_core.exceptions import SocialAuthBaseException

from ..exchange.issue import delete_session_tokens
from ..logsafe import safe
from ..signin.errors import BackendNotConfiguredError
from ..signin.provider import authentik_backend
from ..signin.tokens import LogoutTokenError, claim_jti, validate_logout_token
from .registry import end_authentik_sessions

logger = logging.getLogger('netbox_authentik.backchannel')  # the name admins configure (README: Logging)


def _error(status, error, description):
    # never_cache on the view marks every answer, these included, no-store.
    return JsonResponse({'error': error, 'error_description': description}, status=status)


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
        except BackendNotConfiguredError:
            logger.error('Back-channel logout received, but the authentik backend is not in REMOTE_AUTH_BACKEND')
            return _error(400, 'invalid_request', 'Sign-in through Authentik is not configured')
        except SocialAuthBaseException as error:
            logger.error(
                'Back-channel logout could not be checked: Authentik metadata unavailable (%s)', type(error).__name__
            )
            return _error(503, 'temporarily_unavailable', 'Authentik metadata is unavailable')
        try:
            ended = end_authentik_sessions(sub=claims.get('sub'), sid=claims.get('sid'))
            # API tokens exchanged under the ended Authentik session (netbox_authentik/exchange/) end with it.
            tokens = delete_session_tokens(sub=claims.get('sub'), sid=claims.get('sid'))
        except DatabaseError:
            # NetBox's maintenance mode makes the database read-only.
            logger.exception('Back-channel logout could not delete NetBox sessions')
            return _error(503, 'temporarily_unavailable', 'NetBox could not end the sessions')
        logger.info('Authentik back-channel logout ended %d NetBox session(s) and %d API token(s)', ended, tokens)
        return HttpResponse(status=200)
