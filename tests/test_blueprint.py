"""`netbox authentik_blueprint` and the "Authentik set-up" page: the Authentik blueprint NetBox writes for itself.

The blueprint is checked against the models, fields and tags of Authentik 2025.12.4 recorded in
tests/authentik_blueprints.py, and whole files against tests/snapshots/ (NBA_UPDATE_SNAPSHOTS=1 rewrites them).
"""

import html
import io
import os
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from users.models import Group, User

from netbox_authentik.models import GroupMapping
from tests import authentik_blueprints
from tests.authentik_blueprints import Tag

pytestmark = pytest.mark.django_db

SNAPSHOTS = Path(__file__).parent / 'snapshots'
PAGE_URL = '/plugins/authentik/authentik-setup/'
CLIENT_ID = 'nb-client-4b1d0c2e'
CLIENT_SECRET = 'the-client-secret-that-must-never-leak-0123456789'
ENDPOINT = 'https://ak.example.com/application/o/netbox-prod/'


def configured(base_path='', **plugin_settings):
    return override_settings(
        SOCIAL_AUTH_AUTHENTIK_KEY=CLIENT_ID,
        SOCIAL_AUTH_AUTHENTIK_SECRET=CLIENT_SECRET,
        SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=ENDPOINT,
        ALLOWED_HOSTS=['netbox.example.com'],
        BASE_PATH=base_path,
        PLUGINS_CONFIG={'netbox_authentik': plugin_settings},
    )


def blueprint(*args):
    stdout = io.StringIO()
    call_command('authentik_blueprint', *args, stdout=stdout)
    return stdout.getvalue()


def entries_of(text, model):
    return [entry for entry in authentik_blueprints.load(text)['entries'] if entry['model'] == model]


def the(text, model):
    (entry,) = entries_of(text, model)
    return entry


def rule(authentik_group, *netbox_groups, superuser=False, enabled=True):
    mapping = GroupMapping.objects.create(authentik_group=authentik_group, superuser=superuser, enabled=enabled)
    mapping.netbox_groups.set([Group.objects.get_or_create(name=name)[0] for name in netbox_groups])
    return mapping


def matches_snapshot(name, text):
    path = SNAPSHOTS / name
    if os.environ.get('NBA_UPDATE_SNAPSHOTS'):
        path.write_text(text)
    assert text == path.read_text()


# -- whole files ---------------------------------------------------------------------------------------------


def test_default_blueprint_matches_snapshot():
    with configured():
        text = blueprint('--url', 'https://netbox.example.com')
    matches_snapshot('blueprint-default.yaml', text)
    assert authentik_blueprints.problems(authentik_blueprints.load(text)) == []


def test_blueprint_with_scim_groups_and_restriction_matches_snapshot():
    rule('netbox-readers', 'Readers')
    rule('net-*', 'Network')
    rule('old-team', 'Old', enabled=False)
    with configured(
        'netbox/',
        group_map={'network-engineers': 'Network Engineers'},
        superuser_groups=['netbox-admins'],
        logout_at_authentik=False,
    ):
        text = blueprint('--url', 'https://nb.example.org/netbox/', '--scim', '--groups', '--restrict')
    matches_snapshot('blueprint-scim-groups-restrict.yaml', text)
    assert authentik_blueprints.problems(authentik_blueprints.load(text)) == []


def test_blueprint_with_an_ec_key_matches_snapshot():
    with configured():
        text = blueprint(
            '--http', '--signing', 'es256', '--signing-key', 'netbox-ec', '--name', 'NetBox Lab', '--icon', 'nb.svg'
        )
    matches_snapshot('blueprint-es256.yaml', text)
    assert authentik_blueprints.problems(authentik_blueprints.load(text)) == []


def test_every_option_set_uses_only_known_models_fields_and_tags():
    rule('netbox-readers', 'Readers')
    option_sets = [
        (),
        ('--scim',),
        ('--groups',),
        ('--restrict',),
        ('--signing', 'hs256'),
        ('--include-secrets', '--scim', '--groups', '--restrict', '--invalidation-flow', 'my-logout-flow'),
    ]
    with configured():
        for options in option_sets:
            loaded = authentik_blueprints.load(blueprint('--url', 'https://netbox.example.com', *options))
            assert authentik_blueprints.problems(loaded) == [], options


