"""GraphQL.

May use only the layers below it (tests/tools/layout.py): settings, logsafe, guide, signin/, links/, groups/,
exchange/, sessions/, access, pipeline, scim/, diagnostics/, backends, blueprint/.
"""

from .schema import schema

__all__ = ('schema',)
