"""Forms of the association pages: link a NetBox user to an Authentik identity, and filter the list."""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from netbox.forms import NetBoxModelFilterSetForm
from social_django.models import UserSocialAuth
from utilities.forms.fields import DynamicModelChoiceField, DynamicModelMultipleChoiceField
from utilities.forms.rendering import FieldSet
from utilities.forms.widgets import DateTimePicker

from . import linking

__all__ = ('AssociationFilterForm', 'AssociationForm')


class AssociationForm(forms.ModelForm):
    """Link an existing NetBox user to an Authentik identity (its `sub`)."""

    user = DynamicModelChoiceField(queryset=get_user_model().objects.all(), label=_('NetBox user'))

    fieldsets = (FieldSet('user', 'provider', 'uid', name=_('Authentik identity link')),)

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
        # A new link is for this plugin's backend unless the URL asks otherwise (?provider=oidc).
        if self.instance.pk is None and not self.initial.get('provider'):
            self.initial['provider'] = linking.PROVIDER

    def clean(self):
        super().clean()
        user = self.cleaned_data.get('user')
        provider, uid = self.cleaned_data.get('provider'), self.cleaned_data.get('uid')
        if provider and uid and linking.existing_link(provider, uid, exclude_pk=self.instance.pk):
            self.add_error('uid', _('This Authentik identity is already linked to a NetBox user.'))
        # Set by the edit view (as NetBox's token form does); without it the acting user is unknown: refuse.
        request = getattr(self.instance, '_request', None)
        if request is None:
            raise forms.ValidationError(_('Unable to verify permission to link this user.'))
        if user is not None and not linking.may_link(request.user, user):
            self.add_error('user', _('Only a superuser can link an Authentik identity to a superuser.'))
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
        FieldSet('user_id', 'provider', 'uid', name=_('Link')),
        FieldSet('created__after', 'created__before', name=_('Created')),
    )
    user_id = DynamicModelMultipleChoiceField(
        queryset=get_user_model().objects.all(), required=False, label=_('User'),
    )
    provider = forms.MultipleChoiceField(choices=_provider_choices, required=False, label=_('Provider'))
    uid = forms.CharField(required=False, label=_('Authentik uid (sub)'))
    created__after = forms.DateTimeField(required=False, label=_('Created after'), widget=DateTimePicker())
    created__before = forms.DateTimeField(required=False, label=_('Created before'), widget=DateTimePicker())