def test_the_recorded_fields_catch_an_unknown_one():
    with configured():
        loaded = authentik_blueprints.load(blueprint('--url', 'https://netbox.example.com'))
    loaded['entries'][0]['attrs']['redirect_uri'] = 'https://netbox.example.com/'
    loaded['entries'][1]['attrs']['provider'] = Tag('!KeyOf', 'nothing-before')
    assert authentik_blueprints.problems(loaded) == [
        'entry 0 (authentik_providers_oauth2.oauth2provider): redirect_uri is not a field of the model',
        'entry 1 (authentik_core.application): !KeyOf nothing-before names no earlier entry',
    ]


# -- what the provider and application say ------------------------------------------------------------------


def test_provider_and_application_carry_this_netboxs_identity_and_uris():
    with configured():
        text = blueprint('--url', 'https://netbox.example.com')
    provider = the(text, 'authentik_providers_oauth2.oauth2provider')
    assert provider['identifiers'] == {'client_id': CLIENT_ID}
    assert provider['state'] == 'present'
    attrs = provider['attrs']
    assert attrs['client_type'] == 'confidential'
    assert attrs['redirect_uris'] == [
        {'matching_mode': 'strict', 'url': 'https://netbox.example.com/oauth/complete/authentik/'}
    ]
    assert attrs['logout_uri'] == 'https://netbox.example.com/plugins/authentik/backchannel-logout/'
    assert attrs['logout_method'] == 'backchannel'
    assert attrs['signing_key'] == Tag(
        '!Find', ['authentik_crypto.certificatekeypair', ['name', 'authentik Self-signed Certificate']]
    )
    assert attrs['include_claims_in_id_token'] is True
    assert attrs['issuer_mode'] == 'per_provider'
    assert 'sub_mode' not in attrs  # never changes the subject of existing links
    assert attrs['authorization_flow'] == Tag(
        '!Find', ['authentik_flows.flow', ['slug', 'default-provider-authorization-implicit-consent']]
    )
    assert [mapping.value[1][1] for mapping in attrs['property_mappings']] == [
        'goauthentik.io/providers/oauth2/scope-openid',
        'goauthentik.io/providers/oauth2/scope-email',
        'goauthentik.io/providers/oauth2/scope-profile',
    ]
    application = the(text, 'authentik_core.application')
    assert application['identifiers'] == {'slug': 'netbox-prod'}
    assert application['attrs']['provider'] == Tag('!KeyOf', provider['id'])
    assert application['attrs']['meta_launch_url'] == 'https://netbox.example.com/'
    assert 'backchannel_providers' not in application['attrs']  # without --scim, an admin's stay untouched
    assert 'icon' not in application['attrs']


def test_icon_is_set_only_when_given():
    with configured():
        text = blueprint('--url', 'https://netbox.example.com', '--icon', 'https://cdn.example.com/netbox.svg')
    assert the(text, 'authentik_core.application')['attrs']['icon'] == 'https://cdn.example.com/netbox.svg'


def test_slug_comes_from_a_bare_endpoint_plus_application_slug():
    with (
        configured(application_slug='nb'),
        override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT='https://ak.example.com'),
    ):
        text = blueprint('--url', 'https://netbox.example.com')
    assert the(text, 'authentik_core.application')['identifiers'] == {'slug': 'nb'}


@pytest.mark.parametrize('base_path', ['netbox', 'netbox/', '/netbox/'])
@pytest.mark.parametrize(
    'url', ['https://nb.example.org', 'https://nb.example.org/netbox', 'https://nb.example.org/netbox/']
)
def test_base_path_with_or_without_slash_gives_the_same_uris(base_path, url):
    with configured(base_path):
        text = blueprint('--url', url)
    attrs = the(text, 'authentik_providers_oauth2.oauth2provider')['attrs']
    assert attrs['redirect_uris'][0]['url'] == 'https://nb.example.org/netbox/oauth/complete/authentik/'
    assert attrs['logout_uri'] == 'https://nb.example.org/netbox/plugins/authentik/backchannel-logout/'
    assert the(text, 'authentik_core.application')['attrs']['meta_launch_url'] == 'https://nb.example.org/netbox/'


