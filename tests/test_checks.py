"""System checks: each configuration mistake gives exactly its message, and a clean configuration none."""

import pytest
from django.conf import settings
from django.core import checks as django_checks
from django.db import OperationalError
from django.test import override_settings

from netbox_authentik.diagnostics import checks, startup
from netbox_authentik.pipeline import (
    AUTHENTIK_PIPELINE,
    LOAD_EXTRA_DATA,
    NETBOX_DEFAULT_PIPELINE,
    REFUSE_SECOND_IDENTITY,
    REFUSE_USERNAME_COLLISION,
    SYNC_GROUPS,
)

BACKEND = 'netbox_authentik.backends.AuthentikOIDCAuth'
ENDPOINT = 'SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT'
CONFIG = "PLUGINS_CONFIG['netbox_authentik']"
ISSUER_HINT = (
    "Set it to the provider's OpenID Configuration Issuer, e.g. https://authentik.example.com/application/o/<slug>/"
)


def found(databases=None):
    """The whole list of (id, message) the plugin's checks produce now."""
    return [(message.id, message.msg) for message in checks.configuration_problems(databases=databases)]


def plugin_config(**values):
    return override_settings(PLUGINS_CONFIG={'netbox_authentik': values})


# -- a clean configuration, and the checks as Django runs them -----------------------------------


@pytest.mark.django_db
def test_clean_configuration_has_no_problems():
    assert found(databases=['default']) == []
    assert django_checks.run_checks(tags=['netbox_authentik'], databases=['default']) == []


def test_checks_are_registered_with_django_under_the_plugin_tag():
    with override_settings(SOCIAL_AUTH_AUTHENTIK_KEY=''):
        messages = django_checks.run_checks(tags=['netbox_authentik'])
    assert [(message.id, message.msg) for message in messages] == [
        ('netbox_authentik.E003', 'SOCIAL_AUTH_AUTHENTIK_KEY is missing or empty.'),
    ]


def test_checks_are_skipped_when_other_apps_are_checked():
    from django.apps import apps

    with override_settings(SOCIAL_AUTH_AUTHENTIK_KEY=''):
        assert checks.check_client_credentials(app_configs=[apps.get_app_config('dcim')]) == []
        assert len(checks.check_client_credentials(app_configs=[apps.get_app_config('netbox_authentik')])) == 1


# -- E001, E002: plugin and backend belong together ------------------------------------------------


@pytest.mark.parametrize(
    'backends', ['netbox.authentication.RemoteUserBackend', ['netbox.authentication.RemoteUserBackend']]
)
def test_E001_plugin_installed_without_backend(backends):
    with override_settings(REMOTE_AUTH_BACKEND=backends):
        assert found() == [
            (
                'netbox_authentik.E001',
                f"'{BACKEND}' is not in REMOTE_AUTH_BACKEND: nobody can sign in through Authentik.",
            ),
        ]
        assert checks.check_backend_configured()[0].hint == (
            f"Set REMOTE_AUTH_BACKEND = '{BACKEND}' in configuration.py (or add it to the list)."
        )


@pytest.mark.parametrize('backends', [BACKEND, ['netbox.authentication.RemoteUserBackend', BACKEND]])
def test_backend_as_string_or_in_a_list_is_accepted(backends):
    with override_settings(REMOTE_AUTH_BACKEND=backends):
        assert found() == []


def test_E002_backend_configured_without_plugin():
    with override_settings(PLUGINS=[]):
        assert found() == [
            (
                'netbox_authentik.E002',
                "REMOTE_AUTH_BACKEND names the Authentik backend but 'netbox_authentik' is not in PLUGINS.",
            ),
        ]


def test_neither_plugin_nor_backend_is_silent():
    with override_settings(PLUGINS=[], REMOTE_AUTH_BACKEND='netbox.authentication.RemoteUserBackend'):
        assert found() == []


# -- E003-E005: client credentials and endpoint present ---------------------------------------------


def test_E003_client_id_missing():
    with override_settings():
        del settings.SOCIAL_AUTH_AUTHENTIK_KEY
        assert found() == [('netbox_authentik.E003', 'SOCIAL_AUTH_AUTHENTIK_KEY is missing or empty.')]


