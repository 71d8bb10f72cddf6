"""Pipeline steps for the authentik backend, and the pipeline it runs by default."""

import logging

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext as _
from social_core.utils import module_member, slugify

from . import access, user_changes
from . import settings as plugin_settings
from .errors import AuthentikError
from .group_sync import apply_authentik_groups
from .groups import clean_groups_claim
from .logsafe import safe, safe_names

logger = logging.getLogger(__name__)

SYNC_GROUPS = 'netbox_authentik.pipeline.sync_groups'
REFUSE_SECOND_IDENTITY = 'netbox_authentik.pipeline.refuse_second_identity'
REFUSE_USERNAME_COLLISION = 'netbox_authentik.pipeline.refuse_username_collision'
GET_USERNAME = 'social_core.pipeline.user.get_username'
LOAD_EXTRA_DATA = 'social_core.pipeline.social_auth.load_extra_data'

# NetBox 4.7's SOCIAL_AUTH_PIPELINE (netbox/settings.py). While the admin has not replaced it,
# the authentik backend runs AUTHENTIK_PIPELINE instead, so nobody has to edit a pipeline.
NETBOX_DEFAULT_PIPELINE = (
    'social_core.pipeline.social_auth.social_details',
    'social_core.pipeline.social_auth.social_uid',
    'social_core.pipeline.social_auth.social_user',
    'social_core.pipeline.user.get_username',
    'social_core.pipeline.user.create_user',
    'social_core.pipeline.social_auth.associate_user',
    'netbox.authentication.user_default_groups_handler',
    LOAD_EXTRA_DATA,
    'social_core.pipeline.user.user_details',
)

AUTHENTIK_PIPELINE = (
    'social_core.pipeline.social_auth.social_details',
    'social_core.pipeline.social_auth.social_uid',
    # required_groups: before anything finds, creates, links or changes a NetBox user.
    access.REQUIRE_GROUPS,
    'social_core.pipeline.social_auth.social_user',
    # Opt-in (associate_existing_users): a first sign-in may join an existing NetBox user.
    'netbox_authentik.linking.associate_existing_user',
    # social_user attaches a new identity to whoever is signed in: never as a second identity.
    REFUSE_SECOND_IDENTITY,
    # Before get_username, which would otherwise make 'bob' into 'bob<16 hex>' beside the local 'bob'.
    REFUSE_USERNAME_COLLISION,
    GET_USERNAME,
    'social_core.pipeline.user.create_user',
    'social_core.pipeline.social_auth.associate_user',
    'netbox.authentication.user_default_groups_handler',
    # Before load_extra_data, which saves the association with the groups recorded here.
    SYNC_GROUPS,
    LOAD_EXTRA_DATA,
    'social_core.pipeline.user.user_details',
)

# The steps an admin-supplied pipeline needs: step -> (what goes wrong without it, where it belongs).
REQUIRED_STEPS = {
    REFUSE_SECOND_IDENTITY: (
        'whoever is signed in to NetBox links any Authentik identity signed in from their browser to their account',
        f"before '{GET_USERNAME}'",
    ),
    REFUSE_USERNAME_COLLISION: (
        "a first sign-in whose username a NetBox user already has gets a suffixed copy ('bob' becomes 'bob<16 hex>')",
        f"just before '{GET_USERNAME}'",
    ),
    SYNC_GROUPS: ('Authentik groups and superuser status are not synced', f"just before '{LOAD_EXTRA_DATA}'"),
}


def resolve_pipeline(pipeline):
    """Return the pipeline to run: the admin's own, or the plugin's in place of NetBox's default."""
    pipeline = tuple(pipeline)
    if pipeline == NETBOX_DEFAULT_PIPELINE:
        return AUTHENTIK_PIPELINE
    return pipeline


