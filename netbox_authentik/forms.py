"""Forms of the association pages: link a NetBox user to an Authentik identity, and filter the list."""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from netbox.forms import NetBoxModelFilterSetForm
from social_django.models import UserSocialAuth
from utilities.forms import BOOLEAN_WITH_BLANK_CHOICES
from utilities.forms.fields import DynamicModelChoiceField, DynamicModelMultipleChoiceField
from utilities.forms.rendering import FieldSet
from utilities.forms.widgets import DateTimePicker

from . import linking

__all__ = ('AssociationFilterForm', 'AssociationForm')


class AssociationForm(forms.ModelForm):
    """Link an existing NetBox user to an Authentik identity (its `sub`). Only superusers may save it."""

    user = DynamicModelChoiceField(queryset=get_user_model().objects.all(), label=_('NetBox user'))
    allow_second_identity = forms.BooleanField(
        required=False, label=_('Allow a second identity'),
        help_text=_('Link even though the user is already linked to another identity of this provider: '
                    'two people could then sign in as this user.'),
    )

    fieldsets = (FieldSet('user', 'provider', 'uid', 'allow_second_identity', name=_('Authentik identity link')),)

    class Meta:
        model = UserSocialAuth
        fields = ('user', 'provider', 'uid')
        labels = {'provider': _('Provider'), 'uid': _('Authentik uid (sub)')}
        help_texts = {
            'provider': _("The sign-in backend's name: 'authentik' for this plugin."),
            'uid': _("The user's <code>sub</code> claim in Authentik's tokens; it depends on the provider's "
                     'subject mode (hashed user ID by default).'),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The link as stored, before the submitted values are put on the instance.
        self.stored = (UserSocialAuth(pk=self.instance.pk, user_id=self.instance.user_id,
                                      provider=self.instance.provider, uid=self.instance.uid)
                       if self.instance.pk is not None else None)
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
            request.user, self.cleaned_data.get('user'), self.cleaned_data.get('provider'),
            self.cleaned_data.get('uid'), link=self.stored,
            allow_second_identity=self.cleaned_data.get('allow_second_identity', False),
        )
        for field, message in problems.items():
            self.add_error(None if field == '__all__' else field, message)
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
        queryset=get_user_model().objects.all(), required=False, label=_('User'),
    )
    provider = forms.MultipleChoiceField(choices=_provider_choices, required=False, label=_('Provider'))
    uid = forms.CharField(required=False, label=_('Authentik uid (sub)'))
    several_identities = forms.NullBooleanField(
        required=False, label=_('User has several identities'), widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES))
    created__after = forms.DateTimeField(required=False, label=_('Created after'), widget=DateTimePicker())
    created__before = forms.DateTimeField(required=False, label=_('Created before'), widget=DateTimePicker())
