"""GraphQL filters of group mapping rules."""

from typing import Annotated

import strawberry
import strawberry_django
from netbox.graphql.filters import NetBoxModelFilter, register_filter
from strawberry_django import FilterLookup, StrFilterLookup

from ..models import GroupMapping

__all__ = ('GroupMappingFilter',)


@register_filter(GroupMapping, lookups=True)
class GroupMappingFilter(NetBoxModelFilter):
    authentik_group: StrFilterLookup | None = strawberry_django.filter_field()
    netbox_groups: Annotated['GroupFilter', strawberry.lazy('users.graphql.filters')] | None = (  # noqa: F821
        strawberry_django.filter_field()
    )
    superuser: FilterLookup[bool] | None = strawberry_django.filter_field()
    enabled: FilterLookup[bool] | None = strawberry_django.filter_field()
    description: StrFilterLookup | None = strawberry_django.filter_field()
