"""The associations endpoint, on NetBox's viewset: token auth, object permissions, filters, bulk delete."""

from netbox.api.viewsets import NetBoxModelViewSet

from .. import filtersets, linking
from .serializers import AssociationSerializer


class AssociationViewSet(NetBoxModelViewSet):
    """List, retrieve, create, update and delete links (social_django | user social auth permissions)."""

    queryset = linking.associations()
    serializer_class = AssociationSerializer
    filterset_class = filtersets.AssociationFilterSet
    # Named, so that ?ordering= can never reach extra_data.
    ordering_fields = ('id', 'provider', 'uid', 'created', 'modified', 'user__username')