def test_E004_client_secret_empty():
    with override_settings(SOCIAL_AUTH_AUTHENTIK_SECRET='  '):
        assert found() == [('netbox_authentik.E004', 'SOCIAL_AUTH_AUTHENTIK_SECRET is missing or empty.')]


@pytest.mark.parametrize('endpoint', ['', None])
def test_E005_endpoint_empty(endpoint):
    with override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=endpoint):
        assert found() == [('netbox_authentik.E005', f'{ENDPOINT} is missing or empty.')]
        assert checks.check_endpoint()[0].hint == ISSUER_HINT


def test_E005_endpoint_missing():
    with override_settings():
        del settings.SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT
        assert found() == [('netbox_authentik.E005', f'{ENDPOINT} is missing or empty.')]


# -- E006-E008, W001: the endpoint is the application's issuer ------------------------------------------


@pytest.mark.parametrize(
    'endpoint',
    [
        'not a url',
        'authentik.example.com/application/o/netbox/',
        'ftp://authentik.example.com/application/o/netbox/',
        'https://',
    ],
)
def test_E006_endpoint_not_an_http_url(endpoint):
    with override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=endpoint):
        assert found() == [('netbox_authentik.E006', f'{ENDPOINT} is {endpoint!r}, not an http(s) URL.')]


@pytest.mark.parametrize(
    'endpoint',
    [
        'https://authentik.example.com/application/o/netbox',
        'https://authentik.example.com/application/o/netbox/',
        'https://authentik.example.com/application/o/netbox/.well-known/openid-configuration',
        'https://authentik.example.com/auth/application/o/netbox/',
    ],
)
def test_issuer_with_or_without_slash_or_discovery_path_is_accepted(endpoint):
    with override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=endpoint):
        assert found() == []


@pytest.mark.parametrize('shared', ['authorize', 'token', 'userinfo'])
def test_E007_endpoint_is_a_shared_endpoint(shared):
    with override_settings(
        SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=f'https://authentik.example.com/application/o/{shared}/'
    ):
        assert found() == [
            (
                'netbox_authentik.E007',
                f"{ENDPOINT} points at Authentik's shared /application/o/{shared}/ endpoint, "
                "not at the application's issuer.",
            ),
        ]
        assert checks.check_endpoint()[0].hint == (
            "Use the application's issuer, https://authentik.example.com/application/o/<slug>/ (Authentik: the "
            "provider's OpenID Configuration Issuer)."
        )


def test_E007_endpoint_is_a_page_of_the_application():
    with override_settings(
        SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT='https://authentik.example.com/application/o/netbox/jwks/'
    ):
        assert found() == [
            (
                'netbox_authentik.E007',
                f'{ENDPOINT} points at /application/o/netbox/jwks/, a page of the application, '
                "not at the application's issuer.",
            ),
        ]
        assert checks.check_endpoint()[0].hint.startswith(
            "Use the application's issuer, https://authentik.example.com/application/o/netbox/ "
        )


def test_E008_bare_base_url_without_application_slug():
    with override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT='https://authentik.example.com/'):
        assert found() == [
            (
                'netbox_authentik.E008',
                f'{ENDPOINT} has no /application/o/<slug>/ path and application_slug is not set.',
            ),
        ]


def test_bare_base_url_with_application_slug_is_accepted():
    with override_settings(
        SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT='https://authentik.example.com',
        PLUGINS_CONFIG={'netbox_authentik': {'application_slug': 'netbox'}},
    ):
        assert found() == []


def test_W001_plain_http_to_another_host():
    with override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT='http://authentik.example.com/application/o/netbox/'):
        assert found() == [
            (
                'netbox_authentik.W001',
                f'{ENDPOINT} uses plain http to authentik.example.com: the client secret and '
                'tokens cross the network unencrypted.',
            ),
        ]


@pytest.mark.parametrize('host', ['localhost', '127.0.0.1', '127.0.1.1', '[::1]', 'authentik.localhost'])
def test_plain_http_to_loopback_is_accepted(host):
    with override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=f'http://{host}:9000/application/o/netbox/'):
        assert found() == []


