"""One rule for every check id: an E id stops sign-in through Authentik, with a message; a W or I id does not."""

import contextlib
import re
from pathlib import Path

import pytest
from django.test import override_settings

import netbox_authentik
from netbox_authentik import access, checks, pipeline, startup
from tests.fake_authentik import AUTHORIZE_URL, BASE, login_page_messages

pytestmark = pytest.mark.django_db

UNAVAILABLE = 'Sign-in through Authentik is unavailable until the NetBox administrator fixes its configuration'


def plugin(**values):
    return override_settings(PLUGINS_CONFIG={'netbox_authentik': values})


class Unequal:
    """An item that cannot be compared: a check that compares it crashes (W006)."""

    def __eq__(self, other):
        raise RuntimeError('cannot compare')

    __hash__ = object.__hash__


# A configuration that raises each id; a new id needs a line here before the rule test passes.
TRIGGERS = {
    'E001': lambda: override_settings(
        REMOTE_AUTH_BACKEND='netbox.authentication.RemoteUserBackend',
        AUTHENTICATION_BACKENDS=['netbox.authentication.ObjectPermissionBackend'],
    ),
    'E002': lambda: override_settings(PLUGINS=[]),
    'E003': lambda: override_settings(SOCIAL_AUTH_AUTHENTIK_KEY=''),
    'E004': lambda: override_settings(SOCIAL_AUTH_AUTHENTIK_SECRET=' '),
    'E005': lambda: override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=''),
    'E006': lambda: override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT='authentik.example.com'),
    'E007': lambda: override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=f'{BASE}/application/o/token/'),
    'E008': lambda: override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=BASE),
    'E009': lambda: plugin(grup_sync='mirror'),
    'E010': lambda: plugin(http_timeout='5'),
    'E011': lambda: plugin(group_sync='sync'),
    'E012': lambda: plugin(group_map={'netbox-users': 5}),
    'E013': lambda: plugin(superuser_groups=[5]),
    'E014': lambda: plugin(group_filter=[5]),
    'E015': lambda: plugin(protected_groups=[5]),
    'E016': lambda: plugin(http_timeout=0),
    'E017': lambda: override_settings(SOCIAL_AUTH_AUTHENTIK_ALLOW_UNVERIFIED_LEGACY_UID_MIGRATION='False'),
    'E018': lambda: override_settings(SOCIAL_AUTH_AUTHENTIK_STATE_LIFETIME='3600'),
    'E019': lambda: plugin(required_groups=[5]),
    'E020': lambda: _stack(
        plugin(required_groups=['netbox-users']),
        override_settings(
            SOCIAL_AUTH_AUTHENTIK_PIPELINE=[
                step for step in pipeline.AUTHENTIK_PIPELINE if step != access.REQUIRE_GROUPS
            ]
        ),
    ),
    'W001': lambda: override_settings(
        SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT='http://authentik.example.com/application/o/x/'
    ),
    'W002': lambda: override_settings(SOCIAL_AUTH_OIDC_OIDC_ENDPOINT=f'{BASE}/application/o/netbox/'),
    'W003': lambda: override_settings(
        SOCIAL_AUTH_AUTHENTIK_PIPELINE=[step for step in pipeline.AUTHENTIK_PIPELINE if step != pipeline.SYNC_GROUPS]
    ),
    'W004': lambda: override_settings(
        SOCIAL_AUTH_AUTHENTIK_PIPELINE=[step for step in pipeline.AUTHENTIK_PIPELINE if step != pipeline.SYNC_GROUPS]
        + [pipeline.SYNC_GROUPS]
    ),
    'W005': lambda: plugin(group_map={'netbox-users': 'No such group'}),
    'W006': lambda: override_settings(SOCIAL_AUTH_PROTECTED_USER_FIELDS=[Unequal()]),
    'I001': lambda: override_settings(SOCIAL_AUTH_PROTECTED_USER_FIELDS=['groups']),
}


@contextlib.contextmanager
def _stack(*managers):
    with contextlib.ExitStack() as stack:
        for manager in managers:
            stack.enter_context(manager)
        yield


def defined_ids():
    """Every check id the plugin's code can report, read from its source."""
    package = Path(netbox_authentik.__file__).parent
    found = set()
    for path in package.rglob('*.py'):
        found.update(re.findall(r'netbox_authentik\.([EWI]\d{3})\b', path.read_text()))
    return sorted(found)


def test_every_defined_id_has_a_trigger_here():
    assert sorted(TRIGGERS) == defined_ids()


@pytest.mark.parametrize('check_id', sorted(TRIGGERS))
def test_an_e_id_stops_sign_in_with_a_message_and_a_w_or_i_id_does_not(check_id, client, authentik):
    with TRIGGERS[check_id]():
        reported = {problem.id for problem in checks.configuration_problems(databases=['default'])}
        refusal = startup.sign_in_refusal()
        response = client.post('/oauth/begin/authentik/')
    assert f'netbox_authentik.{check_id}' in reported
    location = response.get('Location', '')
    if check_id.startswith('E'):
        assert not location.startswith(AUTHORIZE_URL)
        if check_id == 'E001' and response.status_code == 404:
            return  # social-auth has no such backend: what a server started with this configuration answers
        # (A test process that loaded the backend earlier keeps it in social-core's cache: then the plugin refuses.)
        shown = login_page_messages(client, response)
        if check_id == 'E002':  # without the plugin, the backend's own refusal says what to do
            assert any("adds 'netbox_authentik' to PLUGINS" in message for message in shown), shown
        else:
            [message] = shown
            assert message.startswith(UNAVAILABLE) and f'netbox_authentik.{check_id}' in message
            assert f'netbox_authentik.{check_id}' in refusal
    else:
        assert refusal is None
        if check_id != 'W001':  # W001's plain-http endpoint is not the one the fake Authentik serves
            assert location.startswith(AUTHORIZE_URL), response
