"""What an Authentik blueprint may say, as test data: the models, their fields and the YAML tags.

Recorded for Authentik 2025.12.4 from its source (the models in authentik/core, authentik/providers/oauth2,
authentik/providers/scim and authentik/policies, their API serializers, authentik/core/api/applications.py,
authentik/blueprints/v1/common.py and importer.py) and from the provider fields a real 2025.12.4 showed.
"""

import yaml

# The fields each model's serializer writes (what a blueprint entry's identifiers and attrs may set; the
# importer hands attrs to that serializer, which silently drops any other key).
MODEL_FIELDS = {
    'authentik_providers_oauth2.oauth2provider': {
        'name',
        'authentication_flow',
        'authorization_flow',
        'invalidation_flow',
        'property_mappings',
        'client_type',
        'client_id',
        'client_secret',
        'redirect_uris',
        'logout_uri',
        'logout_method',
        'include_claims_in_id_token',
        'access_code_validity',
        'access_token_validity',
        'refresh_token_validity',
        'sub_mode',
        'issuer_mode',
        'signing_key',
        'encryption_key',
        'jwt_federation_sources',
        'jwt_federation_providers',
    },
    # `icon` exists only in a blueprint (it writes meta_icon, which the API reads only). The model's
    # `backchannel_providers` is the reverse of each provider's backchannel_application, which the provider
    # serializers do not write: an application names its backchannel providers.
    'authentik_core.application': {
        'name',
        'slug',
        'group',
        'provider',
        'backchannel_providers',
        'meta_launch_url',
        'open_in_new_tab',
        'icon',
        'meta_description',
        'meta_publisher',
        'policy_engine_mode',
    },
    'authentik_providers_scim.scimprovider': {
        'name',
        'property_mappings',
        'property_mappings_group',
        'url',
        'verify_certificates',
        'token',
        'auth_mode',
        'compatibility_mode',
        'exclude_users_service_account',
        'filter_group',
        'sync_page_size',
        'sync_page_timeout',
        'dry_run',
    },
    'authentik_core.group': {'name', 'is_superuser', 'parent', 'users', 'attributes', 'roles'},
    'authentik_policies.policybinding': {
        'enabled',
        'policy',
        'group',
        'user',
        'target',
        'negate',
        'timeout',
        'failure_result',
        'order',
    },
}

# Objects an entry may look up with !Find, and the field it is looked up by.
FIND_FIELDS = {
    'authentik_flows.flow': {'slug'},
    'authentik_crypto.certificatekeypair': {'name'},
    'authentik_providers_oauth2.scopemapping': {'managed'},
    'authentik_providers_scim.scimmapping': {'managed'},
    'authentik_core.group': {'name'},
}

ENTRY_KEYS = {'model', 'id', 'state', 'identifiers', 'attrs', 'conditions', 'permissions'}
STATES = {'present', 'created', 'must_created', 'absent'}
# A redirect URI of an OAuth2 provider on 2025.12 (the type "Post Logout" arrives in 2026.5).
REDIRECT_URI_KEYS = {'matching_mode', 'url'}
MATCHING_MODES = {'strict', 'regex'}
LOGOUT_METHODS = {'backchannel', 'frontchannel'}
# Flows, key pair and scope mappings every fresh Authentik 2025.12 has (its system and default blueprints).
DEFAULT_FLOWS = {
    'default-provider-authorization-implicit-consent',
    'default-provider-authorization-explicit-consent',
    'default-provider-invalidation-flow',
    'default-invalidation-flow',
}
DEFAULT_KEY_PAIR = 'authentik Self-signed Certificate'
MANAGED_MAPPINGS = {
    'goauthentik.io/providers/oauth2/scope-openid',
    'goauthentik.io/providers/oauth2/scope-email',
    'goauthentik.io/providers/oauth2/scope-profile',
    'goauthentik.io/providers/scim/user',
    'goauthentik.io/providers/scim/group',
}


class Tag:
    """A tagged value as the test loader reads it: !Find, !KeyOf or !Env with its plain arguments."""

    def __init__(self, tag, value):
        self.tag, self.value = tag, value

    def __eq__(self, other):
        return isinstance(other, Tag) and (self.tag, self.value) == (other.tag, other.value)

    def __repr__(self):
        return f'{self.tag} {self.value!r}'


class BlueprintLoader(yaml.SafeLoader):
    """Reads a blueprint as Authentik's loader does, knowing its tags; any other tag is an error."""


def _sequence(tag):
    return lambda loader, node: Tag(tag, loader.construct_sequence(node, deep=True))


BlueprintLoader.add_constructor('!Find', _sequence('!Find'))
BlueprintLoader.add_constructor('!KeyOf', lambda loader, node: Tag('!KeyOf', loader.construct_scalar(node)))
BlueprintLoader.add_constructor(
    '!Env',
    lambda loader, node: Tag(
        '!Env',
        loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else loader.construct_sequence(node),
    ),
)


def load(text):
    return yaml.load(text, Loader=BlueprintLoader)  # noqa: S506 -- a SafeLoader with three more tags


def problems(blueprint):
    """Everything in a loaded blueprint Authentik 2025.12's importer would not accept or not resolve."""
    found = []
    if blueprint.get('version') != 1 or not blueprint.get('metadata', {}).get('name'):
        found.append('version must be 1 and metadata.name set')
    ids = [entry['id'] for entry in blueprint['entries'] if 'id' in entry]
    if len(ids) != len(set(ids)):
        found.append(f'entry ids repeat: {ids}')
    seen_ids = set()
    for number, entry in enumerate(blueprint['entries']):
        where = f'entry {number} ({entry.get("model")})'
        found += [f'{where}: unknown key {key}' for key in set(entry) - ENTRY_KEYS]
        fields = MODEL_FIELDS.get(entry.get('model'))
        if fields is None:
            found.append(f'{where}: unknown model')
            continue
        if entry.get('state', 'present') not in STATES:
            found.append(f'{where}: unknown state {entry["state"]}')
        if not entry.get('identifiers'):
            found.append(f'{where}: no identifiers')
        for key in set(entry.get('identifiers', {})) | set(entry.get('attrs', {})):
            if key not in fields:
                found.append(f'{where}: {key} is not a field of the model')
        for value in _tags(entry):
            found += _tag_problems(where, value, seen_ids)
        if 'id' in entry:
            seen_ids.add(entry['id'])
    return found


def _tags(value):
    if isinstance(value, Tag):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _tags(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _tags(inner)


def _tag_problems(where, tag, seen_ids):
    if tag.tag == '!KeyOf':
        # Authentik resolves !KeyOf only against entries applied before this one.
        return [] if tag.value in seen_ids else [f'{where}: !KeyOf {tag.value} names no earlier entry']
    if tag.tag == '!Find':
        model, (field, _value) = tag.value
        return [] if field in FIND_FIELDS.get(model, ()) else [f'{where}: !Find {model} by {field}']
    return []
