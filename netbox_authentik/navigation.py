"""The plugin's entries in NetBox's Plugins menu."""

from django.utils.translation import gettext_lazy as _
from netbox.plugins import PluginMenuButton, PluginMenuItem

menu_items = (
    PluginMenuItem(
        link='plugins:netbox_authentik:association_list',
        link_text=_('Identity Links'),
        permissions=['social_django.view_usersocialauth'],
        buttons=(
            PluginMenuButton(
                link='plugins:netbox_authentik:association_add',
                title=_('Link a user'),
                icon_class='mdi mdi-plus-thick',
                permissions=['social_django.add_usersocialauth'],
            ),
        ),
    ),
    PluginMenuItem(
        link='plugins:netbox_authentik:groupmapping_list',
        link_text=_('Group Mappings'),
        permissions=['netbox_authentik.view_groupmapping'],
        buttons=(
            PluginMenuButton(
                link='plugins:netbox_authentik:groupmapping_effective',
                title=_('Effective rules'),
                icon_class='mdi mdi-eye-outline',
                permissions=['netbox_authentik.view_groupmapping'],
            ),
            PluginMenuButton(
                link='plugins:netbox_authentik:groupmapping_add',
                title=_('Add a rule'),
                icon_class='mdi mdi-plus-thick',
                permissions=['netbox_authentik.add_groupmapping'],
            ),
        ),
    ),
    PluginMenuItem(link='plugins:netbox_authentik:authentik_setup', link_text=_('Authentik set-up'), staff_only=True),
)