def test_a_url_with_another_path_is_refused():
    with configured('netbox/'), pytest.raises(CommandError, match="--url 'https://nb.example.org/other/'"):
        blueprint('--url', 'https://nb.example.org/other/')


def test_without_url_the_address_is_allowed_hosts_first_name():
    with configured():
        text = blueprint('--http')
    assert the(text, 'authentik_core.application')['attrs']['meta_launch_url'] == 'http://netbox.example.com/'
    with configured(), override_settings(ALLOWED_HOSTS=['*']), pytest.raises(CommandError, match='Pass --url'):
        blueprint()


def test_identifiers_and_text_are_stable_across_runs_and_rule_changes():
    rule('netbox-readers', 'Readers')
    with configured():
        first = blueprint('--url', 'https://netbox.example.com', '--scim', '--groups', '--restrict')
        assert blueprint('--url', 'https://netbox.example.com', '--scim', '--groups', '--restrict') == first
        rule('a-first-group', 'First')
        second = blueprint('--url', 'https://netbox.example.com', '--scim', '--groups', '--restrict')

    def identifiers(text):
        return [
            (entry['model'], entry['identifiers'])
            for entry in authentik_blueprints.load(text)['entries']
            if entry['model'] != 'authentik_policies.policybinding'
        ]

    before = {repr(item) for item in identifiers(first)}
    after = {repr(item) for item in identifiers(second)}
    assert before < after
    assert after - before == {repr(('authentik_core.group', {'name': 'a-first-group'}))}


# -- secrets ---------------------------------------------------------------------------------------------------


def test_the_client_secret_is_left_out_by_default():
    with configured():
        text = blueprint('--url', 'https://netbox.example.com', '--scim', '--groups')
    assert CLIENT_SECRET not in text
    assert 'client_secret' not in the(text, 'authentik_providers_oauth2.oauth2provider')['attrs']
    assert 'Copy it from the provider page into NetBox' in text


def test_include_secrets_writes_netboxs_secret_with_a_warning():
    with configured():
        text = blueprint('--url', 'https://netbox.example.com', '--include-secrets')
    assert the(text, 'authentik_providers_oauth2.oauth2provider')['attrs']['client_secret'] == CLIENT_SECRET
    assert text.startswith('# Authentik blueprint written by NetBox')
    assert "# WARNING: this file holds NetBox's client secret" in text


def test_include_secrets_without_a_secret_is_refused():
    with configured(), override_settings(SOCIAL_AUTH_AUTHENTIK_SECRET=''):
        with pytest.raises(CommandError, match='SOCIAL_AUTH_AUTHENTIK_SECRET is not set'):
            blueprint('--url', 'https://netbox.example.com', '--include-secrets')


def test_scim_provider_takes_its_token_from_the_environment():
    with configured('netbox/'):
        text = blueprint('--url', 'https://netbox.example.com', '--scim')
    scim = the(text, 'authentik_providers_scim.scimprovider')
    assert scim['attrs']['url'] == 'https://netbox.example.com/netbox/plugins/authentik/scim/v2/'
    assert scim['attrs']['token'] == Tag('!Env', 'NETBOX_SCIM_TOKEN')
    assert scim['attrs']['exclude_users_service_account'] is True
    assert the(text, 'authentik_core.application')['attrs']['backchannel_providers'] == [Tag('!KeyOf', scim['id'])]
    assert "environment of Authentik's server AND worker" in ' '.join(text.replace('#', ' ').split())


# -- signing and logout -------------------------------------------------------------------------------------


def test_hs256_sets_no_signing_key():
    with configured():
        text = blueprint('--url', 'https://netbox.example.com', '--signing', 'hs256')
    assert the(text, 'authentik_providers_oauth2.oauth2provider')['attrs']['signing_key'] is None


@pytest.mark.parametrize(
    ('options', 'message'),
    [
        (('--signing', 'es256'), '--signing es256 needs --signing-key NAME'),
        (('--signing', 'hs256', '--signing-key', 'x'), 'leave out --signing-key'),
    ],
)
def test_signing_options_that_cannot_work_are_refused(options, message):
    with configured(), pytest.raises(CommandError, match=message):
        blueprint('--url', 'https://netbox.example.com', *options)


