"""Sign-in failure messages the person can act on."""

from django.conf import settings
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect

from .errors import AuthentikError


class AuthentikErrorMiddleware:
    """Show the plugin's own sign-in message on the login page.

    NetBox's SSO exception middleware replaces every error with one generic text, which
    hides "Authentik could not be reached" behind "Single sign-on failed". Plugin middleware
    runs after NetBox's, so its process_exception is asked first. Token rejections keep
    NetBox's generic text: their reason belongs in the log, not on a public page.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, AuthentikError):
            return None
        if getattr(settings, 'SOCIAL_AUTH_RAISE_EXCEPTIONS', settings.DEBUG):
            return None
        messages.error(request, str(exception), fail_silently=True)
        login_url = getattr(settings, 'SOCIAL_AUTH_LOGIN_ERROR_URL', None) or settings.LOGIN_URL
        if 'application/json' in request.headers.get('Accept', ''):
            # NetBox's login page begins SSO with fetch() and navigates to the `url` it is given;
            # a redirect would be followed inside fetch() and the message consumed unseen.
            return JsonResponse({'url': login_url})
        return redirect(login_url)
