"""Content the plugin adds to NetBox's own pages: the Authentik identities panel on a user's page."""

from django.utils.translation import gettext_lazy as _
from netbox.plugins import PluginTemplateExtension
from netbox.ui.actions import LinkAction
from netbox.ui.panels import ContextTablePanel

from .links.linking import associations
from .tables import UserAssociationTable


class UserAuthentikIdentities(PluginTemplateExtension):
    """A panel on /users/users/<pk>/ listing that user's Authentik identity links, with link and unlink."""

    models = ['users.user']

    def right_page(self):
        request = self.context['request']
        if not request.user.has_perm('social_django.view_usersocialauth'):
            return ''
        panel = ContextTablePanel(
            table=self.links_table,
            title=_('Authentik Identities'),
            actions=[
                LinkAction(
                    'plugins:netbox_authentik:association_add',
                    url_params={'user': lambda context: context['object'].pk},
                    label=_('Link identity'),
                    button_icon='link-plus',
                    permissions=['social_django.add_usersocialauth'],
                ),
            ],
        )
        return panel.render(self.context)

    def links_table(self, context):
        links = associations().restrict(context['request'].user, 'view').filter(user=context['object'])
        return UserAssociationTable(links, orderable=False)


template_extensions = [UserAuthentikIdentities]
