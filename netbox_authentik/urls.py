"""URLs under /plugins/authentik/."""

from django.urls import include, path
from utilities.urls import get_model_urls

from . import backchannel, views

# Links between NetBox users and Authentik identities (netbox_authentik/views.py).
urlpatterns = [
    path('associations/', views.AssociationListView.as_view(), name='association_list'),
    path('associations/add/', views.AssociationEditView.as_view(), name='association_add'),
    path('associations/delete/', views.AssociationBulkDeleteView.as_view(), name='association_bulk_delete'),
    path('associations/<int:pk>/', views.AssociationView.as_view(), name='association'),
    path('associations/<int:pk>/edit/', views.AssociationEditView.as_view(), name='association_edit'),
    path('associations/<int:pk>/delete/', views.AssociationDeleteView.as_view(), name='association_delete'),
    # Group mapping rules: NetBox's pages (list, add, import, edit, delete, changelog, journal).
    path('group-mappings/effective/', views.EffectiveRulesView.as_view(), name='groupmapping_effective'),
    path('group-mappings/', include(get_model_urls('netbox_authentik', 'groupmapping', detail=False))),
    path('group-mappings/<int:pk>/', include(get_model_urls('netbox_authentik', 'groupmapping'))),
]

# OpenID Connect back-channel logout (netbox_authentik/backchannel.py).
urlpatterns.append(path('backchannel-logout/', backchannel.BackchannelLogoutView.as_view(), name='backchannel_logout'))
