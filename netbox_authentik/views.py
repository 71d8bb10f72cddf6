"""NetBox pages for links between NetBox users and Authentik identities, and for group mapping rules.

UserSocialAuth is not a NetBox model: no change log, tags or custom fields. NetBox's generic
views still serve it, with a queryset NetBox's object permissions can restrict
(linking.associations) and the URL hook in linking.install_url_hooks. GroupMapping is a NetBox
model: its pages are NetBox's own, registered with register_model_view.
"""

import re

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.generic import View
from extras.ui.panels import CustomFieldsPanel, TagsPanel
from netbox.object_actions import AddObject, BulkDelete, BulkExport, DeleteObject, EditObject
from netbox.ui import attrs, layout, panels
from netbox.ui.breadcrumbs import Breadcrumb
from netbox.views import generic
from social_django.models import UserSocialAuth
from users.models import Group
from utilities.forms import DeleteForm
from utilities.htmx import htmx_partial
from utilities.views import ContentTypePermissionRequiredMixin, get_action_url, register_model_view

from . import filtersets, forms, guide, tables
from .forms import EffectiveRulesForm
from .groups import resync
from .groups import rules as mapping_rules
from .groups.plan import DATABASE
from .links import linking
from .models import GroupMapping, holds_without_constraints, writers_who_lost_authority

LIST_VIEW = 'plugins:netbox_authentik:association_list'


# -- buttons: deleting a link unlinks; the NetBox user stays ---------------------------------------------


class Unlink(DeleteObject):
    label = _('Unlink')


class UnlinkSelected(BulkDelete):
    label = _('Unlink Selected')


# -- bulk pages: the selected rows' ids --------------------------------------------------------------------


class SelectedIdsMixin:
    """Answer 400 to a bulk request whose selected ids are not numbers.

    NetBox's bulk views read the `pk` values with int() or filter by them, so a crafted value would be a
    server error. The check runs in post(), after NetBox's permission checks.
    """

    def post(self, request, *args, **kwargs):
        if not all(pk.isascii() and pk.isdigit() for pk in request.POST.getlist('pk')):
            return HttpResponseBadRequest(_('The selected rows are not valid: each must be an id number.'))
        return super().post(request, *args, **kwargs)


# -- detail page panels --------------------------------------------------------------------------------


class LinkDataDateTimeAttr(attrs.DateTimeAttr):
    """A time kept in extra_data, read through one of linking's accessors (never extra_data as a whole)."""

    def __init__(self, read, **kwargs):
        super().__init__(None, **kwargs)
        self.read = read

    def get_value(self, obj):
        return self.read(obj)


class LinkDataBooleanAttr(attrs.BooleanAttr):
    """A flag kept in extra_data, read through one of linking's accessors."""

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
    provisioned_by_scim = LinkDataBooleanAttr(linking.provisioned_by_scim, label=_('Provisioned by SCIM'))
    scim_updated_at = LinkDataDateTimeAttr(linking.scim_updated_at, label=_('Last SCIM update'))
    modified = attrs.DateTimeAttr('modified', label=_('Modified'))


class SyncedGroupsPanel(panels.ObjectAttributesPanel):
    title = _('Authentik groups last seen (sign-in or SCIM)')
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
        # NetBox's Help button on the edit page (a link row has no docs_url of its own).
        obj.docs_url = guide.IDENTITY_LINK_PAGE
        return obj


def say_unlinked(request, reword):
    """Reword NetBox's success message "Deleted … user social auth…" as the unlinking it was.

    `reword(match)` gets the match of NetBox's message and returns the new text. Reading the
    queued messages marks them used; setting `used` back keeps every message for the next page.
    """
    storage = messages.get_messages(request)
    for message in storage:
        match = DELETED.match(str(message.message))
        if message.level == messages.SUCCESS and match:
            message.message = reword(match)
    storage.used = False


