"""Forms of the association pages (link a NetBox user to an Authentik identity) and of the group mapping rules."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from netbox.context import current_request
from netbox.forms import (
    NetBoxModelBulkEditForm,
    NetBoxModelFilterSetForm,
    NetBoxModelForm,
    NetBoxModelImportForm,
)
from social_core.backends.utils import load_backends
from social_django.models import UserSocialAuth
from users.models import Group
from utilities.forms import BOOLEAN_WITH_BLANK_CHOICES
from utilities.forms.fields import (
    CSVModelMultipleChoiceField,
    DynamicModelChoiceField,
    DynamicModelMultipleChoiceField,
    TagFilterField,
)
from utilities.forms.rendering import FieldSet
from utilities.forms.widgets import BulkEditNullBooleanSelect, DateTimePicker

from .links import linking
from .models import RULE_GRANTS_NOTHING, GroupMapping, rule_authority_problem, rule_grants_nothing

__all__ = (
    'AssociationFilterForm',
    'AssociationForm',
    'GroupMappingBulkEditForm',
    'GroupMappingFilterForm',
    'GroupMappingForm',
    'GroupMappingImportForm',
)


def _link_provider_choices():
    """The sign-in backends a link can be for: this plugin's, NetBox's other social backends, and those that
    links already name (`oidc`, left by the generic backend until `authentik_migrate_oidc` moves them)."""
    names = {
        linking.PROVIDER,
        *load_backends(settings.AUTHENTICATION_BACKENDS),
        *UserSocialAuth.objects.values_list('provider', flat=True).distinct(),
    }
    return [(name, name) for name in sorted(names)]


class AssociationForm(forms.ModelForm):
    """Link an existing NetBox user to an Authentik identity (its `sub`). Only superusers may save it."""

    user = DynamicModelChoiceField(queryset=get_user_model().objects.all(), label=_('NetBox user'))
    provider = forms.ChoiceField(
        choices=_link_provider_choices,
        label=_('Provider'),
        help_text=_("The sign-in backend: 'authentik' for this plugin."),
    )
    allow_second_identity = forms.BooleanField(
        required=False,
        label=_('Allow a second identity'),
        help_text=_(
            'Link even though the user is already linked to another identity of this provider: '
            'two people could then sign in as this user.'
        ),
    )

    fieldsets = (FieldSet('user', 'provider', 'uid', 'allow_second_identity', name=_('Authentik identity link')),)

    class Meta:
        model = UserSocialAuth
        fields = ('user', 'provider', 'uid')
        labels = {'uid': _('Authentik uid (sub)')}
        help_texts = {
            'uid': _(
                "The user's <code>sub</code> claim in Authentik's tokens; it depends on the provider's "
                'subject mode (hashed user ID by default).'
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The link as stored, before the submitted values are put on the instance.
        self.stored = (
            UserSocialAuth(
                pk=self.instance.pk,
                user_id=self.instance.user_id,
                provider=self.instance.provider,
                uid=self.instance.uid,
            )
            if self.instance.pk is not None
            else None
        )
        # A new link is for this plugin's backend unless the URL asks otherwise (?provider=oidc).
        if self.instance.pk is None and not self.initial.get('provider'):
            self.initial['provider'] = linking.PROVIDER

    def clean(self):
        super().clean()
        # Set by the edit view (as NetBox's token form does); without it the acting user is unknown: refuse.
        request = getattr(self.instance, '_request', None)
        if request is None:
            raise forms.ValidationError(_('Unable to verify permission to link this user.'))
        problems = linking.link_problems(
            request.user,
            self.cleaned_data.get('user'),
            self.cleaned_data.get('provider'),
            self.cleaned_data.get('uid'),
            link=self.stored,
            allow_second_identity=self.cleaned_data.get('allow_second_identity', False),
        )
        for field, message in problems.items():
            self.add_error(None if field == '__all__' else field, message)
        if self.instance.pk is None:
            for name, value in linking.link_key(self.cleaned_data.get('provider')).items():
                setattr(self.instance, name, value)
        return self.cleaned_data


def _provider_choices():
    return [
        (name, name)
        for name in UserSocialAuth.objects.values_list('provider', flat=True).distinct().order_by('provider')
    ]


class AssociationFilterForm(NetBoxModelFilterSetForm):
    """The Filters tab of the association list."""

    model = UserSocialAuth
    fieldsets = (
        FieldSet('q', 'filter_id'),
        FieldSet('user_id', 'provider', 'uid', 'several_identities', name=_('Link')),
        FieldSet('created__after', 'created__before', name=_('Created')),
    )
    user_id = DynamicModelMultipleChoiceField(
        queryset=get_user_model().objects.all(),
        required=False,
        label=_('User'),
    )
    provider = forms.MultipleChoiceField(choices=_provider_choices, required=False, label=_('Provider'))
    uid = forms.CharField(required=False, label=_('Authentik uid (sub)'))
    several_identities = forms.NullBooleanField(
        required=False, label=_('User has several identities'), widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES)
    )
    created__after = forms.DateTimeField(required=False, label=_('Created after'), widget=DateTimePicker())
    created__before = forms.DateTimeField(required=False, label=_('Created before'), widget=DateTimePicker())


# -- group mapping rules ------------------------------------------------------------------------------------


def _acting_user():
    """The person submitting the form: NetBox keeps the request of every page view in current_request."""
    request = current_request.get()
    return getattr(request, 'user', None)


class GroupMappingAuthorityMixin:
    """Refuse, with a message, a rule that grants nothing or that the person submitting may not write.

    The views enforce both again through GroupMapping's queryset, whatever the form.
    """

    def check_rule(self, superuser, netbox_groups):
        if rule_grants_nothing(superuser, netbox_groups):
            raise forms.ValidationError(RULE_GRANTS_NOTHING)
        actor = _acting_user()
        if actor is None:
            return  # no page request (a shell, a script): the views' queryset check still applies to pages
        if problem := rule_authority_problem(actor, superuser, netbox_groups):
            raise forms.ValidationError(problem)


# The picker asks NetBox's REST API for groups, which lists only those the person may view.
NETBOX_GROUPS_HELP = _(
    'Members of the Authentik group are put in these NetBox groups. The list shows only the NetBox groups you may '
    'view: it stays empty without the permission to view groups (Admin › Permissions: object type "Users | Group", '
    'action View). Unless you are a superuser, a rule may only name groups you are a member of.'
)


class GroupMappingForm(GroupMappingAuthorityMixin, NetBoxModelForm):
    """Add or edit one rule."""

    netbox_groups = DynamicModelMultipleChoiceField(
        queryset=Group.objects.all(),
        required=False,
        label=_('NetBox groups'),
        help_text=NETBOX_GROUPS_HELP,
    )

    fieldsets = (
        FieldSet(
            'authentik_group',
            'netbox_groups',
            'superuser',
            'enabled',
            'description',
            'tags',
            name=_('Group mapping rule'),
        ),
    )

    class Meta:
        model = GroupMapping
        fields = ('authentik_group', 'netbox_groups', 'superuser', 'enabled', 'description', 'tags')

    def clean(self):
        super().clean()
        self.check_rule(self.cleaned_data.get('superuser'), self.cleaned_data.get('netbox_groups') or ())
        return self.cleaned_data


class GroupMappingImportForm(GroupMappingAuthorityMixin, NetBoxModelImportForm):
    """One row of a CSV, YAML or JSON import."""

    netbox_groups = CSVModelMultipleChoiceField(
        queryset=Group.objects.all(),
        required=False,
        to_field_name='name',
        label=_('NetBox groups'),
        error_messages={'invalid_choice': _('No NetBox group is named %(value)s.')},
        help_text=_('NetBox group names separated by commas, encased with double quotes (e.g. "Ops,NOC")'),
    )

    class Meta:
        model = GroupMapping
        fields = ('authentik_group', 'netbox_groups', 'superuser', 'enabled', 'description', 'tags')

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A new rule is enabled unless the row says otherwise (a missing check box would read as False).
        if self.instance.pk is None and self.data is not None and 'enabled' not in self.data:
            self.data = {**self.data, 'enabled': True}

    def clean(self):
        super().clean()
        # A row updating a rule may leave fields out: the stored values count then.
        superuser = self.cleaned_data.get('superuser', self.instance.superuser)
        if 'netbox_groups' in self.fields:
            netbox_groups = self.cleaned_data.get('netbox_groups') or ()
        else:
            netbox_groups = self.instance.netbox_groups.all() if self.instance.pk else ()
        self.check_rule(superuser, netbox_groups)
        return self.cleaned_data


class GroupMappingBulkEditForm(GroupMappingAuthorityMixin, NetBoxModelBulkEditForm):
    """Change several rules at once."""

    model = GroupMapping
    netbox_groups = DynamicModelMultipleChoiceField(
        queryset=Group.objects.all(), required=False, label=_('NetBox groups'), help_text=NETBOX_GROUPS_HELP
    )
    superuser = forms.NullBooleanField(required=False, widget=BulkEditNullBooleanSelect(), label=_('Superuser'))
    enabled = forms.NullBooleanField(required=False, widget=BulkEditNullBooleanSelect(), label=_('Enabled'))
    description = forms.CharField(max_length=200, required=False, label=_('Description'))

    fieldsets = (FieldSet('netbox_groups', 'superuser', 'enabled', 'description', name=_('Group mapping rule')),)
    nullable_fields = ('netbox_groups', 'description')

    def clean(self):
        super().clean()
        superuser = self.cleaned_data.get('superuser')
        netbox_groups = self.cleaned_data.get('netbox_groups') or ()
        actor = _acting_user()
        if actor is not None and (problem := rule_authority_problem(actor, superuser, netbox_groups)):
            raise forms.ValidationError(problem)
        emptied = [
            str(rule) for rule in self.cleaned_data.get('pk') or () if self._grants_nothing_after(rule, superuser)
        ]
        if emptied:
            names = ', '.join(f"'{name}'" for name in emptied)
            raise forms.ValidationError(
                _('{reason} It would not for {names}.').format(reason=RULE_GRANTS_NOTHING, names=names)
            )
        return self.cleaned_data

    def _grants_nothing_after(self, rule, superuser):
        # NetBox's bulk edit leaves a field as it is unless given a value or ticked "set null".
        if self.cleaned_data.get('netbox_groups'):
            return False
        cleared = 'netbox_groups' in self.data.getlist('_nullify') if hasattr(self.data, 'getlist') else False
        groups = () if cleared else rule.netbox_groups.all()
        return rule_grants_nothing(rule.superuser if superuser is None else superuser, groups)


class GroupMappingFilterForm(NetBoxModelFilterSetForm):
    """The Filters tab of the rule list."""

    model = GroupMapping
    fieldsets = (
        FieldSet('q', 'filter_id', 'tag'),
        FieldSet('authentik_group', 'netbox_group_id', 'superuser', 'enabled', 'glob', name=_('Rule')),
    )
    authentik_group = forms.CharField(required=False, label=_('Authentik group'))
    netbox_group_id = DynamicModelMultipleChoiceField(
        queryset=Group.objects.all(), required=False, label=_('NetBox group')
    )
    superuser = forms.NullBooleanField(
        required=False, label=_('Superuser'), widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES)
    )
    enabled = forms.NullBooleanField(
        required=False, label=_('Enabled'), widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES)
    )
    glob = forms.NullBooleanField(
        required=False, label=_('Glob'), widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES)
    )
    tag = TagFilterField(model)


class EffectiveRulesForm(forms.Form):
    """Pick a linked user to see what the effective rules would give them now."""

    link = forms.ModelChoiceField(
        queryset=UserSocialAuth.objects.none(),
        required=False,
        label=_('Linked user'),
        help_text=_('Their Authentik groups as recorded at their last sign-in.'),
    )

    def __init__(self, *args, links, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields['link'].queryset = links
        self.fields['link'].label_from_instance = lambda link: f'{link.user} ({link.provider} {link.uid[:12]})'