# -- E009-E016: PLUGINS_CONFIG['netbox_authentik'] -----------------------------------------------------


def test_E009_unknown_setting_suggests_the_close_one():
    with plugin_config(grup_map={}):
        assert found() == [
            ('netbox_authentik.E009', f"{CONFIG}: Unknown setting 'grup_map'. Did you mean 'group_map'?"),
        ]


def test_E010_setting_of_the_wrong_type():
    with plugin_config(http_timeout='10', superuser_groups='admins'):
        assert found() == [
            ('netbox_authentik.E010', f"{CONFIG}: 'http_timeout' must be int or float, not str."),
            ('netbox_authentik.E010', f"{CONFIG}: 'superuser_groups' must be list or None, not str."),
        ]
        assert checks.check_plugin_settings()[0].hint == (
            'Fix it in configuration.py; until then the plugin uses the default, 10.'
        )


def test_E011_setting_with_an_invalid_choice():
    with plugin_config(group_sync='sync'):
        assert found() == [
            ('netbox_authentik.E011', f"{CONFIG}: 'group_sync' is 'sync'; choose one of 'mirror', 'add', 'off'."),
        ]


def test_E012_group_map_with_a_number_and_a_non_string_key():
    with plugin_config(group_map={'netbox-users': 5, 7: 'Operators', 'admins': ['Admins', None], 'ok': ['A']}):
        assert found() == [
            (
                'netbox_authentik.E012',
                f"{CONFIG}['group_map']['netbox-users'] is 5, not a NetBox group name or a list of names.",
            ),
            (
                'netbox_authentik.E012',
                f"{CONFIG}['group_map'] has the key 7, which is not an Authentik group name (a string).",
            ),
            (
                'netbox_authentik.E012',
                f"{CONFIG}['group_map']['admins'] is ['Admins', None], not a NetBox group name or a list of names.",
            ),
        ]


def test_E013_superuser_groups_with_a_non_string():
    with plugin_config(superuser_groups=['admins', 1]):
        assert found() == [
            (
                'netbox_authentik.E013',
                f"{CONFIG}['superuser_groups'] must list Authentik group names as strings; it contains 1.",
            ),
        ]


def test_E014_group_filter_with_a_non_string():
    with plugin_config(group_filter=['netbox-*', ('x',)]):
        assert found() == [
            (
                'netbox_authentik.E014',
                f"{CONFIG}['group_filter'] must list group name patterns as strings; it contains ('x',).",
            ),
        ]


def test_E015_protected_groups_with_a_non_string():
    with plugin_config(protected_groups=[None]):
        assert found() == [
            (
                'netbox_authentik.E015',
                f"{CONFIG}['protected_groups'] must list NetBox group names as strings; it contains None.",
            ),
        ]


def test_E016_durations_not_positive():
    with plugin_config(http_timeout=0, metadata_cache_seconds=-1):
        assert found() == [
            ('netbox_authentik.E016', f"{CONFIG}['http_timeout'] is 0; it must be more than 0 seconds."),
            ('netbox_authentik.E016', f"{CONFIG}['metadata_cache_seconds'] is -1; it must be more than 0 seconds."),
        ]


@pytest.mark.parametrize('value', ['False', 'yes', 0, 1])
def test_E017_legacy_uid_setting_not_a_bool(settings, value):
    settings.SOCIAL_AUTH_AUTHENTIK_ALLOW_UNVERIFIED_LEGACY_UID_MIGRATION = value
    assert found() == [
        (
            'netbox_authentik.E017',
            f'SOCIAL_AUTH_AUTHENTIK_ALLOW_UNVERIFIED_LEGACY_UID_MIGRATION is {value!r}; it must be True or False. '
            'Until then links without a recorded claim (made before social-auth-app-django 8) cannot sign in.',
        )
    ]


@pytest.mark.parametrize('value', [True, False])
def test_legacy_uid_setting_as_a_bool_is_accepted(settings, value):
    settings.SOCIAL_AUTH_AUTHENTIK_ALLOW_UNVERIFIED_LEGACY_UID_MIGRATION = value
    assert found() == []


