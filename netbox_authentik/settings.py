"""The one place that reads the plugin's settings, with their defaults and their validation.

Settings are read at call time, so ``override_settings`` works in tests and a changed
``PLUGINS_CONFIG`` needs no restart of this module.
"""

import difflib
from dataclasses import dataclass

from django.conf import settings

PLUGIN_NAME = 'netbox_authentik'

GROUP_SYNC_CHOICES = ('mirror', 'add', 'off')
MISSING_GROUPS_CLAIM_CHOICES = ('keep', 'clear')
FETCH_USERINFO_CHOICES = ('auto', 'always', 'never')
ASSOCIATE_EXISTING_USERS_CHOICES = (None, 'username', 'verified_email', 'email')
USERNAME_COLLISION_CHOICES = ('refuse', 'suffix')
SCIM_USER_DELETE_CHOICES = ('deactivate', 'delete')
API_TOKEN_WRITE_CHOICES = ('scope', 'never', 'always')
# An exchanged API token never lives longer than a day, whatever api_token_lifetime says.
API_TOKEN_MAX_LIFETIME = 86400


@dataclass(frozen=True)
class Setting:
    """One plugin setting: its default, the types it accepts and, optionally, its choices."""

    default: object
    types: tuple
    choices: tuple | None = None
    positive: bool = False
    maximum: int | None = None


SETTINGS = {
    # Login button on NetBox's login page; an MDI icon name, or an image URL (contains '://').
    'login_button_label': Setting('Authentik', (str,)),
    'login_button_icon': Setting('shield-key-outline', (str, type(None))),
    # The claim NetBox usernames come from.
    'username_claim': Setting('preferred_username', (str,)),
    # With a bare base URL as SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT, the application's slug.
    'application_slug': Setting(None, (str, type(None))),
    # RSA private key (PEM text, or a path to a PEM file) for Authentik's encrypted id_tokens.
    'id_token_decryption_key': Setting(None, (str, type(None))),
    # 'auto': ask userinfo only when the id_token lacks a claim the plugin uses.
    'fetch_userinfo': Setting('auto', (str,), FETCH_USERINFO_CHOICES),
    # How long discovery and JWKS stay in Django's cache (Redis: shared by every worker).
    'metadata_cache_seconds': Setting(3600, (int,), positive=True),
    # Timeout in seconds of every request NetBox makes to Authentik.
    'http_timeout': Setting(10, (int, float), positive=True),
    # Group sync: see groups/plan.py and docs/groups.md.
    'group_sync': Setting('mirror', (str,), GROUP_SYNC_CHOICES),
    'group_map': Setting({}, (dict,)),
    'auto_create_groups': Setting(False, (bool,)),
    'group_filter': Setting(None, (str, list, type(None))),
    'protected_groups': Setting([], (list,)),
    'superuser_groups': Setting(None, (list, type(None))),
    'missing_groups_claim': Setting('keep', (str,), MISSING_GROUPS_CLAIM_CHOICES),
    # Who may use NetBox: Authentik group names or globs; a person in none of them is refused. Empty: anyone.
    'required_groups': Setting([], (list,)),
    # Link a first sign-in to an existing NetBox user: None (never), 'username', 'verified_email', 'email'.
    'associate_existing_users': Setting(None, (str, type(None)), ASSOCIATE_EXISTING_USERS_CHOICES),
    # A first sign-in whose username a NetBox user already has: 'refuse' it (the admin links the two by
    # hand), or 'suffix': social-core's way, a new user 'bob' plus 16 hex characters. A name differing
    # only in case is refused in both modes.
    'username_collision': Setting('refuse', (str,), USERNAME_COLLISION_CHOICES),
    # Logout: end the Authentik session too, and where Authentik sends the person back afterwards.
    'logout_at_authentik': Setting(True, (bool,)),
    'post_logout_redirect_uri': Setting(None, (str, type(None))),
    # Send /login/ straight to Authentik (/login/?local=1 still shows the local form).
    'login_redirect': Setting(False, (bool,)),
    # SCIM DELETE /Users/{id} (a person deleted in Authentik): 'deactivate' the NetBox user, keeping its
    # history, or 'delete' it.
    'scim_user_delete': Setting('deactivate', (str,), SCIM_USER_DELETE_CHOICES),
    # API access (netbox_authentik/exchange/): NetBox API tokens in exchange for Authentik tokens.
    'api_token_exchange': Setting(False, (bool,)),
    # Seconds an exchanged NetBox token lives at most (never past the Authentik token's exp); at most a day.
    'api_token_lifetime': Setting(3600, (int,), positive=True, maximum=API_TOKEN_MAX_LIFETIME),
    # Client ids, besides SOCIAL_AUTH_AUTHENTIK_KEY, whose Authentik tokens may be exchanged (aud or azp).
    'api_token_audiences': Setting([], (list,)),
    # Ask Authentik's introspection endpoint whether the subject token is still active.
    'api_token_introspect': Setting(False, (bool,)),
    # 'scope': write-enabled only when the Authentik token's scope holds netbox:write; 'never'; 'always'.
    'api_token_write': Setting('scope', (str,), API_TOKEN_WRITE_CHOICES),
    # Issue API tokens to NetBox superusers too (a stolen Authentik token would become a superuser token).
    'api_token_superusers': Setting(False, (bool,)),
    # Create the NetBox user of an unknown sub by the first sign-in's rules, instead of refusing.
    'api_token_create_users': Setting(False, (bool,)),
}

