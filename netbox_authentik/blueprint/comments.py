"""The comments of the blueprint: what each entry does, and where what it cannot hold comes from.

Each function returns paragraphs; yaml_text wraps them into comment lines.
"""

from .entries import SCIM_TOKEN_VARIABLE


def header(plan, named):
    paragraphs = [
        f'Authentik blueprint written by NetBox (netbox-authentik) for {plan.root}',
        'Apply it to Authentik 2025.12 or later: Customization > Blueprints, `ak apply_blueprint <path relative '
        "to Authentik's blueprints folder>`, or a file in that folder. Applying it again changes nothing; after "
        'a change in NetBox (address, client id, mapping rules), write it again and apply the new file.',
    ]
    if plan.client_secret is None:
        paragraphs.append(
            'The client secret is not in this file: Authentik generates one when it creates the provider and '
            'never changes it when the file is applied again. Copy it from the provider page into NetBox as '
            'SOCIAL_AUTH_AUTHENTIK_SECRET.'
        )
    else:
        paragraphs.append(
            "WARNING: this file holds NetBox's client secret (SOCIAL_AUTH_AUTHENTIK_SECRET) in clear text. Keep "
            'it readable only by Authentik and its administrators, and delete copies you do not need.'
        )
    if plan.scim:
        paragraphs.append(
            f'SCIM: {SCIM_TOKEN_VARIABLE} must be set, to a NetBox API token allowed to provision, in the '
            "environment of Authentik's server AND worker: the worker applies the file again every hour in its own "
            'environment. Without it the blueprint fails to apply and changes nothing.'
        )
    if named is not None and named.globs:
        globs = ', '.join(repr(glob) for glob in named.globs)
        paragraphs.append(f'Not created (globs, not group names): {globs}.')
    return paragraphs


def provider(plan):
    signing = {
        'rs256': f'id_tokens signed RS256 with the key pair {plan.signing_key!r}.',
        'es256': f'id_tokens signed ES256 with the ECDSA key pair {plan.signing_key!r}.',
        'hs256': 'no signing key: id_tokens signed HS256 with the client secret (authentik_check warns).',
    }[plan.signing]
    return [
        "OAuth2/OpenID provider NetBox signs in through, found again by its client id (NetBox's "
        'SOCIAL_AUTH_AUTHENTIK_KEY). Strict redirect URI and back-channel logout URI of this NetBox; scopes '
        f'openid, email and profile (profile carries groups); {signing} Invalidation flow '
        f"{plan.invalidation_flow!r}. The subject mode is left as it is (new providers get Authentik's default, "
        "the hashed user id): changing it would change every person's sub."
    ]


def application(plan):
    paragraphs = [f'The application, found by the slug of SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT ({plan.slug!r}).']
    if plan.scim:
        paragraphs.append('Its backchannel providers become exactly the SCIM provider above.')
    return paragraphs


def scim_provider(plan):
    return [
        f'SCIM provider pushing users and groups to {plan.scim_url} (the application below lists it as its '
        f'backchannel provider). Its token, a NetBox API token, comes from {SCIM_TOKEN_VARIABLE} when the file is '
        'applied.'
    ]


def group(name, named):
    sources = []
    if named is not None:
        if name in named.mapped:
            sources.append('a group mapping rule')
        if name in named.required:
            sources.append('required_groups')
    named_by = ' and '.join(sources) or 'a group mapping rule'
    return [f'Authentik group named by {named_by}: created when missing, never changed when it exists.']


def restriction(name):
    return [f'Members of {name!r} may open the application; with any binding, people in none of them may not.']
