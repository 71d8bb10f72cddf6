"""Tables of links between NetBox users and Authentik identities, and of group mapping rules."""

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from netbox.tables import NetBoxTable, columns
from social_django.models import UserSocialAuth
from utilities.templatetags.builtins.filters import placeholder

from .groups.plan import DATABASE, GROUP_MAP, SUPERUSER_GROUPS
from .links import linking
from .models import GroupMapping


class LinkDataDateTimeColumn(columns.DateTimeColumn):
    """A time kept in extra_data, read through one of linking's accessors (never extra_data as a whole)."""

    def __init__(self, read, **kwargs):
        self.read = read
        super().__init__(**kwargs)

    def render(self, record):
        return super().render(self.read(record))

    def value(self, record):
        return super().value(self.read(record))


NO_WRAP = {'td': {'class': 'text-nowrap'}}
# A person in hundreds of Authentik groups must not make the list pages thousands of pixels tall.
GROUPS_SHOWN = 5


class AuthentikGroupsColumn(tables.Column):
    """The Authentik groups of the last sign-in: the first few and a count; all of them on the detail page."""

    empty_values = ()  # no groups and no groups claim alike get render()'s dash

    def render(self, record, value):
        groups = linking.synced_groups(record) or []
        if not groups:
            return placeholder(None)  # a person in no group: the dash the detail page shows, not a blank cell
        shown = format_html_join(', ', '{}', ((name,) for name in groups[:GROUPS_SHOWN]))
        if len(groups) <= GROUPS_SHOWN:
            return shown
        more = _('and %(count)s more') % {'count': len(groups) - GROUPS_SHOWN}
        return format_html('{} <a href="{}" class="text-nowrap">{}</a>', shown, record.get_absolute_url(), more)

    def value(self, record, value):
        return ','.join(linking.synced_groups(record) or [])


class LinkActionsColumn(columns.ActionsColumn):
    """NetBox's actions, with "delete" called what it is here: unlinking, which never deletes the user."""

    actions = {
        **columns.ActionsColumn.actions,
        'delete': columns.ActionsItem(_('Unlink'), 'link-off', 'delete', 'danger'),
    }


class LabelledLinkActionsColumn(LinkActionsColumn):
    """As LinkActionsColumn, with the first action's button labelled in words, not an icon alone."""

    def render(self, record, table, **kwargs):
        html = str(super().render(record, table, **kwargs))
        first = next(iter(self.actions.values()))
        icon = f'<i class="mdi mdi-{first.icon}"></i>'
        return mark_safe(html.replace(f'{icon}</a>', f'{icon} {first.title}</a>', 1))  # noqa: S308 (NetBox's HTML)


class AssociationTable(NetBoxTable):
    """Links: NetBox user, Authentik identity and what the last sign-in recorded. No token ever appears."""

    user = tables.Column(verbose_name=_('User'), order_by=('user__username',))
    email = tables.Column(accessor='user__email', verbose_name=_('Email'))
    provider = tables.Column(verbose_name=_('Provider'))
    uid = tables.Column(verbose_name=_('Authentik uid (sub)'))
    groups = AuthentikGroupsColumn(
        accessor='extra_data__groups', verbose_name=_('Authentik groups (last sign-in)'), orderable=False
    )
    groups_synced_at = LinkDataDateTimeColumn(
        linking.groups_synced_at,
        accessor='extra_data__groups_synced_at',
        verbose_name=_('Groups synced'),
        timespec='minutes',
        attrs=NO_WRAP,
    )
    user_identities = tables.Column(verbose_name=_('Identities of user'), attrs=NO_WRAP)
    provisioned_by_scim = columns.BooleanColumn(
        accessor='extra_data__scim_provisioned', verbose_name=_('Provisioned by SCIM'), orderable=False
    )
    scim_updated_at = LinkDataDateTimeColumn(
        linking.scim_updated_at,
        accessor='extra_data__scim_updated_at',
        verbose_name=_('Last SCIM update'),
        timespec='minutes',
        attrs=NO_WRAP,
    )
    created = columns.DateTimeColumn(timespec='minutes', verbose_name=_('Created'), attrs=NO_WRAP)
    last_sign_in = LinkDataDateTimeColumn(
        linking.last_sign_in,
        accessor='extra_data__auth_time',
        timespec='minutes',
        verbose_name=_('Last sign-in'),
        attrs=NO_WRAP,
    )
    modified = columns.DateTimeColumn(timespec='minutes', verbose_name=_('Modified'), attrs=NO_WRAP)
    actions = LinkActionsColumn(actions=('edit', 'delete'))

    class Meta(NetBoxTable.Meta):
        model = UserSocialAuth
        fields = (
            'pk',
            'id',
            'user',
            'email',
            'provider',
            'uid',
            'user_identities',
            'groups',
            'groups_synced_at',
            'created',
            'last_sign_in',
            'provisioned_by_scim',
            'scim_updated_at',
            'modified',
            'actions',
        )
        # What fits a 1280 px window with NetBox's menu open: the user (with their email beneath), the identity,
        # the groups and the last sign-in. Provider, created, SCIM and the rest are a "Configure Table" away.
        default_columns = ('user', 'uid', 'user_identities', 'groups', 'last_sign_in')
        empty_text = _('No Authentik identity links')

    uid_width = '10em'

    def render_user(self, record, value):
        # The email beneath the name: one column where two would push the row actions off the screen.
        link = format_html('<a href="{}">{}</a>', value.get_absolute_url(), value)
        if not value.email or ('email' in self.columns and self.columns['email'].visible):
            return link
        # Wrapped after the @ when the column is narrow, not in the middle of a word.
        local, at, domain = value.email.rpartition('@')
        return format_html('{}<div class="small text-secondary">{}{}<wbr>{}</div>', link, local, at, domain)

    def value_user(self, value):
        return str(value)

    def render_uid(self, record, value):
        # A hashed_user_id sub is 64 characters: shortened here, whole in the tooltip, the export and the detail page.
        return format_html(
            '<a href="{}" class="d-inline-block text-truncate align-bottom font-monospace" style="max-width: {}" '
            'title="{}">{}</a>',
            record.get_absolute_url(),
            self.uid_width,
            value,
            value,
        )

    def value_uid(self, value):
        return value

    def render_user_identities(self, value):
        # More than one identity of a provider: two people can sign in as this user.
        if value and value > 1:
            return format_html(
                '<span class="badge text-bg-warning" title="{}">{}</span>',
                _('Several identities can sign in as this user'),
                value,
            )
        return value


