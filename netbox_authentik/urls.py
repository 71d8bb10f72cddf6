"""URLs under /plugins/authentik/."""

urlpatterns = []