def require_groups(backend, response=None, *args, **kwargs):
    """Refuse a person in none of required_groups, before any NetBox user is created, linked or changed."""
    if backend.name != 'authentik':
        return
    claim = clean_groups_claim(backend.authentik_groups(response or {}))
    if access.allows(claim.names):
        return
    required = access.required_groups()
    logger.warning(
        'Refused the sign-in of Authentik identity %s: required_groups lets in members of %s; its groups: %s.',
        safe(kwargs.get('uid') or ''),
        'nobody (the setting is malformed, see `netbox check`)' if required is None else safe_names(required),
        'unknown (no groups claim)' if claim.names is None else safe_names(claim.names),
    )
    raise AuthentikError(backend, str(access.REFUSAL))


def refuse_second_identity(backend, user=None, social=None, *args, **kwargs):
    """Refuse to attach an Authentik identity that no link holds to the NetBox user who is signed in.

    With someone signed in to NetBox, social-core's social_user and associate_user link a not yet known
    identity to that account: whoever signs in at Authentik from that browser would gain a way in as that
    user for good (a break-glass superuser included), past every rule about who may link. An identity
    already linked to the same user signs in as before (social_user passes its link on as `social`).
    """
    if social is not None:
        return
    signed_in = _signed_in_user(backend)
    if signed_in is not None:
        logger.warning(
            "Refused to link Authentik identity %s to '%s', who is signed in to NetBox: a sign-in through "
            'Authentik never links a new identity to the signed-in user. To link it, a superuser uses the '
            'identity links page or `netbox authentik_link --user %s --uid %s`.',
            safe(kwargs.get('uid')),
            safe(signed_in.get_username()),
            safe(signed_in.get_username()),
            safe(kwargs.get('uid')),
        )
        raise AuthentikError(
            backend,
            _('You are signed in to NetBox as {username}. Sign out first, then sign in with Authentik.').format(
                username=signed_in.get_username()
            ),
        )
    if user is None:
        return
    # A user an earlier step found for this identity (associate_existing_user, or the admin's own step).
    from .linking import other_identity

    other = other_identity(user, backend.name)
    if other is None:
        return
    logger.warning(
        "Refused to link Authentik identity %s to NetBox user '%s', already linked to "
        '%s identity %s. Link it by hand if both belong to this user: `netbox authentik_link --user %s '
        '--uid %s --allow-second-identity`.',
        kwargs.get('uid'),
        user,
        backend.name,
        other.uid,
        user,
        kwargs.get('uid'),
    )
    raise AuthentikError(
        backend,
        _(
            'This NetBox account is already linked to another Authentik account. '
            'Ask your NetBox administrator to link it to yours.'
        ),
    )


UNLINK_PERMISSION = 'social_django.delete_usersocialauth'


def refuse_unlink_without_permission(backend, user=None, association_id=None, *args, **kwargs):
    """Refuse social-auth's /oauth/disconnect/ unless the user may delete each link it would remove.

    NetBox mounts social-auth's disconnect view: without this, anyone with a usable password could delete
    their own link without the delete permission the link pages ask for. Superusers may; anyone else needs
    the delete permission on "social_django | user social auth", its constraints included.
    """
    if user is None or not user.is_authenticated:
        return
    links = backend.strategy.storage.user.get_social_auth_for_user(user, backend.name, association_id)
    refused = [link for link in links if not user.has_perm(UNLINK_PERMISSION, link)]
    if not refused:
        return
    logger.warning(
        "Refused to unlink %s identity %s from '%s' through /oauth/disconnect/: they are not a superuser and "
        'do not hold the %s permission for it.',
        backend.name,
        safe(refused[0].uid),
        safe(user.get_username()),
        UNLINK_PERMISSION,
    )
    raise AuthentikError(
        backend,
        _('Only a superuser, or someone allowed to delete Authentik identity links, can unlink an Authentik identity.'),
    )


