"""GraphQL for the plugin: group mapping rules (NetBox finds `schema` here)."""

from .schema import schema

__all__ = ('schema',)
