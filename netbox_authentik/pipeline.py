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
        'whoever is signed in to NetBox can attach another Authentik identity to their account',
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
    """Refuse to attach a new Authentik identity to a signed-in NetBox user who already has one.

    With someone signed in to NetBox, social-core links a not yet known identity to that account:
    a second person signing in at the same browser would gain a way in as that user for good.
    """
    if user is None or social is not None:
        return
    from .linking import other_identity

    other = other_identity(user, backend.name)
    if other is None:
        return
    logger.warning(
        "Refused to link Authentik identity %s to the signed-in NetBox user '%s', already linked to "
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
            'Your NetBox account is already linked to another Authentik account. '
            'Sign out of NetBox first, then sign in again.'
        ),
    )


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
