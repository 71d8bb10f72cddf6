"""The plugin's GraphQL queries: authentik_group_mapping and authentik_group_mapping_list."""

import strawberry
import strawberry_django

from .types import GroupMappingType


@strawberry.type(name='Query')
class AuthentikQuery:
    authentik_group_mapping: GroupMappingType = strawberry_django.field()
    authentik_group_mapping_list: list[GroupMappingType] = strawberry_django.field()


schema = [AuthentikQuery]
