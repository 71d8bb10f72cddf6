"""The "Authentik" button on NetBox's login page."""

from django.conf import settings

from .. import settings as plugin_settings

BACKEND_NAME = plugin_settings.BACKEND_NAME


class LoginButton:
    """NetBox's (label, icon) pair for the button, read from the plugin settings when the page renders.

    NetBox unpacks AUTH_BACKEND_ATTRS[name] as `label, icon`; reading lazily keeps
    override_settings and a changed PLUGINS_CONFIG working without a re-import.
    """

    def __iter__(self):
        return iter((plugin_settings.get('login_button_label'), plugin_settings.get('login_button_icon')))

    def __repr__(self):
        return f'LoginButton{tuple(self)!r}'


def install():
    """Register the button, unless the admin's own SOCIAL_AUTH_BACKEND_ATTRS['authentik'] is set."""
    from netbox.authentication import AUTH_BACKEND_ATTRS

    if BACKEND_NAME in getattr(settings, 'SOCIAL_AUTH_BACKEND_ATTRS', {}):
        return
    AUTH_BACKEND_ATTRS[BACKEND_NAME] = LoginButton()
