"""The sign-in failures the plugin raises, and the one place that knows both social-core exception models.

social-core 5 gives every failure its own class and puts its reason in str(). social-core 7 has a few
broad classes with a `code`, a generic, safe str() and the reason in `detail`; AuthTokenError,
AuthConnectionError and MissingBackend are gone. Everything else in the plugin uses the names below.
"""

from django.utils.translation import gettext as _
from social_core.exceptions import AuthException, SocialAuthBaseException

try:  # social-core 5
    from social_core.exceptions import AuthTokenError as _TokenFailure
    from social_core.exceptions import MissingBackend as _MissingBackend
except ImportError:  # social-core 7 (6.1 and 6.2 have the same exceptions, untested)
    from social_core.exceptions import AuthResponseError as _TokenFailure

    _MissingBackend = None

# True with social-core 7: exceptions take code=/stage= and keep their reason in `detail`.
STRUCTURED = _MissingBackend is None


class AuthentikError(AuthException):
    """A sign-in failure with a short message meant for the person on NetBox's login page."""

    def __init__(self, backend, message=None):
        super().__init__(backend, *([message] if message is not None else []))
        self.message = message

    def __str__(self):
        # The same text with every social-core version (social-core 7's str() would be a generic one).
        return str(self.message) if self.message is not None else _('Sign-in through Authentik failed.')


class TokenError(_TokenFailure):
    """A token (or an answer about one) NetBox refuses: social-core's own kind of token failure.

    Its reason goes to the log only; NetBox's login page shows its generic single sign-on message.
    """

    # social-core 7 reads the code (its REASONS name the codes); older versions ignore it.
    default_code = 'invalid_claim'

    def __init__(self, backend, reason, code=None):
        if STRUCTURED:
            super().__init__(backend, reason, code=code, stage='token_validation')
        else:
            super().__init__(backend, reason)


class BackendNotConfiguredError(SocialAuthBaseException):
    """The authentik backend is not in REMOTE_AUTH_BACKEND (social-core 5: MissingBackend; 7: code backend_missing)."""

    def __str__(self):
        return 'the authentik backend is not configured'


def is_missing_backend(error):
    """Whether social-core raised `error` because the named backend is not configured."""
    if _MissingBackend is not None:
        return isinstance(error, _MissingBackend)
    return getattr(error, 'code', None) == 'backend_missing'


def describe(error):
    """A social-core failure for the log, with its reason, which social-core 7 keeps out of str().

    social-core 5: str(error), e.g. 'Token error: Incorrect id_token: nonce'. social-core 7: the generic
    text, then the parameter or setting at fault, the provider's error code and the reason in parentheses,
    e.g. 'The authentication response could not be matched to the request. (Incorrect id_token: nonce)' or
    'Authentication configuration is invalid. (STATE_LIFETIME)'. The plugin's own AuthentikError:
    its message. May quote outside text (an error_description): pass it through logsafe.safe().
    """
    if not STRUCTURED or isinstance(error, AuthentikError):
        return str(error)
    parts = (getattr(error, 'parameter', None), getattr(error, 'provider_code', None), getattr(error, 'detail', None))
    reason = ': '.join(str(part) for part in parts if part not in (None, ''))
    return f'{error} ({reason})' if reason else str(error)