# NetBox's own wording: 'Deleted {verbose_name} {object}' and 'Deleted {count} {verbose_name_plural}'.
DELETED = re.compile(r'^Deleted (?:(?P<count>\d+) user social auths|user social auth (?P<user>.*))$')


class AssociationDeleteView(generic.ObjectDeleteView):
    """Unlink: deletes the association row only, never the NetBox user."""

    queryset = linking.associations()
    template_name = 'netbox_authentik/association_delete.html'

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        say_unlinked(request, lambda match: _('Unlinked the Authentik identity of {user}').format(user=match['user']))
        return response

    def get(self, request, *args, **kwargs):
        # NetBox renders its own "Confirm Deletion" form into the modal; this page says "Unlink" throughout.
        if not htmx_partial(request):
            return super().get(request, *args, **kwargs)
        association = self.get_object(**kwargs)
        return render(
            request,
            'netbox_authentik/htmx/unlink_form.html',
            {
                'object': association,
                'form': DeleteForm(instance=association, initial=request.GET),
                'form_url': get_action_url(self.queryset.model, action='delete', kwargs={'pk': association.pk}),
            },
        )


class AssociationBulkDeleteView(SelectedIdsMixin, generic.BulkDeleteView):
    queryset = linking.associations()
    filterset = filtersets.AssociationFilterSet
    table = tables.AssociationTable
    template_name = 'netbox_authentik/association_bulk_delete.html'

    def post(self, request, **kwargs):
        response = super().post(request, **kwargs)
        say_unlinked(request, lambda match: unlinked_count(int(match['count'])))
        return response


def unlinked_count(count):
    return ngettext('Unlinked {count} Authentik identity', 'Unlinked {count} Authentik identities', count).format(
        count=count
    )


# -- group mapping rules ------------------------------------------------------------------------------------
# Non-superusers only ever write rules within their own rights: GroupMapping's queryset (models.py)
# hides the others from every write view, and each save is checked against it again.


class GroupMappingPanel(panels.ObjectAttributesPanel):
    title = _('Group mapping rule')
    authentik_group = attrs.TextAttr('authentik_group', label=_('Authentik group'), style='font-monospace')
    glob = attrs.BooleanAttr('is_glob', label=_('Glob'))
    netbox_groups = attrs.RelatedObjectListAttr('netbox_groups', linkify=True, label=_('NetBox groups'))
    superuser = attrs.BooleanAttr('superuser', label=_('Superuser'))
    enabled = attrs.BooleanAttr('enabled', label=_('Enabled'))
    description = attrs.TextAttr('description', label=_('Description'))


GROUP_MAPPINGS = GroupMapping.objects.prefetch_related('netbox_groups', 'tags')


@register_model_view(GroupMapping, 'list', path='', detail=False)
class GroupMappingListView(generic.ObjectListView):
    queryset = GROUP_MAPPINGS
    table = tables.GroupMappingTable
    filterset = filtersets.GroupMappingFilterSet
    filterset_form = forms.GroupMappingFilterForm
    template_name = 'netbox_authentik/groupmapping_list.html'


@register_model_view(GroupMapping)
class GroupMappingView(generic.ObjectView):
    queryset = GROUP_MAPPINGS
    template_name = 'generic/object.html'
    layout = layout.SimpleLayout(
        left_panels=[GroupMappingPanel()],
        right_panels=[TagsPanel(), CustomFieldsPanel()],
    )


@register_model_view(GroupMapping, 'add', detail=False)
@register_model_view(GroupMapping, 'edit')
class GroupMappingEditView(generic.ObjectEditView):
    queryset = GroupMapping.objects.all()
    form = forms.GroupMappingForm


@register_model_view(GroupMapping, 'delete')
class GroupMappingDeleteView(generic.ObjectDeleteView):
    queryset = GroupMapping.objects.all()


@register_model_view(GroupMapping, 'bulk_import', path='import', detail=False)
class GroupMappingBulkImportView(generic.BulkImportView):
    queryset = GroupMapping.objects.all()
    model_form = forms.GroupMappingImportForm


