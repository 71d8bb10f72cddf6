"""Sign in to NetBox through Authentik."""

import copy

__version__ = '0.1.0'

try:
    from netbox.plugins import PluginConfig
except ImportError:  # the console script (netbox_authentik.exchange.cli) on a machine without NetBox
    PluginConfig = None


class NetBoxAuthentikConfig(PluginConfig or object):
    """NetBox plugin: the Authentik sign-in backend, group mapping, checks and association pages."""

    name = 'netbox_authentik'
    verbose_name = 'Authentik'
    description = 'Sign in to NetBox through Authentik'
    version = __version__
    author = 'netbox-authentik developers'
    base_url = 'authentik'
    min_version = '4.7.0'
    # Compared as a full version: 4.7.99 admits every 4.7 patch release.
    max_version = '4.7.99'
    # Every key, its default and what it does: netbox_authentik/settings.py (SETTINGS) and docs/configuration.md.
    default_settings = {}
    # Sessions a back-channel logout ended (netbox_authentik/sessions/registry.py); logout that ends the Authentik
    # session, and login_redirect (netbox_authentik/sessions/logout.py).
    middleware = [
        'netbox_authentik.middleware.EndedAuthentikSessionMiddleware',
        'netbox_authentik.middleware.AuthentikLogoutMiddleware',
        'netbox_authentik.middleware.LoginRedirectMiddleware',
        'netbox_authentik.middleware.AuthentikErrorMiddleware',
    ]

    def ready(self):
        super().ready()
        from .diagnostics import startup
        from .groups import rules as mapping_rules  # noqa: F401 (mapping_rules: its signal receivers)
        from .signin import login_button

        login_button.install()
        startup.keep_links_out_of_view_exemption()
        # Not here and now: ready() runs before every management command, `netbox upgrade --help` included.
        startup.log_at_server_start()


def _defaults():
    from .settings import DEFAULTS

    return copy.deepcopy(DEFAULTS)


NetBoxAuthentikConfig.default_settings = _defaults()
config = NetBoxAuthentikConfig
