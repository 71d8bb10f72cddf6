"""System checks: configuration problems, each named with its fix, never a crash.

Django runs them for `netbox check`, `migrate` and `runserver`; diagnostics/startup.py logs them once per server
process (gunicorn runs no checks). Every id is listed in docs/operations.md. The one check that reads the
database runs only when Django passes it 'default': `netbox check --database default`, and `migrate`.

Every problem is reported as a Warning: Django refuses `migrate`, `runserver` and every other command on
an Error, and nothing here may stop NetBox or its upgrade. The ids carry the weight instead: while an E id
stands, sign-in through Authentik is refused (startup.sign_in_refusal); a W id weakens it.
"""

import functools
import logging
import re

from django.conf import settings
from django.core import checks
from django.db import Error as DatabaseError

from .. import access, pipeline
from .. import settings as plugin_settings
from ..settings import backend_in_use, plugin_installed, remote_auth_backends
from ..signin.endpoint import CONFIG, ENDPOINT, ISSUER_EXAMPLE, SHARED_ENDPOINTS, endpoint_problems, is_missing  # noqa: F401

logger = logging.getLogger('netbox_authentik.checks')  # the name admins configure (README: Logging)

TAG = 'netbox_authentik'
PLUGIN_NAME = plugin_settings.PLUGIN_NAME
BACKEND = plugin_settings.BACKEND
GENERIC_BACKEND = 'social_core.backends.open_id_connect.OpenIdConnectAuth'
GENERIC_PREFIX = 'SOCIAL_AUTH_OIDC_'
AUTHENTIK_PREFIX = 'SOCIAL_AUTH_AUTHENTIK_'
POSITIVE_SETTINGS = ('http_timeout', 'metadata_cache_seconds', 'api_token_lifetime')

_CHECKS = []


def _register(*tags):
    """Register a check under the plugin's tag, guarded so that a bug in it is one warning, never a traceback."""

    def decorator(check):
        @functools.wraps(check)
        def guarded(app_configs=None, databases=None, **kwargs):
            if app_configs is not None and PLUGIN_NAME not in {app_config.label for app_config in app_configs}:
                return []
            try:
                return list(check(databases=databases))
            except Exception as error:  # a broken configuration must never stop NetBox or its commands
                logger.debug('netbox_authentik check %s failed', check.__name__, exc_info=True)
                return [_crashed(check.__name__, error)]

        checks.register(guarded, TAG, *tags)
        _CHECKS.append(guarded)
        return guarded

    return decorator


def _crashed(name, error):
    # First line only, shortened: the message stays one line.
    detail = ''.join(str(error).strip().splitlines()[:1])[:120]
    return checks.Warning(
        f'The netbox_authentik check {name} failed unexpectedly: {type(error).__name__}{": " if detail else ""}'
        f'{detail}.',
        hint='The other checks still ran. Please report this to netbox-authentik with your (redacted) configuration.',
        id='netbox_authentik.W006',
    )


def configuration_problems(databases=None):
    """Run every plugin check in order; the database one only when `databases` includes 'default'."""
    found = []
    for check in _CHECKS:
        found.extend(check(databases=databases))
    return found


def breaks_sign_in(message):
    """True for a problem that stops sign-in through Authentik: its id is an E id (reported as a Warning)."""
    return bool(re.fullmatch(r'netbox_authentik\.E\d+', message.id or ''))


# -- helpers -------------------------------------------------------------------------------------


def quote_names(values):
    """'a', 'b', 5: values as Python literals, for messages."""
    return ', '.join(repr(value) for value in values)


def group_map_netbox_groups(group_map):
    """Return the NetBox group names a group_map maps to (well-formed entries only), sorted."""
    names = set()
    for target in (group_map or {}).values():
        if isinstance(target, str):
            names.add(target)
        elif isinstance(target, (list, tuple)):
            names.update(item for item in target if isinstance(item, str))
    return sorted(names)