DEFAULTS = {name: spec.default for name, spec in SETTINGS.items()}


def plugin_config():
    """Return the admin's PLUGINS_CONFIG entry for this plugin (never None)."""
    config = getattr(settings, 'PLUGINS_CONFIG', {}).get(PLUGIN_NAME) or {}
    return config if isinstance(config, dict) else {}


def get(name):
    """Return the value of one plugin setting, falling back to its documented default."""
    if name not in SETTINGS:
        raise KeyError(f'Unknown netbox_authentik setting: {name}')
    value = plugin_config().get(name, SETTINGS[name].default)
    spec = SETTINGS[name]
    if (
        not _type_ok(value, spec)
        or (spec.choices is not None and value not in spec.choices)
        or (spec.positive and value <= 0)
        or (spec.maximum is not None and value > spec.maximum)
    ):
        # A wrong value is reported by the system checks; at run time the default is the safe choice.
        return spec.default
    return value


def _type_ok(value, spec):
    # bool is an int subclass: a True timeout is a mistake, not a number.
    if isinstance(value, bool) and bool not in spec.types:
        return False
    return isinstance(value, spec.types)


def _type_names(spec):
    return ' or '.join('None' if t is type(None) else t.__name__ for t in spec.types)


def problems(config=None):
    """Return a list of (setting, message) for everything wrong in the plugin's settings."""
    config = plugin_config() if config is None else config
    found = []
    for name in sorted(config):
        if name not in SETTINGS:
            close = difflib.get_close_matches(name, SETTINGS, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ''
            found.append((name, f"Unknown setting '{name}'.{hint}"))
            continue
        spec = SETTINGS[name]
        value = config[name]
        if not _type_ok(value, spec):
            found.append((name, f"'{name}' must be {_type_names(spec)}, not {type(value).__name__}."))
        elif spec.choices is not None and value not in spec.choices:
            choices = ', '.join(repr(c) for c in spec.choices)
            found.append((name, f"'{name}' is {value!r}; choose one of {choices}."))
        elif spec.maximum is not None and value > spec.maximum:
            found.append((name, f"'{name}' is {value!r}; it can be at most {spec.maximum}."))
    return found


# -- NetBox settings the plugin depends on ---------------------------------------------------------

BACKEND = 'netbox_authentik.backends.AuthentikOIDCAuth'
# The backend's social-core name: /oauth/login/authentik/, and the provider of its identity links.
BACKEND_NAME = 'authentik'


def remote_auth_backends():
    """REMOTE_AUTH_BACKEND as a list: NetBox accepts a string or a list."""
    value = getattr(settings, 'REMOTE_AUTH_BACKEND', None)
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def plugin_installed():
    """True when 'netbox_authentik' is in PLUGINS."""
    return PLUGIN_NAME in getattr(settings, 'PLUGINS', [])


def backend_in_use():
    """True when REMOTE_AUTH_BACKEND names the Authentik backend."""
    return BACKEND in remote_auth_backends()