@pytest.mark.parametrize('value', ['3600', 0, -5, True, 1.5])
def test_E018_state_lifetime_not_a_positive_whole_number(settings, value):
    settings.SOCIAL_AUTH_AUTHENTIK_STATE_LIFETIME = value
    assert found() == [
        (
            'netbox_authentik.E018',
            f'SOCIAL_AUTH_AUTHENTIK_STATE_LIFETIME is {value!r}; it must be a whole number of seconds above 0. '
            'Until then no sign-in through Authentik can start (social-core 7).',
        )
    ]


def test_state_lifetime_in_seconds_is_accepted(settings):
    settings.SOCIAL_AUTH_AUTHENTIK_STATE_LIFETIME = 600
    assert found() == []


def test_well_formed_group_settings_are_accepted():
    with plugin_config(
        group_map={'a': 'A', 'b': ['B', 'C']},
        superuser_groups=['admins'],
        group_filter='netbox-*',
        protected_groups=['Local'],
        http_timeout=2.5,
        metadata_cache_seconds=60,
    ):
        assert found() == []


# -- W002, I001: leftovers of the generic OpenID Connect recipe ---------------------------------------


def test_W002_generic_oidc_settings_left_over():
    with override_settings(
        SOCIAL_AUTH_OIDC_OIDC_ENDPOINT='https://authentik.example.com/application/o/netbox/',
        SOCIAL_AUTH_OIDC_SCOPE=['groups'],
    ):
        assert found() == [
            (
                'netbox_authentik.W002',
                'SOCIAL_AUTH_OIDC_OIDC_ENDPOINT is left over from the generic OpenID Connect '
                'backend; the Authentik backend does not read it.',
            ),
            (
                'netbox_authentik.W002',
                'SOCIAL_AUTH_OIDC_SCOPE is left over from the generic OpenID Connect '
                'backend; the Authentik backend does not read it.',
            ),
        ]
        assert [message.hint for message in checks.check_generic_backend_leftovers()] == [
            'Remove it: SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT is already set.',
            'Rename it to SOCIAL_AUTH_AUTHENTIK_SCOPE.',
        ]


def test_generic_oidc_settings_are_fine_while_the_generic_backend_is_also_used():
    with override_settings(
        SOCIAL_AUTH_OIDC_KEY='other',
        SOCIAL_AUTH_PROTECTED_USER_FIELDS=['groups'],
        REMOTE_AUTH_BACKEND=[BACKEND, 'social_core.backends.open_id_connect.OpenIdConnectAuth'],
    ):
        assert found() == []


def test_I001_protected_user_fields_with_groups():
    with override_settings(SOCIAL_AUTH_PROTECTED_USER_FIELDS=['groups']):
        messages = checks.configuration_problems()
        assert [(message.id, message.msg) for message in messages] == [
            (
                'netbox_authentik.I001',
                "SOCIAL_AUTH_PROTECTED_USER_FIELDS lists 'groups', which the Authentik backend does not need.",
            ),
        ]
        assert isinstance(messages[0], django_checks.Info)


# -- W003, W004: the pipeline -------------------------------------------------------------------------


def _lacks(source, step, consequence):
    return ('netbox_authentik.W003', f"{source} lacks '{step}': {consequence}.")


SECOND_IDENTITY = (
    'whoever is signed in to NetBox links any Authentik identity signed in from their browser to their account'
)
COLLISION = (
    "a first sign-in whose username a NetBox user already has gets a suffixed copy ('bob' becomes 'bob<16 hex>')"
)
NOT_SYNCED = 'Authentik groups and superuser status are not synced'


