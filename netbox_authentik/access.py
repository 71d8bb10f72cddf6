"""Who may use NetBox: the required_groups setting, read so that a malformed value lets nobody in.

Sign-in (pipeline.require_groups) and SCIM provisioning both ask allows(); the system checks report
what is wrong with the setting (E019) and a pipeline that would not enforce it (E020).
"""

import logging

from django.core import checks
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from .groups import glob_problem, meets_required_groups
from .logsafe import safe
from .sessions import end_authentik_sessions
from .settings import plugin_config

logger = logging.getLogger(__name__)

CONFIG = "PLUGINS_CONFIG['netbox_authentik']"
REQUIRE_GROUPS = 'netbox_authentik.pipeline.require_groups'
REFUSAL = _('Your Authentik account is not allowed to use NetBox. Ask your administrator.')
# Steps that create a NetBox user or link an identity to one: the gate must come before all of them.
CREATES_OR_LINKS = (
    'netbox_authentik.linking.associate_existing_user',
    'social_core.pipeline.social_auth.associate_by_email',
    'social_core.pipeline.user.create_user',
    'social_core.pipeline.social_auth.associate_user',
)


def required_groups():
    """The required_groups patterns ([] lets anyone in); None when the setting is malformed, which lets nobody in."""
    value = plugin_config().get('required_groups', [])
    if not isinstance(value, list) or any(not isinstance(item, str) or glob_problem(item) for item in value):
        return None
    return value


def allows(authentik_groups):
    """True when a person with these Authentik groups (names, or None when unknown) may use NetBox."""
    patterns = required_groups()
    return patterns is not None and meets_required_groups(authentik_groups, patterns)


def required_groups_problems(value, pipeline_steps):
    """E019: items of required_groups that are not usable names or globs; E020: set, but not enforced at sign-in."""
    if not isinstance(value, list):
        return []  # a wrong type is E010, like every other setting's
    found = []
    for item in value:
        problem = 'not a string' if not isinstance(item, str) else glob_problem(item)
        if problem:
            found.append(
                checks.Warning(
                    f"{CONFIG}['required_groups'] has {item!r}: {problem}. Until it is fixed nobody can sign in "
                    'through Authentik.',
                    hint="List Authentik group names or globs as strings, e.g. ['netbox-users', 'netbox-*'].",
                    id='netbox_authentik.E019',
                )
            )
    steps = list(pipeline_steps)
    linking = [steps.index(step) for step in CREATES_OR_LINKS if step in steps]
    if value and (REQUIRE_GROUPS not in steps or (linking and steps.index(REQUIRE_GROUPS) > min(linking))):
        found.append(
            checks.Warning(
                f"required_groups is set, but the sign-in pipeline does not run '{REQUIRE_GROUPS}' before it "
                'creates or links a user: anyone Authentik lets through would get in, so nobody can sign in '
                'through Authentik until it does.',
                hint=f"Add '{REQUIRE_GROUPS}' right after 'social_core.pipeline.social_auth.social_uid' in "
                "SOCIAL_AUTH_PIPELINE, or remove your pipeline setting to run the plugin's own.",
                id='netbox_authentik.E020',
            )
        )
    return found


# -- SCIM: a provisioned user outside required_groups is kept inactive -----------------------------------

# On the link: True while the user is inactive because of required_groups, not because Authentik said so.
HELD = 'outside_required_groups'


def hold_outside_required_groups(link, extra_data, groups=None):
    """Keep a SCIM user inactive while their Authentik groups (as SCIM knows them) meet none of required_groups.

    Authentik pushes a user before the groups it is in, so the user is created inactive and becomes active
    once a group push puts them in a required group (and inactive again when they leave it). `groups` is
    what a group push saw; None when the push was about the user itself, whose `active` is then Authentik's
    own choice. Returns the link's extra_data with the mark HELD set or cleared; saves the user.
    """
    extra_data = dict(extra_data)
    if required_groups() == [] and HELD not in extra_data:
        return extra_data  # anyone may use NetBox and nobody is held: nothing to read or change
    user = link.user
    if groups is None:
        extra_data.pop(HELD, None)  # the user's own push: is_active is what Authentik says
        groups = sorted(user.authentik_groups.values_list('display_name', flat=True))
    allowed = allows(groups)
    if user.is_active and not allowed:
        user.is_active = False
        user.save(update_fields=['is_active'])
        extra_data[HELD] = True
        logger.info(
            'SCIM keeps NetBox user %s inactive: their Authentik groups meet none of required_groups', safe(user)
        )
        uid = link.uid
        transaction.on_commit(lambda: end_authentik_sessions(sub=uid))
    elif allowed and extra_data.pop(HELD, False) and not user.is_active:
        user.is_active = True
        user.save(update_fields=['is_active'])
        logger.info('SCIM activated NetBox user %s: now in a required group', safe(user))
    return extra_data
