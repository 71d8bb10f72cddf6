"""The "Authentik set-up" page: the blueprint for this NetBox, shown and downloadable, for superusers only.

The page never offers the client secret: a file with a secret in it is the command's job (--include-secrets),
on a host where the admin controls where the file goes.
"""

from django import forms
from django.contrib.auth.mixins import UserPassesTestMixin
from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views import View

from .build import BlueprintError, Options, blueprint_text
from .entries import SCIM_TOKEN_VARIABLE, SIGNING_CHOICES

CHECKBOX = forms.CheckboxInput(attrs={'class': 'form-check-input'})


class BlueprintForm(forms.Form):
    """The command's options, without --include-secrets."""

    name = forms.CharField(
        label=_('Application name'),
        initial='NetBox',
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={'class': 'form-control'}),
    )
    signing = forms.ChoiceField(
        label=_('Signing'),
        choices=[(choice, choice.upper()) for choice in SIGNING_CHOICES],
        initial='rs256',
        required=False,
        widget=forms.Select(attrs={'class': 'form-select'}),
    )
    signing_key = forms.CharField(
        label=_('Key pair'),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={'class': 'form-control'}),
        help_text=_("Empty: Authentik's self-signed certificate (RS256). ES256 needs an ECDSA key pair's name."),
    )
    scim = forms.BooleanField(label=_('SCIM provider'), required=False, widget=CHECKBOX)
    groups = forms.BooleanField(label=_('Groups the mapping rules name'), required=False, widget=CHECKBOX)
    restrict = forms.BooleanField(label=_('Only those groups may open NetBox'), required=False, widget=CHECKBOX)

    def options(self):
        data = self.cleaned_data
        return Options(
            name=data['name'] or 'NetBox',
            signing=data['signing'] or 'rs256',
            signing_key=data['signing_key'].strip() or None,
            scim=data['scim'],
            groups=data['groups'],
            restrict=data['restrict'],
        )


class BlueprintView(UserPassesTestMixin, View):
    """Show the blueprint for NetBox's address as this request reached it; ?download=1 sends it as a file."""

    template_name = 'netbox_authentik/blueprint.html'

    def test_func(self):
        return self.request.user.is_superuser

    def get(self, request):
        form = BlueprintForm(request.GET or {'name': 'NetBox', 'signing': 'rs256'})
        # The scheme honours X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER); BASE_PATH is added by the builder.
        origin = f'{request.scheme}://{request.get_host()}'
        text, problem = '', ''
        if form.is_valid():
            try:
                text = blueprint_text(origin, form.options())
            except BlueprintError as failure:
                problem = str(failure)
        if text and request.GET.get('download'):
            response = HttpResponse(text, content_type='application/yaml; charset=utf-8')
            response['Content-Disposition'] = 'attachment; filename="netbox-authentik-blueprint.yaml"'
            response['Cache-Control'] = 'no-store'
            return response
        # The download link repeats only the form's own fields: nothing else of the query travels on.
        download_query = QueryDict(mutable=True)
        for name, value in (form.cleaned_data if form.is_valid() else {}).items():
            if value:
                download_query[name] = 'on' if value is True else value
        download_query['download'] = '1'
        return render(
            request,
            self.template_name,
            {
                'form': form,
                'blueprint': text,
                'problem': problem,
                'download_query': download_query.urlencode(),
                'scim_token_variable': SCIM_TOKEN_VARIABLE,
            },
        )
