"""Reading Authentik's claims: userinfo only when needed, NetBox's user fields, the raw groups claim."""

import logging

from .. import settings as plugin_settings
from .errors import TokenError

logger = logging.getLogger('netbox_authentik.claims')  # the name admins configure (README: Logging)

# The claims the plugin reads; with fetch_userinfo='auto' userinfo is skipped when all are in the id_token.
USED_CLAIMS = ('email', 'name', 'groups')


class AuthentikClaimsMixin:
    """How the backend reads a sign-in's claims; mixed into backends.AuthentikOIDCAuth.

    Authentik's default scope mappings: `name` and `given_name` both hold the full name, there is no
    `family_name`, `preferred_username` is the username and `groups` lists group names.
    """

    def user_data(self, access_token, *args, **kwargs):
        """Return the claims; userinfo is asked only when the id_token lacks one the plugin uses."""
        claims = dict(self.id_token or {})
        mode = plugin_settings.get('fetch_userinfo')
        needed = (plugin_settings.get('username_claim'), *USED_CLAIMS)
        if mode == 'never' or (mode == 'auto' and all(claim in claims for claim in needed)):
            return claims
        userinfo = self.get_json(self.userinfo_url(), headers={'Authorization': f'Bearer {access_token}'})
        if not isinstance(userinfo, dict) or userinfo.get('sub') != claims.get('sub'):
            logger.error("Authentik's userinfo answer does not belong to the id_token's subject")
            raise TokenError(self, 'Invalid UserInfo sub')
        return {**claims, **userinfo}

    def claim(self, response, name):
        """Return a claim from userinfo/token response, else from the verified id_token."""
        if name in response:
            return response[name]
        return (self.id_token or {}).get(name)

    def get_user_details(self, response):
        """Map Authentik's claims onto NetBox's user fields; groups are handled by the pipeline."""
        fullname = self.claim(response, 'name') or ''
        # Authentik sends the full name in given_name too, and no family_name: split `name`.
        if self.claim(response, 'family_name'):
            first_name, last_name = self.claim(response, 'given_name') or '', self.claim(response, 'family_name')
        else:
            first_name, _sep, last_name = fullname.strip().partition(' ')
        return {
            'username': self.claim(response, plugin_settings.get('username_claim')),
            'email': self.claim(response, 'email') or '',
            'fullname': fullname,
            'first_name': first_name,
            'last_name': last_name.strip(),
        }

    def authentik_groups(self, response):
        """Return the raw `groups` claim as Authentik sent it, or None when it is absent or null."""
        if isinstance(response, dict) and response.get('groups') is not None:
            return response['groups']
        return (self.id_token or {}).get('groups')

    def extra_data(self, user, uid, response, details, pipeline_kwargs):
        """Store what NetBox needs later (id_token as logout hint), never the access token."""
        data = super().extra_data(user, uid, response, details, pipeline_kwargs)
        data.pop('access_token', None)
        return data
