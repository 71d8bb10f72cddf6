"""Filters for the association and group mapping lists and the REST API. extra_data is deliberately not filterable."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _
from netbox.filtersets import BaseFilterSet, NetBoxModelFilterSet
from social_django.models import UserSocialAuth
from users.models import Group
from utilities.filtersets import register_filterset

from .models import GroupMapping

__all__ = ('AssociationFilterSet', 'GroupMappingFilterSet')


@register_filterset
class AssociationFilterSet(BaseFilterSet):
    """Quick search, user, provider, uid and creation date (the same names NetBox uses for tokens and jobs)."""

    q = django_filters.CharFilter(method='search', label=_('Search'))
    user_id = django_filters.ModelMultipleChoiceFilter(
        field_name='user',
        queryset=get_user_model().objects.all(),
        distinct=False,
        label=_('User (ID)'),
    )
    user = django_filters.ModelMultipleChoiceFilter(
        field_name='user__username',
        queryset=get_user_model().objects.all(),
        distinct=False,
        to_field_name='username',
        label=_('User (name)'),
    )
    several_identities = django_filters.BooleanFilter(
        method='filter_several_identities', label=_('User has several identities of the provider')
    )
    created__after = django_filters.DateTimeFilter(field_name='created', lookup_expr='gte')
    created__before = django_filters.DateTimeFilter(field_name='created', lookup_expr='lte')

    class Meta:
        model = UserSocialAuth
        # Never extra_data: a lookup on it would let anyone with view permission probe the stored id_token.
        fields = ('id', 'provider', 'uid', 'created', 'modified')

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(uid__icontains=value)
            | Q(provider__iexact=value)
            | Q(user__username__icontains=value)
            | Q(user__email__icontains=value)
        )

    def filter_several_identities(self, queryset, name, value):
        others = Exists(
            UserSocialAuth.objects.filter(user=OuterRef('user'), provider=OuterRef('provider')).exclude(
                pk=OuterRef('pk')
            )
        )
        return queryset.filter(others) if value else queryset.exclude(others)


@register_filterset
class GroupMappingFilterSet(NetBoxModelFilterSet):
    """Quick search, Authentik group, NetBox group, superuser, enabled, glob, tags and custom fields."""

    netbox_group_id = django_filters.ModelMultipleChoiceFilter(
        field_name='netbox_groups', queryset=Group.objects.all(), label=_('NetBox group (ID)')
    )
    netbox_group = django_filters.ModelMultipleChoiceFilter(
        field_name='netbox_groups__name',
        queryset=Group.objects.all(),
        to_field_name='name',
        label=_('NetBox group (name)'),
    )
    glob = django_filters.BooleanFilter(method='filter_glob', label=_('Is a glob'))

    class Meta:
        model = GroupMapping
        fields = ('id', 'authentik_group', 'superuser', 'enabled', 'description')

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(authentik_group__icontains=value)
            | Q(description__icontains=value)
            | Q(netbox_groups__name__icontains=value)
        ).distinct()

    def filter_glob(self, queryset, name, value):
        globs = Q(authentik_group__contains='*') | Q(authentik_group__contains='?') | Q(authentik_group__contains='[')
        return queryset.filter(globs) if value else queryset.exclude(globs)