def test_invalidation_flow_ends_the_authentik_session_when_logout_at_authentik_is_on():
    def flow(**plugin_settings):
        with configured(**plugin_settings):
            text = blueprint('--url', 'https://netbox.example.com')
        return the(text, 'authentik_providers_oauth2.oauth2provider')['attrs']['invalidation_flow'].value[1][1]

    assert flow() == 'default-invalidation-flow'
    assert flow(logout_at_authentik=False) == 'default-provider-invalidation-flow'


# -- settings that stop the blueprint -----------------------------------------------------------------------


@pytest.mark.parametrize('client_id', [None, '', '   '])
def test_missing_client_id_is_a_clear_error(client_id):
    with configured(), override_settings(SOCIAL_AUTH_AUTHENTIK_KEY=client_id):
        with pytest.raises(CommandError, match='SOCIAL_AUTH_AUTHENTIK_KEY is not set'):
            blueprint('--url', 'https://netbox.example.com')


@pytest.mark.parametrize(
    ('endpoint', 'message'),
    [
        ('', 'SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT is missing or empty'),
        ('not a url', 'not an http'),
        ('https://ak.example.com/application/o/token/', 'shared /application/o/token/ endpoint'),
        ('https://ak.example.com', 'application_slug is not set'),
    ],
)
def test_an_endpoint_without_a_slug_is_a_clear_error(endpoint, message):
    with configured(), override_settings(SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT=endpoint):
        with pytest.raises(CommandError, match=message):
            blueprint('--url', 'https://netbox.example.com')


# -- groups and the restriction -----------------------------------------------------------------------------


def test_groups_are_the_exact_names_the_effective_rules_and_required_groups_name():
    rule('netbox-readers', 'Readers')
    rule('net-*', 'Network')
    rule('old-team', 'Old', enabled=False)
    with configured(
        group_map={'network-engineers': ['Network Engineers']},
        superuser_groups=['netbox-admins'],
        required_groups=['staff', 'contractors-*'],
    ):
        text = blueprint('--url', 'https://netbox.example.com', '--groups')
    groups = entries_of(text, 'authentik_core.group')
    assert [entry['identifiers']['name'] for entry in groups] == [
        'netbox-admins',
        'netbox-readers',
        'network-engineers',
        'staff',
    ]
    assert {entry['state'] for entry in groups} == {'created'}
    assert all(entry['attrs'] == {'name': entry['identifiers']['name']} for entry in groups)
    assert "# Not created (globs, not group names): 'contractors-*', 'net-*'." in text
    assert entries_of(text, 'authentik_policies.policybinding') == []


def test_restrict_binds_the_mapped_groups_to_the_application():
    rule('netbox-readers', 'Readers')
    with configured(superuser_groups=['netbox-admins']):
        text = blueprint('--url', 'https://netbox.example.com', '--restrict')
    groups = {entry['id']: entry['identifiers']['name'] for entry in entries_of(text, 'authentik_core.group')}
    bindings = entries_of(text, 'authentik_policies.policybinding')
    application_id = the(text, 'authentik_core.application')['id']
    assert [groups[binding['identifiers']['group'].value] for binding in bindings] == [
        'netbox-admins',
        'netbox-readers',
    ]
    assert [binding['identifiers']['target'] for binding in bindings] == [Tag('!KeyOf', application_id)] * 2
    assert [binding['attrs']['order'] for binding in bindings] == [0, 1]


def test_restrict_follows_required_groups_when_set():
    rule('netbox-readers', 'Readers')
    with configured(required_groups=['netbox-staff']):
        text = blueprint('--url', 'https://netbox.example.com', '--restrict')
    assert [entry['identifiers']['name'] for entry in entries_of(text, 'authentik_core.group')] == ['netbox-staff']


def test_restrict_without_a_named_group_is_refused_rather_than_leaving_the_application_open():
    rule('net-*', 'Network')
    with configured(), pytest.raises(CommandError, match='no mapping rule names an exact Authentik group'):
        blueprint('--url', 'https://netbox.example.com', '--restrict')
    with configured(required_groups=['staff-*']), pytest.raises(CommandError, match='a glob cannot be bound'):
        blueprint('--url', 'https://netbox.example.com', '--restrict')