def test_W003_custom_pipeline_without_the_plugins_steps():
    custom = (*NETBOX_DEFAULT_PIPELINE, 'myproject.pipeline.add_groups')
    with override_settings(SOCIAL_AUTH_PIPELINE=custom):
        assert found() == [
            _lacks('SOCIAL_AUTH_PIPELINE', REFUSE_SECOND_IDENTITY, SECOND_IDENTITY),
            _lacks('SOCIAL_AUTH_PIPELINE', REFUSE_USERNAME_COLLISION, COLLISION),
            _lacks('SOCIAL_AUTH_PIPELINE', SYNC_GROUPS, NOT_SYNCED),
        ]
        assert checks.check_pipeline()[2].hint == (
            f"Add '{SYNC_GROUPS}' just before '{LOAD_EXTRA_DATA}', or remove SOCIAL_AUTH_PIPELINE from "
            "configuration.py to run the plugin's own pipeline."
        )
        assert checks.check_pipeline()[1].hint.startswith(
            f"Add '{REFUSE_USERNAME_COLLISION}' just before 'social_core.pipeline.user.get_username'"
        )


def test_W003_custom_pipeline_without_only_the_security_steps():
    steps = [step for step in AUTHENTIK_PIPELINE if step not in (REFUSE_SECOND_IDENTITY, REFUSE_USERNAME_COLLISION)]
    with override_settings(SOCIAL_AUTH_PIPELINE=steps):
        assert found() == [
            _lacks('SOCIAL_AUTH_PIPELINE', REFUSE_SECOND_IDENTITY, SECOND_IDENTITY),
            _lacks('SOCIAL_AUTH_PIPELINE', REFUSE_USERNAME_COLLISION, COLLISION),
        ]


def test_W003_backend_pipeline_takes_precedence():
    with override_settings(SOCIAL_AUTH_AUTHENTIK_PIPELINE=AUTHENTIK_PIPELINE[:-3]):
        assert found() == [_lacks('SOCIAL_AUTH_AUTHENTIK_PIPELINE', SYNC_GROUPS, NOT_SYNCED)]
    with override_settings(SOCIAL_AUTH_PIPELINE=('custom.step',), SOCIAL_AUTH_AUTHENTIK_PIPELINE=AUTHENTIK_PIPELINE):
        assert found() == []


def test_netbox_default_pipeline_is_replaced_by_the_plugins_own():
    with override_settings(SOCIAL_AUTH_PIPELINE=list(NETBOX_DEFAULT_PIPELINE)):
        assert found() == []


def test_W004_sync_groups_after_load_extra_data():
    steps = [step for step in AUTHENTIK_PIPELINE if step != SYNC_GROUPS] + [SYNC_GROUPS]
    with override_settings(SOCIAL_AUTH_PIPELINE=steps):
        assert found() == [
            (
                'netbox_authentik.W004',
                f"In SOCIAL_AUTH_PIPELINE, '{SYNC_GROUPS}' comes after '{LOAD_EXTRA_DATA}': "
                'the groups it records are not saved.',
            ),
        ]


# -- W005: NetBox groups named in group_map exist (database) ----------------------------------------------


@pytest.fixture
def netbox_users_group(db):
    from users.models import Group

    return Group.objects.create(name='netbox-users')


def test_W005_group_map_names_a_missing_netbox_group(netbox_users_group):
    with plugin_config(group_map={'authentik Users': 'netbox-users', 'authentik Admins': ['Admins', 'netbox-users']}):
        assert found(databases=['default']) == [
            ('netbox_authentik.W005', f"{CONFIG}['group_map'] names the NetBox group 'Admins', which does not exist."),
        ]
        # Django's default `netbox check` gives no database: the check stays quiet.
        assert found() == []


def test_missing_groups_are_fine_with_auto_create_groups(netbox_users_group):
    with plugin_config(group_map={'authentik Admins': 'Admins'}, auto_create_groups=True):
        assert found(databases=['default']) == []


def test_W005_is_skipped_silently_when_the_database_cannot_answer(monkeypatch):
    def unreachable(names):
        raise OperationalError('connection refused')

    monkeypatch.setattr(checks, 'missing_netbox_groups', unreachable)
    with plugin_config(group_map={'authentik Admins': 'Admins'}):
        assert found(databases=['default']) == []


# -- W006: a check that crashes is one warning, never a traceback ------------------------------------------


