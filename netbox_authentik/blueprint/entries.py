"""The blueprint's entries as pure data: what NetBox asks Authentik to hold, from plain values (no settings read).

Model ids, field names, flow slugs and managed ids are those of Authentik 2025.12.
"""

from dataclasses import dataclass

from .yaml_text import Env, Find, KeyOf

OAUTH2_PROVIDER = 'authentik_providers_oauth2.oauth2provider'
APPLICATION = 'authentik_core.application'
SCIM_PROVIDER = 'authentik_providers_scim.scimprovider'
GROUP = 'authentik_core.group'
POLICY_BINDING = 'authentik_policies.policybinding'
FLOW = 'authentik_flows.flow'
KEY_PAIR = 'authentik_crypto.certificatekeypair'
SCOPE_MAPPING = 'authentik_providers_oauth2.scopemapping'
SCIM_MAPPING = 'authentik_providers_scim.scimmapping'

AUTHORIZATION_FLOW = 'default-provider-authorization-implicit-consent'
# The provider's own invalidation flow only tells the person they left the application; the brand's
# default-invalidation-flow has a User Logout stage and so ends the Authentik session as well.
PROVIDER_INVALIDATION_FLOW = 'default-provider-invalidation-flow'
LOGOUT_INVALIDATION_FLOW = 'default-invalidation-flow'
SELF_SIGNED_KEY = 'authentik Self-signed Certificate'
SCOPES = ('openid', 'email', 'profile')
SCIM_TOKEN_VARIABLE = 'NETBOX_SCIM_TOKEN'
# Authentik's default; NetBox's sign-in needs the access token only for the token exchange itself.
ACCESS_TOKEN_VALIDITY = 'hours=1'

PROVIDER_ID = 'netbox-oidc-provider'
APPLICATION_ID = 'netbox-application'
SCIM_PROVIDER_ID = 'netbox-scim-provider'
SIGNING_CHOICES = ('rs256', 'es256', 'hs256')


@dataclass(frozen=True)
class Plan:
    """Everything the entries say, already checked: names, URLs and which optional entries to write."""

    client_id: str
    slug: str
    name: str
    root: str
    redirect_uri: str
    backchannel_logout_uri: str
    scim_url: str
    signing: str = 'rs256'
    signing_key: str | None = SELF_SIGNED_KEY
    invalidation_flow: str = LOGOUT_INVALIDATION_FLOW
    client_secret: str | None = None
    icon: str | None = None
    scim: bool = False
    groups: tuple = ()
    restrict_groups: tuple = ()


def oauth2_provider(plan):
    """The OAuth2/OpenID provider NetBox signs in through, identified by its client id."""
    attrs = {
        'name': f'{plan.name} (OpenID Connect)',
        'client_type': 'confidential',
        'client_id': plan.client_id,
    }
    if plan.client_secret is not None:
        attrs['client_secret'] = plan.client_secret
    attrs |= {
        'redirect_uris': [{'matching_mode': 'strict', 'url': plan.redirect_uri}],
        'logout_uri': plan.backchannel_logout_uri,
        'logout_method': 'backchannel',
        'signing_key': Find(KEY_PAIR, 'name', plan.signing_key) if plan.signing_key else None,
        'include_claims_in_id_token': True,
        'issuer_mode': 'per_provider',
        'access_token_validity': ACCESS_TOKEN_VALIDITY,
        'authorization_flow': Find(FLOW, 'slug', AUTHORIZATION_FLOW),
        'invalidation_flow': Find(FLOW, 'slug', plan.invalidation_flow),
        'property_mappings': [
            Find(SCOPE_MAPPING, 'managed', f'goauthentik.io/providers/oauth2/scope-{scope}') for scope in SCOPES
        ],
    }
    return {
        'model': OAUTH2_PROVIDER,
        'id': PROVIDER_ID,
        'state': 'present',
        'identifiers': {'client_id': plan.client_id},
        'attrs': attrs,
    }


def application(plan):
    """The application people see in Authentik, identified by the slug NetBox's endpoint names."""
    attrs = {
        'name': plan.name,
        'provider': KeyOf(PROVIDER_ID),
        'meta_launch_url': plan.root,
    }
    if plan.icon:
        # `icon` is the blueprint-only name of the application's icon (a URL or a file in Authentik's media).
        attrs['icon'] = plan.icon
    if plan.scim:
        # A backchannel provider's own `backchannel_application` is read-only in Authentik's serializer: the
        # application names its backchannel providers, and this list replaces any it had before.
        attrs['backchannel_providers'] = [KeyOf(SCIM_PROVIDER_ID)]
    return {
        'model': APPLICATION,
        'id': APPLICATION_ID,
        'state': 'present',
        'identifiers': {'slug': plan.slug},
        'attrs': attrs,
    }


def scim_provider(plan):
    """The SCIM provider that pushes users and groups to NetBox (the application lists it as backchannel)."""
    return {
        'model': SCIM_PROVIDER,
        'id': SCIM_PROVIDER_ID,
        'state': 'present',
        'identifiers': {'name': f'{plan.name} (SCIM)'},
        'attrs': {
            'url': plan.scim_url,
            'token': Env(SCIM_TOKEN_VARIABLE),
            'exclude_users_service_account': True,
            'property_mappings': [Find(SCIM_MAPPING, 'managed', 'goauthentik.io/providers/scim/user')],
            'property_mappings_group': [Find(SCIM_MAPPING, 'managed', 'goauthentik.io/providers/scim/group')],
        },
    }


def group_entry_id(index):
    return f'netbox-group-{index}'


def group(index, name):
    """An Authentik group a mapping rule names: created when missing, never changed when present."""
    return {
        'model': GROUP,
        'id': group_entry_id(index),
        'state': 'created',
        'identifiers': {'name': name},
        'attrs': {'name': name},
    }


def restriction(order, group_id):
    """A binding that lets the members of one group open the application (any one binding suffices)."""
    return {
        'model': POLICY_BINDING,
        'state': 'present',
        'identifiers': {'target': KeyOf(APPLICATION_ID), 'group': KeyOf(group_id)},
        'attrs': {'order': order, 'enabled': True, 'negate': False},
    }