def missing_netbox_groups(names):
    """Return the names that have no NetBox group; raises django.db.Error when the database cannot answer."""
    from users.models import Group

    existing = set(Group.objects.filter(name__in=names).values_list('name', flat=True))
    return sorted(set(names) - existing)


MISSING_GROUP_HINT = (
    'Create the group in NetBox (Admin > Authentication > Groups) or fix the name (names are '
    'case-sensitive), or set auto_create_groups: True.'
)


def _list_of_strings_problem(name, value, what, check_id):
    """An Error when a list-valued setting holds something other than strings (the type itself is E010)."""
    if not isinstance(value, list):
        return []
    bad = [item for item in value if not isinstance(item, str)]
    if not bad:
        return []
    return [
        checks.Warning(
            f"{CONFIG}['{name}'] must list {what} as strings; it contains {quote_names(bad)}.",
            hint="Write each name in quotes, e.g. ['netbox-admins'].",
            id=check_id,
        )
    ]


# -- the checks, in id order --------------------------------------------------------------------


@_register()
def check_backend_configured(**kwargs):
    """E001: the plugin is installed but nobody can sign in through it."""
    if not plugin_installed() or backend_in_use():
        return []
    return [
        checks.Warning(
            f"'{BACKEND}' is not in REMOTE_AUTH_BACKEND: nobody can sign in through Authentik.",
            hint=f"Set REMOTE_AUTH_BACKEND = '{BACKEND}' in configuration.py (or add it to the list).",
            id='netbox_authentik.E001',
        )
    ]


@_register()
def check_plugin_installed(**kwargs):
    """E002: the backend is used without the plugin; runs only where this module gets imported."""
    if not backend_in_use() or plugin_installed():
        return []
    return [
        checks.Warning(
            f"REMOTE_AUTH_BACKEND names the Authentik backend but '{PLUGIN_NAME}' is not in PLUGINS.",
            hint=f"Add '{PLUGIN_NAME}' to PLUGINS in configuration.py. Until then the backend refuses every sign-in: "
            'without the plugin it would sign people in with no group sync and no superuser revocation.',
            id='netbox_authentik.E002',
        )
    ]


@_register()
def check_client_credentials(**kwargs):
    """E003, E004: the provider's client id and secret."""
    found = []
    if is_missing(getattr(settings, 'SOCIAL_AUTH_AUTHENTIK_KEY', None)):
        found.append(
            checks.Warning(
                'SOCIAL_AUTH_AUTHENTIK_KEY is missing or empty.',
                hint="Set it to the provider's Client ID (Authentik: Applications > Providers > your provider).",
                id='netbox_authentik.E003',
            )
        )
    if is_missing(getattr(settings, 'SOCIAL_AUTH_AUTHENTIK_SECRET', None)):
        found.append(
            checks.Warning(
                'SOCIAL_AUTH_AUTHENTIK_SECRET is missing or empty.',
                hint="Set it to the provider's Client Secret (Authentik: Applications > Providers > your provider).",
                id='netbox_authentik.E004',
            )
        )
    return found


@_register()
def check_endpoint(**kwargs):
    """E005-E008, W001: SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT must be the application's issuer."""
    return endpoint_problems(getattr(settings, ENDPOINT, None), plugin_settings.get('application_slug'))


@_register()
def check_plugin_settings(**kwargs):
    """E009-E011: unknown keys, wrong types and invalid choices in PLUGINS_CONFIG['netbox_authentik']."""
    config = plugin_settings.plugin_config()
    found = []
    for name, problem in plugin_settings.problems(config):
        spec = plugin_settings.SETTINGS.get(name)
        if spec is None:
            found.append(
                checks.Warning(
                    f'{CONFIG}: {problem}',
                    hint='Rename or remove it; docs/configuration.md lists every setting.',
                    id='netbox_authentik.E009',
                )
            )
            continue
        # problems() reports the type before the choice: a value of the right type was a bad choice.
        check_id = 'netbox_authentik.E011' if plugin_settings._type_ok(config[name], spec) else 'netbox_authentik.E010'
        found.append(
            checks.Warning(
                f'{CONFIG}: {problem}',
                hint=f'Fix it in configuration.py; until then the plugin uses the default, {spec.default!r}.',
                id=check_id,
            )
        )
    return found


