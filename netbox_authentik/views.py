"""NetBox pages for links between NetBox users and Authentik identities (social_django's UserSocialAuth).

UserSocialAuth is not a NetBox model: no change log, tags or custom fields. NetBox's generic
views still serve it, with a queryset NetBox's object permissions can restrict
(linking.associations) and the URL hook in linking.install_url_hooks.
"""

from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from netbox.object_actions import AddObject, BulkDelete, BulkExport, DeleteObject, EditObject
from netbox.ui import attrs, layout, panels
from netbox.ui.breadcrumbs import Breadcrumb
from netbox.views import generic
from social_django.models import UserSocialAuth
from utilities.views import register_model_view

from . import filtersets, forms, linking, tables

LIST_VIEW = 'plugins:netbox_authentik:association_list'


# -- buttons: deleting a link unlinks; the NetBox user stays ---------------------------------------------

class Unlink(DeleteObject):
    label = _('Unlink')


class UnlinkSelected(BulkDelete):
    label = _('Unlink Selected')


# -- detail page panels --------------------------------------------------------------------------------

class LinkDataDateTimeAttr(attrs.DateTimeAttr):
    """A time kept in extra_data, read through one of linking's accessors (never extra_data as a whole)."""

    def __init__(self, read, **kwargs):
        super().__init__(None, **kwargs)
        self.read = read

    def get_value(self, obj):
        return self.read(obj)


class AssociationPanel(panels.ObjectAttributesPanel):
    title = _('Authentik identity link')
    user = attrs.RelatedObjectAttr('user', linkify=True, label=_('NetBox user'))
    email = attrs.TextAttr('user.email', label=_('Email'))
    provider = attrs.TextAttr('provider', label=_('Provider'))
    uid = attrs.TextAttr('uid', label=_('Authentik uid (sub)'), style='font-monospace', copy_button=True)
    created = attrs.DateTimeAttr('created', label=_('Created'))
    last_sign_in = LinkDataDateTimeAttr(linking.last_sign_in, label=_('Last sign-in'))
    modified = attrs.DateTimeAttr('modified', label=_('Modified'))


class SyncedGroupsPanel(panels.ObjectAttributesPanel):
    title = _('Groups at the last sign-in')
    groups = attrs.ArrayAttr('extra_data.groups', label=_('Authentik groups'))
    groups_synced_at = LinkDataDateTimeAttr(linking.groups_synced_at, label=_('Synced'))


# -- views ------------------------------------------------------------------------------------------------

class AssociationListView(generic.ObjectListView):
    """All links, with quick search, filters, CSV export and bulk unlink."""

    queryset = linking.with_identity_counts(linking.associations())
    table = tables.AssociationTable
    filterset = filtersets.AssociationFilterSet
    filterset_form = forms.AssociationFilterForm
    actions = (AddObject, BulkExport, UnlinkSelected)
    template_name = 'netbox_authentik/association_list.html'

    def export_template(self, template, request):
        # An export template sees the whole row, extra_data's id_token included.
        raise Http404


@register_model_view(UserSocialAuth)
class AssociationView(generic.ObjectView):
    queryset = linking.associations()
    actions = (EditObject, Unlink)
    template_name = 'netbox_authentik/association.html'
    layout = layout.SimpleLayout(
        left_panels=[AssociationPanel()],
        right_panels=[SyncedGroupsPanel()],
        breadcrumbs=[Breadcrumb(label=_('Authentik identity links'), url=lambda obj: reverse(LIST_VIEW))],
        root_breadcrumb=False,
    )


class AssociationEditView(generic.ObjectEditView):
    queryset = linking.associations()
    form = forms.AssociationForm
    template_name = 'netbox_authentik/association_edit.html'

    def alter_object(self, obj, request, url_args, url_kwargs):
        # The form checks who is linking (only superusers may link), as NetBox's token form does.
        obj._request = request
        return obj


class AssociationDeleteView(generic.ObjectDeleteView):
    """Unlink: deletes the association row only, never the NetBox user."""

    queryset = linking.associations()
    template_name = 'netbox_authentik/association_delete.html'

    def get_extra_context(self, request, instance):
        # NetBox's confirmation reads "delete {object_type} {object}"; the object prints as its user.
        return {'object_type': _('the Authentik identity link of NetBox user')}


class AssociationBulkDeleteView(generic.BulkDeleteView):
    queryset = linking.associations()
    filterset = filtersets.AssociationFilterSet
    table = tables.AssociationTable
    template_name = 'netbox_authentik/association_bulk_delete.html'