@register_model_view(GroupMapping, 'bulk_edit', path='edit', detail=False)
class GroupMappingBulkEditView(SelectedIdsMixin, generic.BulkEditView):
    queryset = GROUP_MAPPINGS
    filterset = filtersets.GroupMappingFilterSet
    table = tables.GroupMappingTable
    form = forms.GroupMappingBulkEditForm


@register_model_view(GroupMapping, 'bulk_delete', path='delete', detail=False)
class GroupMappingBulkDeleteView(SelectedIdsMixin, generic.BulkDeleteView):
    queryset = GROUP_MAPPINGS
    filterset = filtersets.GroupMappingFilterSet
    table = tables.GroupMappingTable


def sees_every_rule(user):
    """True for a superuser, or a holder of a view permission on rules without constraints (or with the exemption)."""
    return holds_without_constraints(user, 'netbox_authentik.view_groupmapping')


def rule_writers(rule_ids):
    """{rule id: (its writer's name, why they could no longer write it or '')} for the rules in NetBox."""
    mappings = (
        GroupMapping.objects.filter(pk__in=rule_ids).select_related('written_by').prefetch_related('netbox_groups')
    )
    lapsed = writers_who_lost_authority(mappings)
    return {mapping.pk: (mapping.written_by_name, lapsed.get(mapping.pk, '')) for mapping in mappings}


class EffectiveRulesView(ContentTypePermissionRequiredMixin, View):
    """The rules in force now (configuration.py and NetBox), and what they would give one linked user."""

    template_name = 'netbox_authentik/effective_rules.html'

    def get_required_permission(self):
        return 'netbox_authentik.view_groupmapping'

    def get(self, request):
        config = mapping_rules.configuration()
        every_rule = sees_every_rule(request.user)
        # The rules this person may see, as on the rule list, API and GraphQL: configuration.py's only with
        # an unconstrained view permission (they are no objects a constraint could select).
        visible = set(GroupMapping.objects.restrict(request.user, 'view').values_list('pk', flat=True))
        rules = [
            rule
            for rule in mapping_rules.effective_rules(config)
            if (rule.rule_id in visible if rule.source == DATABASE else every_rule)
        ]
        named = {name for rule in rules for name in rule.netbox_groups}
        existing = frozenset(Group.objects.filter(name__in=named).values_list('name', flat=True))
        table = tables.EffectiveRuleTable(rules, existing_groups=existing, writers=rule_writers(visible))

        # Whose groups one may look at follows the identity link pages' view permission. The preview applies
        # every rule, so it is shown only to those who see every rule.
        links = linking.associations().restrict(request.user, 'view')
        may_preview = every_rule and request.user.has_perm('social_django.view_usersocialauth')
        form = EffectiveRulesForm(request.GET or None, links=links if may_preview else links.none())
        preview = None
        if may_preview and form.is_valid() and form.cleaned_data['link'] is not None:
            preview = mapping_rules.preview(form.cleaned_data['link'], config)
        return render(
            request,
            self.template_name,
            {
                'table': table,
                'form': form,
                'may_preview': may_preview,
                'preview': preview,
                'chosen': form.cleaned_data.get('link') if form.is_bound and form.is_valid() else None,
                'group_sync': config['group_sync'],
            },
        )


class EffectiveRulesResyncView(View):
    """POST: re-apply the effective rules now to every linked user (superusers only), then show what changed."""

    def post(self, request):
        if not request.user.is_superuser:
            raise PermissionDenied
        summary = resync.resync(actor=request.user)
        changed = '; '.join(outcome.describe() for outcome in summary.changed[:20])
        more = f' (and {len(summary.changed) - 20} more)' if len(summary.changed) > 20 else ''
        messages.success(
            request,
            _('Rules re-applied: {summary}').format(summary=summary.describe())
            + (f' {changed}{more}' if changed else ''),
        )
        return redirect('plugins:netbox_authentik:groupmapping_effective')