@_register()
def check_group_settings(**kwargs):
    """E012-E015: the contents of group_map, superuser_groups, group_filter and protected_groups."""
    config = plugin_settings.plugin_config()
    found = []
    group_map = config.get('group_map')
    if isinstance(group_map, dict):
        for key, target in group_map.items():
            if not isinstance(key, str):
                found.append(
                    checks.Warning(
                        f"{CONFIG}['group_map'] has the key {key!r}, which is not an Authentik group name (a string).",
                        hint='Use the Authentik group name, in quotes, as the key.',
                        id='netbox_authentik.E012',
                    )
                )
            elif not (
                isinstance(target, str) or (isinstance(target, list) and all(isinstance(item, str) for item in target))
            ):
                found.append(
                    checks.Warning(
                        f"{CONFIG}['group_map'][{key!r}] is {target!r}, not a NetBox group name or a list of names.",
                        hint="Map it to a NetBox group name, e.g. 'Network engineers', or a list of names.",
                        id='netbox_authentik.E012',
                    )
                )
    for name, what, check_id in (
        ('superuser_groups', 'Authentik group names', 'netbox_authentik.E013'),
        ('group_filter', 'group name patterns', 'netbox_authentik.E014'),
        ('protected_groups', 'NetBox group names', 'netbox_authentik.E015'),
    ):
        found += _list_of_strings_problem(name, config.get(name), what, check_id)
    return found


@_register()
def check_durations(**kwargs):
    """E016: http_timeout, metadata_cache_seconds and api_token_lifetime must be more than 0 seconds."""
    config = plugin_settings.plugin_config()
    found = []
    for name in POSITIVE_SETTINGS:
        value = config.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
            found.append(
                checks.Warning(
                    f"{CONFIG}['{name}'] is {value!r}; it must be more than 0 seconds.",
                    hint=f'Set a number of seconds above 0; the default is {plugin_settings.SETTINGS[name].default}.',
                    id='netbox_authentik.E016',
                )
            )
    return found


@_register()
def check_social_core_7_settings(**kwargs):
    """E017, E018: the settings only social-core 7 reads, when set: a bool, and a positive whole number."""
    found = []
    name = 'SOCIAL_AUTH_AUTHENTIK_ALLOW_UNVERIFIED_LEGACY_UID_MIGRATION'
    value = getattr(settings, name, None)
    if value is not None and not isinstance(value, bool):
        found.append(
            checks.Warning(
                f'{name} is {value!r}; it must be True or False. Until then links without a recorded claim '
                '(made before social-auth-app-django 8) cannot sign in.',
                hint='Remove it to let the backend decide (it accepts such links as sub links), or set True or False.',
                id='netbox_authentik.E017',
            )
        )
    name = 'SOCIAL_AUTH_AUTHENTIK_STATE_LIFETIME'
    value = getattr(settings, name, None)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        found.append(
            checks.Warning(
                f'{name} is {value!r}; it must be a whole number of seconds above 0. '
                'Until then no sign-in through Authentik can start (social-core 7).',
                hint='Remove it (the default is 3600, as long as a sign-in nonce lives) or set a number such as 3600.',
                id='netbox_authentik.E018',
            )
        )
    return found


