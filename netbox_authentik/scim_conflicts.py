"""Who may have a username: the SCIM refusals that keep one Authentik identity off another identity's account.

Authentik answers a 409 on POST /Users by looking the username up and adopting the first user it finds,
whoever it is; so a username held by an account linked to another identity is refused without a 409.
"""

import logging

from django.contrib.auth import get_user_model
from social_django.models import UserSocialAuth

from .linking import PROVIDER
from .logsafe import safe
from .scim_protocol import ScimError

logger = logging.getLogger(__name__)


def username_conflict(username, external_id, exclude_pk=None):
    """Return the ScimError when another NetBox user has this username (or has it but for case), else None.

    A holder linked to another Authentik identity gets 400 uniqueness, never 409: on a 409 Authentik looks
    the username up and adopts whatever account it finds, which would hand a former person's account
    (and the new person's groups and superuser status) to someone else. An unlinked holder gets 409: that
    look-up never shows unlinked users.
    """
    users = get_user_model().objects.exclude(pk=exclude_pk)
    holder = users.filter(username__iexact=username).only('pk', 'username', 'is_active').first()
    if holder is None:
        return None
    link = UserSocialAuth.objects.filter(provider=PROVIDER, user=holder).order_by('pk').first()
    if link is not None and link.uid != external_id:
        _log_identity_conflict(holder, link, username, external_id)
        return ScimError(
            400,
            f"NetBox user '{holder.username}' belongs to another Authentik identity"
            f"{' (deleted in Authentik)' if _scim_deleted(link) else ''}; NetBox never gives one identity's "
            'account to another. The NetBox log (ERROR) says how to resolve it.',
            'uniqueness',
        )
    if holder.username == username:
        detail = (
            f"NetBox user '{holder.username}' already exists and is not linked to this Authentik identity. If "
            'it is the same person, link the two in NetBox (Authentik identity links), then sync again.'
        )
    else:
        detail = f"NetBox user '{holder.username}' differs from '{username}' in case only"
    return ScimError(409, detail, 'uniqueness')


def _scim_deleted(link):
    return bool((link.extra_data or {}).get('scim_deleted_at'))


def _log_identity_conflict(holder, link, username, external_id):
    """Tell the admin, at ERROR, that a new Authentik identity wants a username an older identity's account has."""
    state = 'active' if holder.is_active else 'inactive'
    if _scim_deleted(link):
        state += f', its Authentik user deleted (SCIM DELETE at {link.extra_data["scim_deleted_at"]})'
    logger.error(
        "SCIM refused Authentik identity %s the username '%s': NetBox user '%s' (id %s, %s) has it and is "
        'linked to Authentik identity %s. NetBox never gives one identity an account linked to another, so '
        "this person is not provisioned yet. If it is the same person, link NetBox user '%s' to identity %s "
        '(Authentik identity links: delete the old link, add the new one). If it is another person, rename '
        "or delete NetBox user '%s'. Then save the SCIM provider in Authentik (it syncs again) or wait for "
        'its next full sync.',
        safe(external_id),
        safe(username),
        safe(holder.username),
        holder.pk,
        state,
        safe(link.uid),
        safe(holder.username),
        safe(external_id),
        safe(holder.username),
    )
