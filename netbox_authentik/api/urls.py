"""URLs under /api/plugins/authentik/."""

from netbox.api.routers import NetBoxRouter

from . import views

router = NetBoxRouter()
router.register('associations', views.AssociationViewSet, basename='association')
router.register('group-mappings', views.GroupMappingViewSet)

urlpatterns = router.urls
