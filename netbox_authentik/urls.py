"""URLs under /plugins/authentik/."""

from django.urls import include, path
from utilities.urls import get_model_urls

from netbox_authentik.blueprint.views import BlueprintView

from . import backchannel, scim, views

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
    path('group-mappings/effective/resync/', views.EffectiveRulesResyncView.as_view(), name='groupmapping_resync'),
    path('group-mappings/', include(get_model_urls('netbox_authentik', 'groupmapping', detail=False))),
    path('group-mappings/<int:pk>/', include(get_model_urls('netbox_authentik', 'groupmapping'))),
]

# The Authentik blueprint for this NetBox, superusers only (netbox_authentik/blueprint/).
urlpatterns.append(path('authentik-setup/', BlueprintView.as_view(), name='authentik_setup'))

# OpenID Connect back-channel logout (netbox_authentik/backchannel.py).
urlpatterns.append(path('backchannel-logout/', backchannel.BackchannelLogoutView.as_view(), name='backchannel_logout'))

# SCIM 2.0 service provider Authentik's SCIM provider pushes to (netbox_authentik/scim.py).
urlpatterns += [
    path('scim/v2/ServiceProviderConfig', scim.ServiceProviderConfigView.as_view(), name='scim_config'),
    path('scim/v2/ResourceTypes', scim.ResourceTypesView.as_view(), name='scim_resource_types'),
    path('scim/v2/ResourceTypes/<str:name>', scim.ResourceTypesView.as_view(), name='scim_resource_type'),
    path('scim/v2/Schemas', scim.SchemasView.as_view(), name='scim_schemas'),
    path('scim/v2/Schemas/<str:name>', scim.SchemasView.as_view(), name='scim_schema'),
    path('scim/v2/Users', scim.UsersView.as_view(), name='scim_users'),
    path('scim/v2/Users/<str:pk>', scim.UserView.as_view(), name='scim_user'),
    path('scim/v2/Groups', scim.GroupsView.as_view(), name='scim_groups'),
    path('scim/v2/Groups/<str:pk>', scim.GroupView.as_view(), name='scim_group'),
    path('scim/v2/<path:rest>', scim.NotFoundView.as_view(), name='scim_not_found'),
]
