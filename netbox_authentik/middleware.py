"""Public entry point: the plugin's middleware, by the dotted paths PluginConfig.middleware names.

The code lives with its concern: sessions/registry.py (sessions a back-channel logout ended),
sessions/logout.py (logout at Authentik, login_redirect), signin/middleware.py (sign-in messages).
"""

from .sessions.logout import AuthentikLogoutMiddleware, LoginRedirectMiddleware
from .sessions.registry import EndedAuthentikSessionMiddleware
from .signin.middleware import AuthentikErrorMiddleware

__all__ = (
    'AuthentikErrorMiddleware',
    'AuthentikLogoutMiddleware',
    'EndedAuthentikSessionMiddleware',
    'LoginRedirectMiddleware',
)
