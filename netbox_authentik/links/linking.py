"""Links between NetBox users and Authentik identities: social_django's UserSocialAuth rows.

One module for what a link is, where its pages are and when one may be made. The association
pages, the REST API, the management commands and the sign-in pipeline all use it.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.urls import reverse
from social_django.models import UserSocialAuth
from utilities.querysets import RestrictedQuerySet

from .. import settings as plugin_settings
from ..logsafe import safe

logger = logging.getLogger('netbox_authentik.linking')  # the name admins configure (README: Logging)

PROVIDER = plugin_settings.BACKEND_NAME  # links made by this plugin's backend
# Modes of the associate_existing_users setting that match by email address.
EMAIL_MODES = ('verified_email', 'email')


def associations():
    """Every link, as a queryset that NetBox's object permissions can restrict (.restrict())."""
    # social_django's model has no default ordering; NetBox's API refuses to paginate without one.
    return RestrictedQuerySet(model=UserSocialAuth).select_related('user').order_by('user__username', 'provider', 'pk')


def association_action_url(model, action=None, rest_api=False, kwargs=None):
    """Return the URL of an association page or API endpoint, for NetBox's get_action_url()."""
    if rest_api:
        return reverse(f'plugins-api:netbox_authentik-api:association-{action or "detail"}', kwargs=kwargs)
    return reverse('plugins:netbox_authentik:association' + (f'_{action}' if action else ''), kwargs=kwargs)


def association_absolute_url(association):
    return reverse('plugins:netbox_authentik:association', kwargs={'pk': association.pk})


def install_url_hooks():
    """Let NetBox's buttons, tables and breadcrumbs find the association pages.

    NetBox finds a model's pages with utilities.views.get_action_url(), which asks the model's
    `_get_action_url()` first and otherwise looks for 'social_django:…' views, which do not exist.
    Nothing else changes on social_django's model.
    """
    UserSocialAuth._get_action_url = classmethod(association_action_url)
    UserSocialAuth.get_absolute_url = association_absolute_url


# NetBox imports this module when the plugin starts (template_content.py uses it), before any page renders.
install_url_hooks()


def uid_max_length():
    """Return the longest uid (Authentik `sub`) the association table can hold (SOCIAL_AUTH_UID_LENGTH)."""
    return UserSocialAuth._meta.get_field('uid').max_length


def provider_max_length():
    return UserSocialAuth._meta.get_field('provider').max_length


def link_key(provider):
    """The fields that say which claim a new link's uid holds, for UserSocialAuth(..., **link_key(provider)).

    social-auth-app-django 8 records it in `id_key` (earlier versions have no such column). A link this
    plugin makes for its own backend holds the id_token's `sub`, the claim the backend signs in with, so
    it says so, and signs in without the backend vouching for an unkeyed link (backends.py). With
    SOCIAL_AUTH_AUTHENTIK_ID_KEY (or SOCIAL_AUTH_ID_KEY) set, or for another provider, the claim is not
    this plugin's to know: the link stays unkeyed, as links made before that version are.
    """
    if provider != PROVIDER or not any(field.name == 'id_key' for field in UserSocialAuth._meta.get_fields()):
        return {}
    if getattr(django_settings, f'SOCIAL_AUTH_{PROVIDER.upper()}_ID_KEY', None) or getattr(
        django_settings, 'SOCIAL_AUTH_ID_KEY', None
    ):
        return {}
    return {'id_key': 'sub'}


def existing_link(provider, uid, exclude_pk=None):
    """Return the association already holding (provider, uid), or None."""
    links = UserSocialAuth.objects.select_related('user').filter(provider=provider, uid=uid)
    if exclude_pk is not None:
        links = links.exclude(pk=exclude_pk)
    return links.first()


# The management commands act as the server operator, who can already do anything (`netbox createsuperuser`,
# `netbox shell`): for them the superuser rule below is met.
SERVER_OPERATOR = 'server operator'

SUPERUSERS_ONLY = 'Only a superuser can link an Authentik identity or change the user, provider or uid of a link.'