class UserAssociationTable(AssociationTable):
    """One user's links, in the panel on NetBox's user page: unlink comes first."""

    actions = LabelledLinkActionsColumn(actions=('delete', 'edit'))
    uid_width = '8em'  # room in the narrow panel for the labelled unlink button

    class Meta(AssociationTable.Meta):
        # Half of NetBox's page at 1280 px: the identity, its last sign-in and the buttons. The rest is on the
        # link's own page, one click on the uid away.
        exclude = tuple(name for name in AssociationTable.Meta.fields if name not in ('uid', 'last_sign_in', 'actions'))
        default_columns = ('uid', 'last_sign_in')
        empty_text = _('Not linked to an Authentik identity')


# -- group mapping rules ------------------------------------------------------------------------------------


class GroupMappingTable(NetBoxTable):
    """Rules kept in NetBox: Authentik group, NetBox groups, superuser, enabled."""

    authentik_group = tables.Column(linkify=True, verbose_name=_('Authentik group'))
    glob = columns.BooleanColumn(accessor='is_glob', verbose_name=_('Glob'), orderable=False)
    netbox_groups = columns.ManyToManyColumn(linkify_item=True, verbose_name=_('NetBox groups'))
    superuser = columns.BooleanColumn(verbose_name=_('Superuser'))
    enabled = columns.BooleanColumn(verbose_name=_('Enabled'))
    description = tables.Column(verbose_name=_('Description'))
    tags = columns.TagColumn(url_name='plugins:netbox_authentik:groupmapping_list')

    class Meta(NetBoxTable.Meta):
        model = GroupMapping
        fields = (
            'pk',
            'id',
            'authentik_group',
            'glob',
            'netbox_groups',
            'superuser',
            'enabled',
            'description',
            'tags',
            'created',
            'last_updated',
            'actions',
        )
        default_columns = ('pk', 'authentik_group', 'glob', 'netbox_groups', 'superuser', 'enabled', 'description')
        empty_text = _('No group mapping rules in NetBox')


SOURCE_LABELS = {
    GROUP_MAP: _('configuration.py: group_map'),
    SUPERUSER_GROUPS: _('configuration.py: superuser_groups'),
}


class EffectiveRuleTable(tables.Table):
    """The effective rules (MappingRule objects), configuration and database, each with its source."""

    source = tables.Column(empty_values=(), verbose_name=_('Source'), orderable=False)
    authentik_group = tables.Column(verbose_name=_('Authentik group'), orderable=False)
    netbox_groups = tables.Column(empty_values=(), verbose_name=_('NetBox groups'), orderable=False)
    superuser = columns.BooleanColumn(verbose_name=_('Superuser'), orderable=False)
    written_by = tables.Column(empty_values=(), verbose_name=_('Written by'), orderable=False)

    class Meta:
        attrs = {'class': 'table table-hover object-list'}
        empty_text = _('No group mapping rules: neither configuration.py nor NetBox has any.')

    def __init__(self, *args, existing_groups=frozenset(), writers=None, **kwargs):
        self.existing_groups = existing_groups
        # {rule id: (the writer's name, why they could no longer write it, or '')} for database rules.
        self.writers = writers or {}
        super().__init__(*args, **kwargs)

    def render_written_by(self, record):
        name, lapsed = self.writers.get(record.rule_id, ('', ''))
        if not name:
            return mark_safe('<span class="text-muted">&mdash;</span>')
        if not lapsed:
            return name
        return format_html('{} <span class="badge text-bg-warning" title="{}">{}</span>', name, lapsed, lapsed)

    def render_source(self, record):
        if record.source == DATABASE:
            url = reverse('plugins:netbox_authentik:groupmapping', args=[record.rule_id])
            return format_html('<a href="{}">{} #{}</a>', url, _('NetBox rule'), record.rule_id)
        return format_html('<span class="badge text-bg-secondary">{}</span>', SOURCE_LABELS[record.source])

    def render_authentik_group(self, record, value):
        if record.glob:
            return format_html('<code>{}</code> <span class="badge text-bg-info">{}</span>', value, _('glob'))
        return format_html('<code>{}</code>', value)

    def render_netbox_groups(self, record):
        if not record.netbox_groups:
            return mark_safe('<span class="text-muted">&mdash;</span>')
        return format_html_join(
            ', ',
            '{}',
            (
                (
                    name
                    if name in self.existing_groups
                    else format_html('{} <span class="badge text-bg-warning">{}</span>', name, _('does not exist')),
                )
                for name in record.netbox_groups
            ),
        )
