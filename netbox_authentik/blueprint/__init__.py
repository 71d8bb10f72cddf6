"""The Authentik blueprint NetBox writes for itself: the provider, application, SCIM provider and groups it needs.

`netbox authentik_blueprint` and the "Authentik set-up" page print what `build.blueprint_text` returns; the
entries themselves are pure data (`entries`) rendered as YAML with Authentik's tags (`yaml_text`).

May use only the layers below it (tests/tools/layout.py): settings, logsafe, guide, signin/, links/, groups/,
exchange/, sessions/, access, pipeline, scim/, diagnostics/, backends.
"""
