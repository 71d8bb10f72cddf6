"""REST API at /api/plugins/authentik/: links between NetBox users and Authentik identities, group mappings."""
