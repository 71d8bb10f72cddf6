"""NetBox management commands (`netbox authentik_*`): argument parsing and printing only.

May use only the layers below it (tests/tools/layout.py): settings, logsafe, guide, signin/, links/, groups/,
exchange/, sessions/, access, pipeline, scim/, diagnostics/, backends, blueprint/.
"""
