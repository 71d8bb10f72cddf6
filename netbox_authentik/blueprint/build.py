"""The blueprint for this NetBox, from its settings, its address and the effective group mapping rules.

Nothing here writes: the only database read is the mapping rules, and only when groups are asked for.
"""

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError

from netbox_authentik import mapping_rules
from netbox_authentik import settings as plugin_settings
from netbox_authentik.diagnostics.local import netbox_uris
from netbox_authentik.endpoint import ENDPOINT, endpoint_problems, is_missing
from netbox_authentik.groups import is_glob
from netbox_authentik.provider import normalize_endpoint

from . import comments, entries, yaml_text
from .entries import SELF_SIGNED_KEY, Plan

KEY = 'SOCIAL_AUTH_AUTHENTIK_KEY'
SECRET = 'SOCIAL_AUTH_AUTHENTIK_SECRET'


class BlueprintError(ValueError):
    """A setting or option that stops the blueprint from being written; the message says how to fix it."""


@dataclass(frozen=True)
class Options:
    """What the admin chose: the optional entries, the signing key and the application's name."""

    name: str = 'NetBox'
    signing: str = 'rs256'
    signing_key: str | None = None
    invalidation_flow: str | None = None
    scim: bool = False
    groups: bool = False
    restrict: bool = False
    include_secrets: bool = False
    icon: str | None = None


def client_id():
    value = getattr(settings, KEY, None)
    if is_missing(value) or not isinstance(value, str):
        raise BlueprintError(
            f'{KEY} is not set: the blueprint names the provider by its client id. Set it to the client id '
            'Authentik should use (any long random string, e.g. from `openssl rand -hex 20`), then write the '
            'blueprint again.'
        )
    # As configured, spaces and all: NetBox sends exactly this value as its client_id.
    return value


def application_slug():
    """The slug in SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT (or application_slug): the application's identifier."""
    endpoint = getattr(settings, ENDPOINT, None)
    configured_slug = plugin_settings.get('application_slug')
    stopping = [problem for problem in endpoint_problems(endpoint, configured_slug) if '.E' in problem.id]
    if stopping:
        raise BlueprintError(f'{stopping[0].msg} {stopping[0].hint}')
    path = urlsplit(normalize_endpoint(endpoint, configured_slug)).path
    return path.partition('/application/o/')[2].strip('/').split('/')[0]


def signing_key(options):
    """The key pair's name for RS256 and ES256; None for HS256 (no key: Authentik signs with the client secret)."""
    if options.signing not in entries.SIGNING_CHOICES:
        raise BlueprintError(f'--signing {options.signing!r}: choose one of {", ".join(entries.SIGNING_CHOICES)}.')
    if options.signing == 'hs256':
        if options.signing_key:
            raise BlueprintError('--signing hs256 uses no key pair: leave out --signing-key.')
        return None
    if options.signing == 'es256' and not options.signing_key:
        raise BlueprintError(
            '--signing es256 needs --signing-key NAME: the name of an ECDSA key pair in Authentik (System > '
            'Certificates > Generate, private key algorithm ECDSA).'
        )
    return options.signing_key or SELF_SIGNED_KEY


def client_secret(options):
    if not options.include_secrets:
        return None
    value = getattr(settings, SECRET, None)
    if is_missing(value) or not isinstance(value, str):
        raise BlueprintError(f'--include-secrets: {SECRET} is not set, so there is no secret to write.')
    return value


@dataclass(frozen=True)
class NamedGroups:
    """The Authentik groups NetBox's settings name exactly, and the globs that cannot become groups."""

    mapped: tuple
    required: tuple
    globs: tuple

    @property
    def all(self):
        return tuple(sorted(set(self.mapped) | set(self.required)))


def named_groups():
    """The groups the effective mapping rules and required_groups name; globs apart (Authentik needs names)."""
    try:
        rules = mapping_rules.effective_rules()
    except DatabaseError as failure:
        raise BlueprintError(
            f'Could not read the group mapping rules ({type(failure).__name__}); check the database and run '
            '`netbox migrate`.'
        ) from failure
    mapped = {rule.authentik_group for rule in rules if not rule.glob}
    globs = {rule.authentik_group for rule in rules if rule.glob}
    required = set()
    for pattern in plugin_settings.get('required_groups') or ():
        if not isinstance(pattern, str):
            continue
        (globs if is_glob(pattern) else required).add(pattern)
    return NamedGroups(tuple(sorted(mapped)), tuple(sorted(required)), tuple(sorted(globs)))


def restricted_to(named):
    """Who may open the application: required_groups when set (NetBox refuses everyone else), else mapped groups.

    Without a single exact name there is nothing to bind, and an application without bindings is open to all:
    that is refused rather than written as if it restricted anything.
    """
    if plugin_settings.get('required_groups'):
        if not named.required:
            raise BlueprintError(
                '--restrict: required_groups holds no exact Authentik group name (a glob cannot be bound to an '
                'application), so the application would stay open to everyone. Name a group in required_groups, '
                'or leave out --restrict.'
            )
        return named.required
    if not named.mapped:
        raise BlueprintError(
            '--restrict: no mapping rule names an exact Authentik group, so the application would stay open to '
            'everyone. Add a rule naming a group, or leave out --restrict.'
        )
    return named.mapped


def plan_for(origin, options):
    """Check the settings and options, and gather what the entries need."""
    uris = netbox_uris(origin)
    logout_at_authentik = plugin_settings.get('logout_at_authentik')
    plan = Plan(
        client_id=client_id(),
        slug=application_slug(),
        name=options.name.strip() or 'NetBox',
        root=uris.root,
        redirect_uri=uris.redirect_uri,
        backchannel_logout_uri=uris.backchannel_logout_uri,
        scim_url=uris.scim_url,
        signing=options.signing,
        signing_key=signing_key(options),
        invalidation_flow=options.invalidation_flow
        or (entries.LOGOUT_INVALIDATION_FLOW if logout_at_authentik else entries.PROVIDER_INVALIDATION_FLOW),
        client_secret=client_secret(options),
        icon=(options.icon or '').strip() or None,
        scim=options.scim,
    )
    named = None
    if options.groups or options.restrict:
        named = named_groups()
        restrict = restricted_to(named) if options.restrict else ()
        groups = named.all if options.groups else tuple(sorted(restrict))
        plan = replace(plan, groups=groups, restrict_groups=restrict)
    return plan, named


def blueprint_text(origin, options=Options()):
    """The whole blueprint as YAML text; raises BlueprintError with the fix when it cannot be written."""
    plan, named = plan_for(origin, options)
    written = [(comments.provider(plan), entries.oauth2_provider(plan))]
    if plan.scim:
        written.append((comments.scim_provider(plan), entries.scim_provider(plan)))
    written.append((comments.application(plan), entries.application(plan)))
    for index, name in enumerate(plan.groups, start=1):
        written.append((comments.group(name, named), entries.group(index, name)))
    for order, name in enumerate(plan.restrict_groups):
        group_id = entries.group_entry_id(plan.groups.index(name) + 1)
        written.append((comments.restriction(name), entries.restriction(order, group_id)))
    return yaml_text.render(comments.header(plan, named), f'NetBox ({plan.slug})', written)
