"""Group mapping rules kept in NetBox: an Authentik group (exact name or glob) onto NetBox groups and superuser.

Rules here join group_map and superuser_groups from PLUGINS_CONFIG (netbox_authentik/mapping_rules.py
combines them). They are NetBox objects: change-logged, journaled, tagged, with custom fields.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from netbox.models import NetBoxModel
from utilities.querysets import RestrictedQuerySet

from . import guide
from .groups import glob_problem, is_glob

__all__ = (
    'AUTHENTIK_GROUP_MAX_LENGTH',
    'AuthentikGroup',
    'GroupMapping',
    'PROVISION_PERMISSION',
    'rule_authority_problem',
)

# Authentik allows longer group names than NetBox (150); a rule may name any group a claim can carry.
AUTHENTIK_GROUP_MAX_LENGTH = 255

OUTSIDE_AUTHORITY = _(
    'Only a superuser can create, change or delete a rule that grants superuser status or maps onto NetBox '
    'groups you are not a member of: {reason}.'
)


def acts_as_superuser(actor):
    return bool(getattr(actor, 'is_active', False) and getattr(actor, 'is_superuser', False))


def rule_authority_problem(actor, superuser, netbox_groups):
    """Return why `actor` may not write a rule in this state ('' when they may); netbox_groups are Group objects.

    A rule hands rights to whoever signs in with the matching Authentik group, the actor included.
    Without this, anyone allowed to add rules could map their own Authentik group onto superuser or
    onto a group holding more rights than they have. So a non-superuser may only write rules that
    grant nothing they do not hold themselves: no superuser flag, and only groups they are in.
    """
    if acts_as_superuser(actor):
        return ''
    if superuser:
        return str(OUTSIDE_AUTHORITY.format(reason=_('the rule grants superuser status')))
    own = set(actor.groups.values_list('pk', flat=True)) if getattr(actor, 'pk', None) else set()
    foreign = sorted(group.name for group in netbox_groups if group.pk not in own)
    if foreign:
        names = ', '.join(f"'{name}'" for name in foreign)
        return str(OUTSIDE_AUTHORITY.format(reason=_('you are not a member of {names}').format(names=names)))
    return ''


class GroupMappingQuerySet(RestrictedQuerySet):
    """NetBox's object permissions, plus the superuser rule of rule_authority_problem for every write."""

    def restrict(self, user, action='view'):
        # NetBox's views and API restrict their queryset with this, before an edit (the object must be
        # in it) and after the save (the saved object must still be in it, or everything rolls back):
        # pages, bulk edit, bulk import, bulk delete and the REST API all enforce the rule through here.
        queryset = super().restrict(user, action)
        if action == 'view' or acts_as_superuser(user):
            return queryset
        foreign_group = GroupMapping.netbox_groups.through.objects.filter(groupmapping=OuterRef('pk')).exclude(
            group__user=user
        )
        return queryset.filter(superuser=False).exclude(Exists(foreign_group))


class GroupMapping(NetBoxModel):
    """An Authentik group (an exact name, or a glob with * ? [ ]) onto NetBox groups and superuser status."""

    authentik_group = models.CharField(
        verbose_name=_('Authentik group'),
        max_length=AUTHENTIK_GROUP_MAX_LENGTH,
        help_text=_(
            'An exact Authentik group name, or a glob when it holds *, ? or [ ] (case-sensitive). '
            'Write [[] for a literal [.'
        ),
    )
    netbox_groups = models.ManyToManyField(
        to='users.Group',
        related_name='authentik_group_mappings',
        blank=True,
        verbose_name=_('NetBox groups'),
    )
    superuser = models.BooleanField(
        verbose_name=_('superuser'),
        default=False,
        help_text=_('Members of the Authentik group become NetBox superusers.'),
    )
    description = models.CharField(verbose_name=_('description'), max_length=200, blank=True)
    enabled = models.BooleanField(verbose_name=_('enabled'), default=True)

    objects = GroupMappingQuerySet.as_manager()

    class Meta:
        ordering = ('authentik_group', 'pk')
        verbose_name = _('group mapping')
        verbose_name_plural = _('group mappings')

    def __str__(self):
        return self.authentik_group

    def get_absolute_url(self):
        return reverse('plugins:netbox_authentik:groupmapping', args=[self.pk])

    @property
    def docs_url(self):
        # NetBox's Help button would open {STATIC_URL}docs/models/netbox_authentik/groupmapping/, which NetBox
        # does not have: the plugin's guide explains rules instead.
        return guide.GROUP_MAPPING_PAGE

    @property
    def is_glob(self):
        return is_glob(self.authentik_group)

    def clean(self):
        super().clean()
        if self.authentik_group and not self.authentik_group.strip():
            raise ValidationError({'authentik_group': _('An Authentik group name cannot be only spaces.')})
        if problem := glob_problem(self.authentik_group or ''):
            raise ValidationError({'authentik_group': _('Not a valid glob: {problem}.').format(problem=problem)})


# Who may push users and groups through SCIM: a NetBox permission with the custom action 'provision' on
# "Authentik group" (or a superuser). Provisioning hands out whatever the mapping rules grant.
PROVISION_PERMISSION = 'netbox_authentik.provision_authentikgroup'


class AuthentikGroup(models.Model):
    """An Authentik group as Authentik's SCIM provider pushed it, and its members (NetBox users)."""

    # The group's UUID in Authentik (SCIM externalId).
    external_id = models.CharField(verbose_name=_('external ID'), max_length=255, null=True, blank=True, unique=True)
    display_name = models.CharField(verbose_name=_('name'), max_length=AUTHENTIK_GROUP_MAX_LENGTH)
    members = models.ManyToManyField(to=settings.AUTH_USER_MODEL, related_name='authentik_groups', blank=True)
    created = models.DateTimeField(auto_now_add=True)
    last_updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ('display_name', 'pk')
        verbose_name = _('Authentik group')
        verbose_name_plural = _('Authentik groups')
        permissions = [('provision_authentikgroup', 'Provision users and groups through SCIM')]

    def __str__(self):
        return self.display_name