def _signed_in_user(backend):
    """The user signed in to NetBox in the request running the pipeline, or None.

    social-core hands the session's user to the pipeline as `user`, and social_user keeps it when the identity
    has no link; by `user` alone that cannot be told from a user a previous step found (associate_existing_user).
    """
    request_user = getattr(getattr(backend.strategy, 'request', None), 'user', None)
    if request_user is None or not request_user.is_authenticated:
        return None
    return request_user


def refuse_username_collision(strategy, backend, details, user=None, *args, **kwargs):
    """Refuse a first sign-in whose username an existing NetBox user already has, or has but for case.

    social-core would quietly create 'bob36a193ed59004706' beside the local 'bob' (or 'Admin'
    beside 'admin': its check is case-sensitive, NetBox's only in forms), leaving two accounts
    for one person. The admin decides instead: link the two, or set username_collision='suffix'.
    """
    if user is not None:
        return
    wanted = _username_wanted(backend, details)
    if not wanted:
        return
    users = get_user_model().objects
    if users.filter(username=wanted).exists():
        existing = wanted
    else:
        existing = users.filter(username__iexact=wanted).values_list('username', flat=True).first()
    if existing is None:
        return
    mode = plugin_settings.get('username_collision')
    if existing == wanted and mode == 'suffix':
        return  # social-core's get_username adds its suffix

    uid = kwargs.get('uid')
    if existing == wanted:
        logger.warning(
            "Refused the first sign-in of Authentik identity %s: NetBox user '%s' already exists. If it "
            'is the same person, link the two: `netbox authentik_link --user %s --uid %s` (or set '
            'associate_existing_users). For a separate user with a suffixed name, set '
            "username_collision='suffix'.",
            uid,
            existing,
            existing,
            uid,
        )
    else:
        logger.warning(
            "Refused the first sign-in of Authentik identity %s: its username '%s' differs from NetBox "
            "user '%s' in case only. If it is the same person, link the two: "
            '`netbox authentik_link --user %s --uid %s`.',
            uid,
            wanted,
            existing,
            existing,
            uid,
        )
    raise AuthentikError(
        backend,
        _(
            'An account with this name already exists in NetBox. '
            'Ask your NetBox administrator to link it to your Authentik account.'
        ),
    )


def _username_wanted(backend, details):
    """The username social-core's get_username starts from, before it adds a suffix for a taken name."""
    if 'username' not in backend.setting('USER_FIELDS', ['username', 'email']):
        return ''
    if backend.setting('USERNAME_IS_FULL_EMAIL', False) and details.get('email'):
        username = details['email']
    else:
        username = details.get('username') or ''
    if not username:
        return ''
    username = username[: get_user_model()._meta.get_field('username').max_length]
    if backend.setting('CLEAN_USERNAMES', True):
        clean = backend.setting('CLEAN_USERNAME_FUNCTION')
        username = module_member(clean)(username) if clean else backend.strategy.storage.user.clean_username(username)
    if backend.setting('SLUGIFY_USERNAMES', False):
        slug = backend.setting('SLUGIFY_FUNCTION')
        username = (module_member(slug) if slug else slugify)(username)
    return username


def sync_groups(backend, user=None, response=None, social=None, *args, **kwargs):
    """Apply Authentik's groups to the NetBox user: managed groups and superuser status."""
    if user is None or backend.name != 'authentik':
        return
    claim = clean_groups_claim(backend.authentik_groups(response or {}))
    if claim.skipped:
        logger.warning('Skipped %d unusable item(s) in the groups claim of %s', len(claim.skipped), safe(user))
    apply_authentik_groups(user, claim.names, message=user_changes.SIGN_IN_MESSAGE)
    if social is not None and claim.names is not None:
        # Recorded for the association pages; saved by load_extra_data, which runs next.
        social.extra_data = {
            **(social.extra_data or {}),
            'groups': list(claim.names),
            'groups_synced_at': timezone.now().isoformat(timespec='seconds'),
        }