def test_W006_a_crashing_check_becomes_a_warning(monkeypatch):
    def broken(pipeline):
        raise RuntimeError('boom\nsecond line')

    monkeypatch.setattr(checks.pipeline, 'resolve_pipeline', broken)
    with override_settings(SOCIAL_AUTH_AUTHENTIK_KEY=''):
        assert found() == [
            ('netbox_authentik.E003', 'SOCIAL_AUTH_AUTHENTIK_KEY is missing or empty.'),
            (
                'netbox_authentik.W006',
                'The netbox_authentik check check_pipeline failed unexpectedly: RuntimeError: boom.',
            ),
        ]


# -- start-up logging ------------------------------------------------------------------------------


def test_start_up_logs_errors_and_warnings_but_not_info(caplog):
    with override_settings(
        SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT='http://authentik.example.com/application/o/token/',
        SOCIAL_AUTH_PROTECTED_USER_FIELDS=['groups'],
    ):
        with caplog.at_level('INFO', logger='netbox_authentik.startup'):
            startup.log_configuration_problems()
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        (
            'ERROR',
            f"netbox_authentik.E007: {ENDPOINT} points at Authentik's shared /application/o/token/ endpoint, "
            "not at the application's issuer. HINT: Use the application's issuer, "
            "http://authentik.example.com/application/o/<slug>/ (Authentik: the provider's OpenID "
            'Configuration Issuer).',
        ),
        (
            'WARNING',
            f'netbox_authentik.W001: {ENDPOINT} uses plain http to authentik.example.com: the client secret '
            'and tokens cross the network unencrypted. HINT: Use https:// (plain http is only safe to a '
            'loopback address).',
        ),
    ]


def test_start_up_does_not_query_the_database(monkeypatch, caplog):
    # Recorded, not raised: a check's exception would only become W006.
    queried = []
    monkeypatch.setattr(checks, 'missing_netbox_groups', queried.append)
    with plugin_config(group_map={'authentik Admins': 'Admins'}), caplog.at_level('INFO', logger='netbox_authentik'):
        startup.log_configuration_problems()
    assert queried == []
    assert caplog.records == []


@pytest.mark.django_db  # request_started also closes old database connections
def test_problems_are_logged_once_at_the_first_request_not_at_start_up(caplog):
    from django.core.signals import request_started

    with plugin_config(grup_map={}), caplog.at_level('INFO', logger='netbox_authentik'):
        startup.log_at_server_start()
        assert caplog.records == []  # ready() ran: a management command logs nothing
        request_started.send(sender=None)
        request_started.send(sender=None)
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        (
            'ERROR',
            f"netbox_authentik.E009: {CONFIG}: Unknown setting 'grup_map'. Did you mean 'group_map'? HINT: "
            'Rename or remove it; docs/configuration.md lists every setting.',
        ),
    ]


def test_every_problem_is_a_warning_so_that_netbox_commands_run():
    from tests import broken_configuration

    with override_settings(
        SOCIAL_AUTH_AUTHENTIK_SECRET='',
        PLUGINS_CONFIG=broken_configuration.PLUGINS_CONFIG,
        SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=broken_configuration.SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT,
    ):
        messages = django_checks.run_checks(tags=['netbox_authentik'])
    # Django keeps its registered checks in a set: the order of the messages is not defined.
    assert sorted(message.id for message in messages) == [
        'netbox_authentik.E004',
        'netbox_authentik.E006',
        'netbox_authentik.E009',
        'netbox_authentik.E010',
        'netbox_authentik.E012',
    ]
    assert all(type(message) is django_checks.Warning for message in messages)
    assert not any(message.is_serious() for message in messages)
    assert all(checks.breaks_sign_in(message) for message in messages)


def test_backend_without_plugin_is_logged_where_the_backend_is_imported(caplog):
    with caplog.at_level('INFO', logger='netbox_authentik.startup'):
        startup.log_backend_without_plugin()
        assert caplog.records == []
        with override_settings(PLUGINS=[]):
            startup.log_backend_without_plugin()
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        (
            'ERROR',
            "netbox_authentik.E002: REMOTE_AUTH_BACKEND names the Authentik backend but 'netbox_authentik' is "
            "not in PLUGINS. HINT: Add 'netbox_authentik' to PLUGINS in configuration.py. Until then the backend "
            'refuses every sign-in: without the plugin it would sign people in with no group sync and no '
            'superuser revocation.',
        ),
    ]