def may_manage_links(acting_user):
    """Only a superuser (or the server operator) may create a link or change its user, uid or provider.

    A link decides who signs in as whom. Re-pointing Ada's link, or linking an admin's `sub` before
    their first sign-in, hands over that account, and the group sync then hands over superuser status
    and groups too: the permission to change a link is worth a superuser's. Unlinking is not: it stays
    with NetBox's delete permission.
    """
    if acting_user == SERVER_OPERATOR:
        return True
    return bool(getattr(acting_user, 'is_active', False) and getattr(acting_user, 'is_superuser', False))


def link_problems(acting_user, user, provider, uid, link=None, allow_second_identity=False):
    """Return {field: message} of the reasons not to write this link; empty when it may be written.

    The one rule every interface applies: the pages, the REST API and the management commands.
    `link` is the association being edited (None for a new one), as it is stored now.
    """
    if link is not None and (link.user_id, link.provider, link.uid) == (getattr(user, 'pk', None), provider, uid):
        return {}  # nothing that decides who signs in as whom changes
    if not may_manage_links(acting_user):
        return {'__all__': SUPERUSERS_ONLY}
    problems = {}
    taken = existing_link(provider, uid, exclude_pk=getattr(link, 'pk', None)) if provider and uid else None
    if taken is not None:
        problems['uid'] = (
            f"This Authentik identity is already linked to NetBox user '{taken.user}'."
            if may_see_user(acting_user, taken.user)
            else 'This Authentik identity is already linked to a NetBox user.'
        )
    joins_user = link is None or (link.user_id, link.provider) != (getattr(user, 'pk', None), provider)
    if user is not None and joins_user and not allow_second_identity:
        other = other_identity(user, provider, exclude_pk=getattr(link, 'pk', None))
        if other is not None:
            problems['user'] = (
                f"NetBox user '{user}' is already linked to {provider} identity {other.uid}: "
                'a second identity would let two people sign in as this user.'
            )
    return problems


def may_see_user(acting_user, user):
    """Whether a message may name `user` to the acting person: only if NetBox lets them view that user."""
    return acting_user == SERVER_OPERATOR or bool(acting_user and acting_user.has_perm('users.view_user', user))


def other_identity(user, provider, exclude_pk=None):
    """Return a link of `user` to another identity of `provider`, or None."""
    links = UserSocialAuth.objects.filter(user=user, provider=provider)
    if exclude_pk is not None:
        links = links.exclude(pk=exclude_pk)
    return links.order_by('pk').first()


def with_identity_counts(queryset):
    """Annotate each link with `user_identities`: how many identities of its provider its user is linked to."""
    identities = (
        UserSocialAuth.objects.filter(user=OuterRef('user'), provider=OuterRef('provider'))
        .order_by()
        .values('user')
        .annotate(count=Count('pk'))
        .values('count')
    )
    return queryset.annotate(user_identities=Subquery(identities))


# -- the safe view of extra_data ---------------------------------------------------------------
# extra_data also holds the id_token (kept as logout hint). Pages, exports and the API read
# only these accessors, never extra_data itself.


def synced_groups(association):
    """Return the Authentik groups recorded at the last sign-in, or None if none were recorded."""
    groups = (association.extra_data or {}).get('groups')
    return [str(name) for name in groups] if isinstance(groups, list) else None


def groups_synced_at(association):
    """Return when the groups were last synced from Authentik, or None."""
    value = (association.extra_data or {}).get('groups_synced_at')
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def provisioned_by_scim(association):
    """True when Authentik's SCIM provider has pushed this user (created or updated it)."""
    return (association.extra_data or {}).get('scim_provisioned') is True


def scim_updated_at(association):
    """Return when SCIM last changed this user or its Authentik groups, or None."""
    value = (association.extra_data or {}).get('scim_updated_at')
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def last_sign_in(association):
    """Return the time of the last sign-in through this identity, or None if it was never used.

    social-core records `auth_time` (epoch seconds) at every sign-in. `modified` is not used:
    an edit on the association page moves it too.
    """
    value = (association.extra_data or {}).get('auth_time')
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, tz=UTC)


# -- matching existing NetBox users ---------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """The NetBox user an Authentik identity may be linked to, or why it may not (`refusal`)."""

    user: object = None
    refusal: str = ''


