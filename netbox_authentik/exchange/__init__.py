"""API access with Authentik identities: NetBox API tokens in exchange for Authentik tokens (RFC 8693).

A script or a person at a terminal holds an Authentik access token (client credentials with a service
account's app password, or the device code flow) and POSTs it to /api/plugins/authentik/token-exchange/;
NetBox answers with a short-lived NetBox API token of the linked user.

- `verify`: the Authentik token checked by the sign-in's own rules (tokens, provider, metadata: the same
  cached JWKS and refresh, HS256 with the client secret, JWE, leeway), plus the audience allow-list, the
  claims an exchange needs and, optionally, Authentik's introspection.
- `issue`: who gets a token (linking, groups' required_groups, group_sync's mapping, superusers), the
  token itself, its one use per Authentik token, and deleting tokens of an ended Authentik session.
- `views`: the HTTP edge, OAuth error JSON only.
- `cli`: the `netbox-authentik-token` console script; it imports nothing of NetBox or Django (requests only).

It may use: settings, groups, logsafe, errors, models, linking, user_changes, provider, tokens, metadata,
mapping_rules, group_sync, pipeline and sessions; nothing above them.

May use only the layers below it (tests/tools/layout.py): settings, logsafe, guide, signin/, links/, groups/.
"""
