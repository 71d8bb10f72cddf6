"""The social-core backend that signs people in to NetBox through Authentik.

A thin subclass of social-core's OpenIdConnectAuth. The work is done by the modules it wires in:
provider.py (endpoint, discovery and JWKS, HTTP failures), tokens.py (id_token verification),
claims.py (reading claims), pipeline.py (the sign-in steps), guards.py and nonces.py.
"""

import hashlib
import logging

from django.db import connection, transaction
from django.utils.translation import gettext as _
from social_core.backends.open_id_connect import OpenIdConnectAuth
from social_core.exceptions import SocialAuthBaseException

from . import guards, logsafe, nonces, startup
from .claims import USED_CLAIMS, AuthentikClaimsMixin  # noqa: F401  (USED_CLAIMS: public name)
from .errors import AuthentikError, describe
from .metadata import CACHE_PREFIX  # noqa: F401  (public name, shared by the plugin's cache entries)
from .pipeline import refuse_unlink_without_permission, resolve_pipeline
from .provider import WELL_KNOWN, AuthentikProviderMixin, normalize_endpoint  # noqa: F401  (public names)
from .tokens import (  # noqa: F401  (public names)
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    MalformedTokenError,
    TokenVerificationMixin,
    UnknownSigningKeyError,
)

logger = logging.getLogger(__name__)


class AuthentikOIDCAuth(AuthentikProviderMixin, TokenVerificationMixin, AuthentikClaimsMixin, OpenIdConnectAuth):
    """Authentik's OAuth2/OpenID provider, with its signing modes, URL layout and claims."""

    name = 'authentik'
    DEFAULT_USE_PKCE = True
    PKCE_DEFAULT_CODE_CHALLENGE_METHOD = 'S256'
    # The access token is of no use to NetBox after sign-in; the id_token is kept as logout hint.
    EXTRA_DATA = ['id_token', ('sub', 'id')]
    # social-core 7 expires a pending sign-in's state after this; as long as its nonce lives (nonces.py).
    STATE_LIFETIME = nonces.NONCE_LIFETIME

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._oidc_config = None

    def auth_url(self):
        return self._guarded(super().auth_url)

    def auth_complete(self, *args, **kwargs):
        return self._guarded(self._complete, *args, **kwargs)

    def _complete(self, *args, **kwargs):
        if self.data.get('error') == 'access_denied':
            # Authentik's answer when its policies (a binding on the application) refuse the person.
            logger.info('Authentik refused the sign-in (access_denied): a policy on the application, or consent denied')
            raise AuthentikError(self, guards.ACCESS_DENIED)
        return super().auth_complete(*args, **kwargs)

    def _guarded(self, step, *args, **kwargs):
        """Run a sign-in step; anything unexpected is logged and shown as a short message, never a 500."""
        if refusal := guards.refusal_without_plugin(getattr(self.strategy, 'request', None)):
            raise AuthentikError(self, refusal)
        if refusal := startup.sign_in_refusal():
            raise AuthentikError(self, refusal)
        try:
            result = step(*args, **kwargs)
        except AuthentikError:
            raise
        except SocialAuthBaseException as error:
            # NetBox shows the person only a generic message, so the reason (never a token) goes to the log.
            # It may quote the callback's error_description: escaped, so it cannot forge a log line.
            logger.warning('Sign-in through Authentik rejected: %s', logsafe.safe(describe(error)))
            raise
        except Exception as error:
            logger.exception('Sign-in through Authentik failed unexpectedly: %s', type(error).__name__)
            raise AuthentikError(self, _('Sign-in through Authentik failed. Please try again.')) from error
        guards.warn_reusable_subject(self.id_token)
        return result

    def get_and_store_nonce(self, url, state):
        """Store the sign-in's nonce with its time; rows no sign-in can use any more are deleted (nonces.py)."""
        return nonces.store_nonce(self, url, state)

    def allow_unverified_legacy_uid_migration(self, old_id_key, id_key):
        """Whether a link without a recorded id key is this identity's `sub` link (asked by social-core 7 only).

        social-auth-app-django 8 records which claim a link's uid came from (`id_key`), and leaves links made
        before it, or by the plugin (authentik_link, SCIM, the link pages), without one. social-core 7 then
        refuses their sign-in unless the backend vouches for them. This backend has only ever stored the
        id_token's `sub` as uid, so it vouches while ID_KEY is not set; the setting
        SOCIAL_AUTH_AUTHENTIK_ALLOW_UNVERIFIED_LEGACY_UID_MIGRATION decides instead where an admin sets it;
        any value but True or False refuses (check E017 names it), rather than a string 'False' allowing.
        """
        chosen = self.setting('ALLOW_UNVERIFIED_LEGACY_UID_MIGRATION', None)
        if chosen is None:
            return old_id_key == '' and id_key == self.id_key() == 'sub' and not self.setting('ID_KEY')
        return chosen is True

    def disconnect(self, *args, **kwargs):
        """Unlink through social-auth's /oauth/disconnect/authentik/, only with the permission to delete the link.

        Checked here, before whichever disconnect pipeline social-core runs (SOCIAL_AUTH_AUTHENTIK_DISCONNECT_PIPELINE,
        then SOCIAL_AUTH_DISCONNECT_PIPELINE, then its default), so that no pipeline setting leaves it out.
        """
        refuse_unlink_without_permission(self, *args, **kwargs)
        return super().disconnect(*args, **kwargs)

    def pipeline(self, pipeline, pipeline_index=0, *args, **kwargs):
        """Run the sign-in pipeline in one transaction, serialised per Authentik identity."""
        # Django's authenticate() runs this on a fresh instance; the verified id_token is on kwargs['backend'].
        subject = (getattr(kwargs.get('backend'), 'id_token', None) or self.id_token or {}).get('sub') or ''
        with transaction.atomic():
            if subject:
                # Two first sign-ins of one identity must not create two NetBox users.
                lock_id = int.from_bytes(
                    hashlib.sha256(f'{self.name}:{subject}'.encode()).digest()[:8], 'big', signed=True
                )
                with connection.cursor() as cursor:
                    cursor.execute('SELECT pg_advisory_xact_lock(%s)', [lock_id])
            user = super().pipeline(resolve_pipeline(pipeline), pipeline_index, *args, **kwargs)
            # Refused inside the transaction: a disabled account is not changed by a sign-in it cannot use.
            guards.refuse_inactive(self, user)
            return user


# System checks do not see a backend configured without the plugin; say it when the backend loads.
# The backend also refuses every sign-in then (guards.refusal_without_plugin, in _guarded).
startup.log_backend_without_plugin()
