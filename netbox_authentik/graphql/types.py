"""GraphQL type of a group mapping rule."""

from typing import Annotated

import strawberry
from netbox.graphql.types import NetBoxObjectType, register_type

from ..models import GroupMapping
from .filters import GroupMappingFilter

__all__ = ('GroupMappingType',)


@register_type(GroupMapping, fields='__all__', filters=GroupMappingFilter, pagination=True)
class GroupMappingType(NetBoxObjectType):
    netbox_groups: list[Annotated['GroupType', strawberry.lazy('users.graphql.types')]]  # noqa: F821
