"""The sign-in failure whose short message NetBox shows on its login page."""

from django.utils.translation import gettext as _
from social_core.exceptions import AuthException


class AuthentikError(AuthException):
    """A sign-in failure with a short message meant for the person on NetBox's login page."""

    def __str__(self):
        return str(self.args[0]) if self.args else _('Sign-in through Authentik failed.')
