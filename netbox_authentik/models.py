"""Group mapping rules kept in NetBox: an Authentik group (exact name or glob) onto NetBox groups and superuser.

Rules here join group_map and superuser_groups from PLUGINS_CONFIG (netbox_authentik/groups/rules.py
combines them). They are NetBox objects: change-logged, journaled, tagged, with custom fields.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from netbox.context import current_request
from netbox.models import NetBoxModel
from users.constants import CONSTRAINT_TOKEN_USER
from utilities.permissions import permission_is_exempt, qs_filter_from_constraints
from utilities.querysets import RestrictedQuerySet

from . import guide
from .groups.plan import glob_problem, is_glob

__all__ = (
    'AUTHENTIK_GROUP_MAX_LENGTH',
    'AuthentikGroup',
    'ExchangedToken',
    'GroupMapping',
    'PROVISION_PERMISSION',
    'holds_without_constraints',
    'RULE_GRANTS_NOTHING',
    'rule_authority_problem',
    'rule_grants_nothing',
    'writers_who_lost_authority',
)

# Authentik allows longer group names than NetBox (150); a rule may name any group a claim can carry.
AUTHENTIK_GROUP_MAX_LENGTH = 255

OUTSIDE_AUTHORITY = _(
    'Only a superuser can create, change or delete a rule that grants superuser status or maps onto NetBox '
    'groups you are not a member of: {reason}.'
)


# A rule that grants nothing would do nothing: rules kept in NetBox never stop auto-creation (groups.plan_groups).
RULE_GRANTS_NOTHING = _('A rule must grant at least one NetBox group or superuser status.')


def rule_grants_nothing(superuser, netbox_groups):
    """True when a rule in this state would grant neither a NetBox group nor superuser status: it is refused."""
    return not superuser and not list(netbox_groups)


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


def writers_who_lost_authority(mappings):
    """{rule id: why its writer could no longer write it} for the given GroupMappings (netbox_groups prefetched).

    A rule keeps granting after its writer lost what it grants (removed from the group, no longer superuser,
    deactivated, deleted): rule_authority_problem only runs when a rule is written. Rules written outside a
    request (a shell, a script, or before writers were recorded) have no writer and are left out.
    """
    lapsed = {}
    for mapping in mappings:
        writer = mapping.written_by
        if writer is None:
            if mapping.written_by_name:
                lapsed[mapping.pk] = str(_("its writer '{name}' was deleted").format(name=mapping.written_by_name))
            continue
        name = writer.get_username()
        if not writer.is_active:
            lapsed[mapping.pk] = str(_("its writer '{name}' is deactivated").format(name=name))
        elif acts_as_superuser(writer):
            continue
        elif mapping.superuser:
            lapsed[mapping.pk] = str(
                _("it grants superuser status and its writer '{name}' is no superuser").format(name=name)
            )
        else:
            own = set(writer.groups.values_list('pk', flat=True))
            foreign = sorted(group.name for group in mapping.netbox_groups.all() if group.pk not in own)
            if foreign:
                names = ', '.join(f"'{group}'" for group in foreign)
                lapsed[mapping.pk] = str(
                    _("its writer '{name}' is no longer a member of {names}").format(name=name, names=names)
                )
    return lapsed


class GroupMappingQuerySet(RestrictedQuerySet):
    """NetBox's object permissions, plus the superuser rule of rule_authority_problem for every write."""

    def restrict(self, user, action='view'):
        # NetBox's views and API restrict their queryset with this, before an edit (the object must be
        # in it) and after the save (the saved object must still be in it, or everything rolls back):
        # pages, bulk edit, bulk import, bulk delete and the REST API all enforce the rule through here.
        queryset = super().restrict(user, action)
        if action in ('add', 'change'):
            # Whoever writes it, a saved rule must grant something (RULE_GRANTS_NOTHING). A rule left with
            # nothing (its NetBox groups deleted) can then only be deleted.
            has_group = GroupMapping.netbox_groups.through.objects.filter(groupmapping=OuterRef('pk'))
            queryset = queryset.filter(Q(superuser=True) | Exists(has_group))
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
    # Who last created or changed the rule, and so vouched that they held what it grants (rule_authority_problem).
    # The name stays when the account is deleted. Both are set by save() from NetBox's current request.
    written_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name='+',
        null=True,
        blank=True,
        editable=False,
        verbose_name=_('written by'),
    )
    written_by_name = models.CharField(verbose_name=_('written by (name)'), max_length=150, blank=True, editable=False)

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

    def save(self, *args, **kwargs):
        # Pages, imports, bulk edits and the REST API all run in a request NetBox keeps in current_request.
        writer = getattr(current_request.get(), 'user', None)
        if writer is not None and writer.is_authenticated:
            self.written_by, self.written_by_name = writer, writer.get_username()
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        if self.authentik_group and not self.authentik_group.strip():
            raise ValidationError({'authentik_group': _('An Authentik group name cannot be only spaces.')})
        if problem := glob_problem(self.authentik_group or ''):
            raise ValidationError({'authentik_group': _('Not a valid glob: {problem}.').format(problem=problem)})


# Who may push users and groups through SCIM: a NetBox permission with the custom action 'provision' on
# "Authentik group" (or a superuser). Provisioning hands out whatever the mapping rules grant.
PROVISION_PERMISSION = 'netbox_authentik.provision_authentikgroup'


def holds_without_constraints(user, permission):
    """True when `user` holds `permission` for every object: superuser, exempt, or one grant without constraints.

    NetBox's own reading (RestrictedQuerySet.restrict): any constraint-free grant of a permission gives model-wide
    access; grants that all carry constraints give access only to the objects they select.
    """
    if acts_as_superuser(user) or permission_is_exempt(permission):
        return True
    if not getattr(user, 'is_authenticated', False) or permission not in user.get_all_permissions():
        return False
    return not qs_filter_from_constraints(user._object_perm_cache[permission], {CONSTRAINT_TOKEN_USER: user})


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


class ExchangedToken(models.Model):
    """A NetBox API token issued in exchange for an Authentik token, and that Authentik token's one use.

    The row names the plugin's own tokens (authentik_cleanup deletes them once expired; a back-channel logout
    deletes those of its Authentik session), and its unique digest makes each Authentik token exchangeable
    once: written in the same transaction as the token, so both exist or neither, on every worker. The row
    outlives its token (deleted by hand, or expired early) until the Authentik token itself has expired.
    """

    token = models.OneToOneField(
        to='users.Token', on_delete=models.SET_NULL, null=True, blank=True, related_name='authentik_exchange'
    )
    user = models.ForeignKey(to=settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name='+')
    # SHA-256 of the Authentik token as presented (Authentik's tokens have no jti).
    subject_digest = models.CharField(max_length=64, unique=True)
    # When the Authentik token expires: until then the row must stay, or the token could be exchanged again.
    subject_expires = models.DateTimeField()
    # When the NetBox token expires as issued (a later change to the token does not move this).
    expires = models.DateTimeField()
    client_id = models.CharField(max_length=255, blank=True)
    # Authentik's session id, when the Authentik token carried one (a person's id_token does).
    sid = models.CharField(max_length=255, blank=True, db_index=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ('-created', 'pk')
        verbose_name = _('exchanged API token')
        verbose_name_plural = _('exchanged API tokens')

    def __str__(self):
        return f'{self.user} ({self.client_id})'
