"""The associations and group mapping endpoints, on NetBox's viewset: token auth, object permissions, filters."""

from django.http import Http404
from netbox.api.viewsets import NetBoxModelViewSet

from .. import filtersets
from ..links import linking
from ..models import GroupMapping
from .serializers import AssociationSerializer, GroupMappingSerializer


class AssociationViewSet(NetBoxModelViewSet):
    """List, retrieve, create, update and delete links (social_django | user social auth permissions).

    Creating a link or changing its user, provider or uid is for superusers only (the serializer asks
    linking.link_problems); unlinking needs only the delete permission.
    """

    queryset = linking.associations()
    serializer_class = AssociationSerializer
    filterset_class = filtersets.AssociationFilterSet
    # Named, so that ?ordering= can never reach extra_data.
    ordering_fields = ('id', 'provider', 'uid', 'created', 'modified', 'user__username')

    def list(self, request, *args, **kwargs):
        if 'export' in request.GET:
            # An export template sees the whole row, extra_data's id_token included (as on the list page).
            raise Http404
        return super().list(request, *args, **kwargs)


class GroupMappingViewSet(NetBoxModelViewSet):
    """Group mapping rules. Non-superusers only write rules within their own rights (models.GroupMapping's queryset)."""

    queryset = GroupMapping.objects.prefetch_related('netbox_groups', 'tags')
    serializer_class = GroupMappingSerializer
    filterset_class = filtersets.GroupMappingFilterSet
