"""POST /api/plugins/authentik/token-exchange/: the HTTP edge of the API token exchange (RFC 8693).

Anonymous (the Authentik token is the credential), CSRF-exempt, never reading or writing a session.
Every answer is JSON: the token, or an OAuth error with a description a person can act on. Each
exchange is logged at INFO, each refusal at WARNING with its reason; never a token.
"""

import json
import logging

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from social_core.exceptions import SocialAuthBaseException

from netbox_authentik import settings as plugin_settings
from netbox_authentik.errors import BackendNotConfiguredError
from netbox_authentik.logsafe import safe
from netbox_authentik.provider import authentik_backend

from .issue import issue_api_token
from .verify import (
    ACCESS_TOKEN_TYPE,
    SUBJECT_TOKEN_TYPES,
    TOKEN_EXCHANGE_GRANT,
    ExchangeRefused,
    verify_subject_token,
)

logger = logging.getLogger(__name__)

# A form or JSON body of a few parameters and one token; anything far larger is refused unread.
MAX_BODY = 128 * 1024


def oauth_error(status, error, description):
    response = JsonResponse({'error': error, 'error_description': description}, status=status)
    response['Cache-Control'] = 'no-store'
    if status == 401:
        response['WWW-Authenticate'] = f'Bearer error="{error}"'
    return response


@method_decorator([csrf_exempt, login_not_required, never_cache], name='dispatch')
class TokenExchangeView(View):
    """RFC 8693 token exchange: an Authentik access token or id_token in, a short-lived NetBox API token out."""

    http_method_names = ['post']

    def post(self, request):
        try:
            parameters = _parameters(request)
            if not plugin_settings.get('api_token_exchange'):
                raise ExchangeRefused(
                    'access_denied', 'API token exchange is not enabled in this NetBox (api_token_exchange).', 403
                )
            backend = authentik_backend(request)
            claims = verify_subject_token(backend, parameters['subject_token'])
            issued = issue_api_token(backend, parameters['subject_token'], claims, parameters['lifetime'])
        except ExchangeRefused as refusal:
            logger.warning('Refused an API token exchange: %s', safe(refusal.description))
            return oauth_error(refusal.status, refusal.error, refusal.description)
        except BackendNotConfiguredError:
            logger.error('API token exchange requested, but the authentik backend is not in REMOTE_AUTH_BACKEND')
            return oauth_error(400, 'invalid_request', 'Sign-in through Authentik is not configured')
        except SocialAuthBaseException as error:
            # The provider logged which endpoint failed and how.
            logger.warning('Refused an API token exchange: Authentik is unavailable (%s)', type(error).__name__)
            return oauth_error(503, 'temporarily_unavailable', 'Authentik cannot be reached; try again later')
        except DatabaseError:
            # NetBox's maintenance mode makes the database read-only.
            logger.exception('An API token exchange could not be written to the database')
            return oauth_error(503, 'temporarily_unavailable', 'NetBox cannot issue tokens right now; try again later')
        body = {
            'access_token': issued.access_token,
            'issued_token_type': ACCESS_TOKEN_TYPE,
            'token_type': issued.token_type,
            'expires_in': issued.expires_in,
            'write_enabled': issued.write_enabled,
        }
        response = JsonResponse(body)
        response['Cache-Control'] = 'no-store'
        response['Pragma'] = 'no-cache'
        return response


def _parameters(request):
    """The request's parameters, from a form or a JSON body; raise ExchangeRefused for anything else."""
    try:
        return _read_parameters(request)
    except (RequestDataTooBig, MultiPartParserError, UnicodeDecodeError) as error:
        raise ExchangeRefused('invalid_request', 'the request body cannot be read') from error


def _read_parameters(request):
    if len(request.body) > MAX_BODY:
        raise ExchangeRefused('invalid_request', f'the request body is larger than {MAX_BODY} bytes')
    if request.content_type == 'application/json':
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as error:
            raise ExchangeRefused('invalid_request', 'the request body is not valid JSON') from error
        if not isinstance(data, dict):
            raise ExchangeRefused('invalid_request', 'the request body must be a JSON object')
    else:
        data = {name: request.POST.getlist(name) for name in request.POST}
        if any(len(values) != 1 for values in data.values()):
            raise ExchangeRefused('invalid_request', 'a parameter was given more than once')
        data = {name: values[0] for name, values in data.items()}
    grant_type = data.get('grant_type')
    if grant_type != TOKEN_EXCHANGE_GRANT:
        raise ExchangeRefused('unsupported_grant_type', f'grant_type must be {TOKEN_EXCHANGE_GRANT}')
    subject_token = data.get('subject_token')
    if not isinstance(subject_token, str) or not subject_token:
        raise ExchangeRefused('invalid_request', 'subject_token is missing')
    if data.get('subject_token_type') not in SUBJECT_TOKEN_TYPES:
        raise ExchangeRefused('invalid_request', f'subject_token_type must be one of {", ".join(SUBJECT_TOKEN_TYPES)}')
    requested_type = data.get('requested_token_type')
    if requested_type not in (None, ACCESS_TOKEN_TYPE):
        raise ExchangeRefused('invalid_request', f'requested_token_type can only be {ACCESS_TOKEN_TYPE}')
    return {'subject_token': subject_token, 'lifetime': _lifetime(data.get('expires_in'))}


def _lifetime(value):
    """The lifetime the client asks for (optional `expires_in`, seconds): shorter than the configured one only."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or value > 10**9:
        raise ExchangeRefused('invalid_request', 'expires_in must be a positive whole number of seconds')
    return value