@_register()
def check_generic_backend_leftovers(**kwargs):
    """W002, I001: settings from the generic OpenID Connect recipe that the Authentik backend does not read."""
    if not backend_in_use() or GENERIC_BACKEND in remote_auth_backends():
        return []
    found = []
    for name in sorted(setting for setting in dir(settings) if setting.startswith(GENERIC_PREFIX)):
        renamed = AUTHENTIK_PREFIX + name[len(GENERIC_PREFIX) :]
        hint = f'Remove it: {renamed} is already set.' if hasattr(settings, renamed) else f'Rename it to {renamed}.'
        found.append(
            checks.Warning(
                f'{name} is left over from the generic OpenID Connect backend; the Authentik backend does not read it.',
                hint=hint,
                id='netbox_authentik.W002',
            )
        )
    protected = getattr(settings, 'SOCIAL_AUTH_PROTECTED_USER_FIELDS', None) or ()
    if isinstance(protected, (list, tuple, set)) and 'groups' in protected:
        found.append(
            checks.Info(
                "SOCIAL_AUTH_PROTECTED_USER_FIELDS lists 'groups', which the Authentik backend does not need.",
                hint="Remove 'groups' from it: the plugin syncs groups in its own pipeline step.",
                id='netbox_authentik.I001',
            )
        )
    return found


def configured_pipeline():
    """Return (setting name, pipeline) that the authentik backend reads, as social-core looks it up."""
    if hasattr(settings, 'SOCIAL_AUTH_AUTHENTIK_PIPELINE'):
        return 'SOCIAL_AUTH_AUTHENTIK_PIPELINE', settings.SOCIAL_AUTH_AUTHENTIK_PIPELINE
    return 'SOCIAL_AUTH_PIPELINE', getattr(settings, 'SOCIAL_AUTH_PIPELINE', pipeline.NETBOX_DEFAULT_PIPELINE)


@_register()
def check_pipeline(**kwargs):
    """W003, W004: a custom pipeline must contain the plugin's steps, sync_groups before load_extra_data."""
    source, configured = configured_pipeline()
    steps = list(pipeline.resolve_pipeline(configured))
    found = []
    for step, (consequence, where) in pipeline.REQUIRED_STEPS.items():
        if step not in steps:
            found.append(
                checks.Warning(
                    f"{source} lacks '{step}': {consequence}.",
                    hint=f"Add '{step}' {where}, or remove {source} from configuration.py to run the plugin's own "
                    'pipeline.',
                    id='netbox_authentik.W003',
                )
            )
    if (
        pipeline.SYNC_GROUPS in steps
        and pipeline.LOAD_EXTRA_DATA in steps
        and (steps.index(pipeline.SYNC_GROUPS) > steps.index(pipeline.LOAD_EXTRA_DATA))
    ):
        found.append(
            checks.Warning(
                f"In {source}, '{pipeline.SYNC_GROUPS}' comes after '{pipeline.LOAD_EXTRA_DATA}': the groups it "
                'records are not saved.',
                hint=f"Move '{pipeline.SYNC_GROUPS}' before '{pipeline.LOAD_EXTRA_DATA}'.",
                id='netbox_authentik.W004',
            )
        )
    return found


@_register()
def check_required_groups(**kwargs):
    """E019, E020: required_groups' items, and a pipeline that enforces it before creating or linking users."""
    value = plugin_settings.plugin_config().get('required_groups')
    return access.required_groups_problems(value, pipeline.resolve_pipeline(configured_pipeline()[1]) if value else ())


@_register(checks.Tags.database)
def check_group_map_groups_exist(databases=None, **kwargs):
    """W005: every NetBox group that group_map names exists (unless the plugin creates them)."""
    if 'default' not in (databases or ()):
        return []
    if plugin_settings.get('auto_create_groups') or plugin_settings.get('group_sync') == 'off':
        return []
    names = group_map_netbox_groups(plugin_settings.get('group_map'))
    if not names:
        return []
    try:
        missing = missing_netbox_groups(names)
    except DatabaseError:
        # Not migrated yet, or not reachable: `migrate` and the database checks say so themselves.
        return []
    return [
        checks.Warning(
            f"{CONFIG}['group_map'] names the NetBox group {name!r}, which does not exist.",
            hint=MISSING_GROUP_HINT,
            id='netbox_authentik.W005',
        )
        for name in missing
    ]
