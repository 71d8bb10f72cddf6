"""Authentik's provider as NetBox reaches it: endpoint forms, discovery and JWKS through the shared cache,
the rules for refreshing them, and every HTTP failure turned into a message for the login page.
"""

import logging

import requests
from django.core.cache import cache
from django.utils.translation import gettext as _
from social_core.exceptions import SocialAuthBaseException

from . import logsafe, metadata
from . import settings as plugin_settings
from .errors import AuthentikError, BackendNotConfiguredError, is_missing_backend

logger = logging.getLogger(__name__)

BACKEND_NAME = plugin_settings.BACKEND_NAME
WELL_KNOWN = '/.well-known/openid-configuration'
# A token the cached metadata cannot verify (unadvertised alg, unknown kid, failed signature) may follow a
# signing-key change in Authentik: discovery and JWKS are refetched, at most once per this many seconds
# across all workers, so a flood of forged tokens costs one refresh per interval.
METADATA_REFRESH_INTERVAL = 30


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


def authentik_backend(request, redirect_uri=None):
    """Return the configured authentik backend for this request (BackendNotConfiguredError if it is not)."""
    from social_django.utils import load_strategy

    try:
        return load_strategy(request).get_backend(BACKEND_NAME, redirect_uri=redirect_uri)
    except SocialAuthBaseException as error:
        if is_missing_backend(error):
            raise BackendNotConfiguredError() from error
        raise


class AuthentikProviderMixin:
    """The backend's view of Authentik's provider: where it is, its metadata, and its HTTP failures.

    Mixed into the social-core backend (backends.AuthentikOIDCAuth), whose `request()` and `setting()`
    it uses, so that social-core's own calls (token, userinfo) get the same timeouts and messages.
    """

    _oidc_config = None

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
                logger.error('Authentik discovery document at %s has no issuer', logsafe.safe(self.discovery_url()))
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
        if not cache.add(metadata.cache_key('metadata-refresh', self.discovery_url()), 1, METADATA_REFRESH_INTERVAL):
            logger.warning(
                '%s; Authentik discovery and JWKS were refreshed less than %ss ago', reason, METADATA_REFRESH_INTERVAL
            )
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
        except SocialAuthBaseException as error:
            # social-core wraps what requests raised (5: a connection error; 7: every failure, HTTP errors too).
            failure = error.__cause__
            if not isinstance(failure, requests.RequestException):
                raise
        except requests.RequestException as error:
            failure = error
        raise self._request_failure(endpoint_name, url, failure) from failure

    def _request_failure(self, endpoint_name, url, error):
        """The AuthentikError for a failed request to Authentik, logged."""
        if isinstance(error, requests.ConnectionError | requests.Timeout):
            cause = 'timed out' if _is_timeout(error) else 'connection failed'
            logger.error('Authentik %s endpoint %s: %s', endpoint_name, logsafe.safe(url), cause)
            return _retryable(AuthentikError(self, _('Authentik could not be reached. Try again later.')))
        if isinstance(error, requests.HTTPError) and error.response is not None:
            return http_failure(self, endpoint_name, url, error.response)
        logger.error('Authentik %s endpoint %s: %s', endpoint_name, logsafe.safe(url), type(error).__name__)
        return AuthentikError(self, _('Authentik could not be reached. Try again later.'))

    def get_json(self, url, *args, **kwargs):
        response = self.request(url, *args, **kwargs) if args else self.request(url, **kwargs)
        try:
            return response.json()
        except ValueError as error:
            logger.error(
                'Authentik %s endpoint %s did not answer with JSON', self._endpoint_name(url), logsafe.safe(url)
            )
            raise AuthentikError(self, _('Authentik sent an answer NetBox could not read.')) from error

    def _endpoint_name(self, url):
        if url.endswith(WELL_KNOWN):
            return 'discovery'
        config = self._oidc_config or {}
        for name, field in (
            ('token', 'token_endpoint'),
            ('userinfo', 'userinfo_endpoint'),
            ('JWKS', 'jwks_uri'),
            ('end-session', 'end_session_endpoint'),
            ('introspection', 'introspection_endpoint'),
        ):
            if config.get(field) == url:
                return name
        return 'metadata'


def http_failure(backend, endpoint_name, url, response):
    """Log an HTTP error answer from Authentik and return the AuthentikError to raise for it."""
    status = response.status_code
    oauth_error = _oauth_error_code(response)
    logger.error(
        'Authentik %s endpoint %s answered HTTP %s%s',
        endpoint_name,
        logsafe.safe(url),
        status,
        f' ({oauth_error})' if oauth_error else '',
    )
    if _rejects_client_credentials(endpoint_name, status, oauth_error):
        logger.error(
            "Authentik does not accept NetBox's client credentials: check that "
            'SOCIAL_AUTH_AUTHENTIK_KEY and SOCIAL_AUTH_AUTHENTIK_SECRET are the Client ID and Client '
            'Secret of the Authentik provider'
        )
    failure = AuthentikError(backend, _http_error_message(endpoint_name, status, oauth_error))
    return _retryable(failure) if status >= 500 else failure


def _is_timeout(error):
    return (
        isinstance(error, requests.Timeout)
        or isinstance(error.__cause__, requests.Timeout)
        or ('timed out' in str(error).lower())
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
            return _("Authentik rejected NetBox's client credentials. Ask your NetBox administrator.")
        if oauth_error == 'invalid_grant':
            return _('Authentik did not accept this sign-in (it may have expired). Please sign in again.')
        return _(
            'Authentik did not accept this sign-in. Please sign in again; if it keeps failing, ask your '
            'NetBox administrator.'
        )
    return _('Authentik answered with an error (HTTP {status}). Try again later.').format(status=status)