def test_a_group_name_cannot_add_entries_or_comments():
    hostile = "evil\n- model: authentik_core.user\n  attrs: {is_superuser: true}\n# '"
    rule(hostile, 'Readers')
    with configured():
        text = blueprint('--url', 'https://netbox.example.com', '--groups', '--restrict')
    loaded = authentik_blueprints.load(text)
    assert [entry['model'] for entry in loaded['entries']] == [
        'authentik_providers_oauth2.oauth2provider',
        'authentik_core.application',
        'authentik_core.group',
        'authentik_policies.policybinding',
    ]
    assert loaded['entries'][2]['identifiers']['name'] == hostile


# -- the page ---------------------------------------------------------------------------------------------------


def page(client, user=None, **query):
    if user is not None:
        client.force_login(user)
    with configured():
        return client.get(PAGE_URL, query, HTTP_HOST='netbox.example.com', HTTP_X_FORWARDED_PROTO='https')


def test_page_shows_the_blueprint_to_a_superuser_without_the_secret(client):
    admin = User.objects.create_user('admin', is_superuser=True)
    response = page(client, admin, scim='on', include_secrets='on', download='')
    body = response.content.decode()
    assert response.status_code == 200
    shown = html.unescape(re.search(r'<pre[^>]*>(.*?)</pre>', body, re.DOTALL).group(1))
    with configured():
        assert shown == blueprint('--url', 'https://netbox.example.com', '--scim')
    assert the(shown, 'authentik_providers_scim.scimprovider')['attrs']['token'] == Tag('!Env', 'NETBOX_SCIM_TOKEN')
    assert CLIENT_SECRET not in body
    assert 'client_secret' not in body
    assert 'include_secrets' not in body and 'include-secrets' not in body


def test_page_download_is_an_attachment_without_the_secret(client):
    admin = User.objects.create_user('admin', is_superuser=True)
    response = page(client, admin, download='1', include_secrets='1', groups='on')
    assert response.status_code == 200
    assert response['Content-Disposition'] == 'attachment; filename="netbox-authentik-blueprint.yaml"'
    assert response['Content-Type'] == 'application/yaml; charset=utf-8'
    text = response.content.decode()
    assert CLIENT_SECRET not in text
    with configured():
        assert text == blueprint('--url', 'https://netbox.example.com', '--groups')


def test_page_redirects_anonymous_people_to_the_login_page(client):
    response = page(client)
    assert response.status_code == 302
    assert response['Location'].startswith('/login/?next=')


def test_page_refuses_a_user_who_is_not_a_superuser_even_with_every_permission(client):
    user = User.objects.create_user('operator')
    from core.models import ObjectType
    from users.models import ObjectPermission

    everything = ObjectPermission.objects.create(name='everything', actions=['view', 'add', 'change', 'delete'])
    everything.object_types.set(ObjectType.objects.all())
    everything.users.add(user)
    for query in ({}, {'download': '1'}):
        response = page(client, user, **query)
        assert response.status_code == 403
        assert CLIENT_ID not in response.content.decode()


def test_page_shows_what_stops_the_blueprint_instead_of_failing(client):
    admin = User.objects.create_user('admin', is_superuser=True)
    client.force_login(admin)
    with configured(), override_settings(SOCIAL_AUTH_AUTHENTIK_KEY=''):
        response = client.get(PAGE_URL, {'download': '1'}, HTTP_HOST='netbox.example.com')
    assert response.status_code == 200
    assert 'Content-Disposition' not in response
    assert 'SOCIAL_AUTH_AUTHENTIK_KEY is not set' in response.content.decode()


def test_menu_shows_the_page_to_superusers_only(client):
    admin = User.objects.create_user('admin', is_superuser=True)
    operator = User.objects.create_user('operator')
    with configured():
        client.force_login(admin)
        assert PAGE_URL in client.get('/', HTTP_HOST='netbox.example.com').content.decode()
        client.force_login(operator)
        assert PAGE_URL not in client.get('/', HTTP_HOST='netbox.example.com').content.decode()