def match_existing_user(mode, provider, username='', email='', email_verified=False):
    """Find the one existing NetBox user an Authentik identity may be linked to under `mode`.

    'username' compares usernames exactly, case included: Authentik's 'Alice' is not NetBox's
    'alice'. The email modes compare addresses as `comparable_email` makes them. No user is
    returned when several users match, when the user is already linked to another identity of
    `provider`, or when the user is a superuser: a matching name or address must never be enough
    to sign in as a superuser.
    """
    User = get_user_model()
    if mode == 'username':
        if not username:
            return Match()
        candidates = list(User.objects.filter(username=username))
        if not candidates:
            near = User.objects.filter(username__iexact=username).values_list('username', flat=True).first()
            if near is not None:
                return Match(refusal=f"NetBox user '{near}' differs from '{username}' in case only")
            return Match()
    elif mode in EMAIL_MODES:
        if not email:
            return Match()
        wanted = comparable_email(email)
        if wanted is None:
            if User.objects.filter(email__iexact=email).exists():
                return Match(refusal='only plain ASCII email addresses are matched')
            return Match()
        # The database's case-insensitive match is only a pre-filter: its UPPER() turns look-alikes
        # such as the dotless 'ı' into ASCII letters. The exact comparison is comparable_email's.
        candidates = [
            user for user in User.objects.filter(email__iexact=email) if comparable_email(user.email) == wanted
        ]
        if mode == 'verified_email' and email_verified is not True:
            if candidates:
                return Match(refusal='Authentik did not mark the email address as verified')
            return Match()
        if len(candidates) > 1:
            return Match(refusal='more than one NetBox user has this email address')
        if not candidates:
            return Match()
    else:
        return Match()
    user = candidates[0]
    if user.is_superuser:
        return Match(refusal=f"NetBox user '{user.username}' is a superuser and is never linked automatically")
    if UserSocialAuth.objects.filter(user=user, provider=provider).exists():
        return Match(refusal=f"NetBox user '{user.username}' is already linked to another {provider} identity")
    return Match(user=user)


def comparable_email(address):
    """Return an email address in the form matching compares, or None if it is never matched.

    Only plain ASCII addresses are matched, compared ignoring case. Unicode case rules make
    look-alikes equal ('ı' and 'ſ' upper-case to 'I' and 'S', the Kelvin sign lower-cases to 'k',
    IDNA 2003 turns 'ß' into 'ss'), so an address outside ASCII is refused rather than folded.
    Internationalised domains still match in their ASCII (xn--) form.
    """
    address = (address or '').strip()
    local, at, domain = address.rpartition('@')
    if not (at and local and domain) or not address.isascii():
        return None
    return f'{local.lower()}@{domain.lower()}'


def _claim(backend, response, name):
    if hasattr(backend, 'claim'):
        return backend.claim(response or {}, name)
    return (response or {}).get(name)


def associate_existing_user(backend, details, response, user=None, *args, **kwargs):
    """Pipeline step: link a first sign-in to an existing NetBox user, as associate_existing_users allows.

    With the default (None) it does nothing, so a new Authentik identity never takes over an
    existing account: social-core then creates a new user.
    """
    mode = plugin_settings.get('associate_existing_users')
    if user is not None or mode is None:
        return None
    uid = kwargs.get('uid')
    claims = {
        'provider': backend.name,
        'username': details.get('username') or '',
        'email': _claim(backend, response, 'email') or details.get('email') or '',
        'email_verified': _claim(backend, response, 'email_verified'),
    }
    match = match_existing_user(mode, **claims)
    if match.user is not None:
        with transaction.atomic():
            # Two first sign-ins of different identities must not both join one user: decide again
            # holding the user's row (until the sign-in's transaction ends).
            get_user_model().objects.select_for_update().filter(pk=match.user.pk).exists()
            match = match_existing_user(mode, **claims)
    if match.refusal:
        logger.warning(
            'Did not link Authentik identity %s to an existing NetBox user '
            '(associate_existing_users=%r): %s. If it is the same person, link it by hand: '
            '`netbox authentik_link --user USERNAME --uid %s`, or on the Authentik identity links page.',
            safe(uid),
            mode,
            safe(match.refusal),
            safe(uid),
        )
        return None
    if match.user is None:
        return None
    logger.info(
        "Linking Authentik identity %s to existing NetBox user '%s' (associate_existing_users=%r)",
        safe(uid),
        safe(match.user.username),
        mode,
    )
    return {'user': match.user, 'is_new': False}
