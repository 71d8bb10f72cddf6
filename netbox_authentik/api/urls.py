"""URLs under /api/plugins/authentik/."""

from django.urls import path
from netbox.api.routers import NetBoxRouter

from netbox_authentik.exchange.views import TokenExchangeView

from . import views

router = NetBoxRouter()
router.register('associations', views.AssociationViewSet, basename='association')
router.register('group-mappings', views.GroupMappingViewSet)

urlpatterns = router.urls + [
    # RFC 8693: NetBox API tokens in exchange for Authentik tokens (netbox_authentik/exchange/).
    path('token-exchange/', TokenExchangeView.as_view(), name='token_exchange'),
]
