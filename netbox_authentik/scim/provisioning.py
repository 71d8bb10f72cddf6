"""SCIM provisioning applied to NetBox: users, their Authentik links, Authentik groups and what they map onto.

A SCIM user is a NetBox user linked to an Authentik identity (provider 'authentik', uid = externalId =
Authentik's `sub`): the same link a sign-in uses, so sign-in and SCIM land in one user. A SCIM group is
an AuthentikGroup; its members' NetBox groups and superuser status follow through
group_sync.apply_authentik_groups, the code sign-in uses. Users NetBox has that are not linked to
Authentik are invisible here and never taken over.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, Subquery
from django.utils import timezone
from social_django.models import UserSocialAuth

from .. import access
from .. import settings as plugin_settings
from ..groups import rules as mapping_rules
from ..groups.sync import apply_authentik_groups
from ..links.linking import PROVIDER, link_key
from ..logsafe import safe
from ..models import AuthentikGroup
from ..sessions.registry import end_authentik_sessions
from .conflicts import username_conflict
from .protocol import GROUP_SCHEMA, USER_SCHEMA, ScimError, bad_value, resource_id

logger = logging.getLogger('netbox_authentik.provisioning')  # the name admins configure (README: Logging)

SCIM_MESSAGE = 'Groups and superuser status synced from Authentik by SCIM'
# Filterable attributes: lower-case SCIM path -> (column, kind); see scim_filters.filter_q.
USER_FILTERS = {
    'id': ('pk', 'id'),
    'username': ('username', 'ci'),
    'externalid': ('external_id', 'text'),
    'active': ('is_active', 'bool'),
    'emails': ('email', 'ci'),
    'emails.value': ('email', 'ci'),
    'name.givenname': ('first_name', 'text'),
    'name.familyname': ('last_name', 'text'),
    'displayname': ('username', 'text'),
}
GROUP_FILTERS = {
    'id': ('pk', 'id'),
    'displayname': ('display_name', 'text'),
    'externalid': ('external_id', 'text'),
    'members': ('members__pk', 'id'),
    'members.value': ('members__pk', 'id'),
}


def _links():
    return UserSocialAuth.objects.filter(provider=PROVIDER)


def scim_users():
    """NetBox users linked to Authentik, with their externalId and Authentik groups: what /Users shows."""
    links = _links().filter(user=OuterRef('pk')).order_by('pk')
    return (
        get_user_model()
        .objects.filter(Exists(links))
        .annotate(external_id=Subquery(links.values('uid')[:1]))
        .prefetch_related(Prefetch('authentik_groups', AuthentikGroup.objects.only('pk', 'display_name')))
        .order_by('pk')
    )


def scim_groups():
    """The Authentik groups SCIM pushed, with their members: what /Groups shows."""
    members = get_user_model().objects.only('pk', 'username').order_by('pk')
    return AuthentikGroup.objects.prefetch_related(Prefetch('members', members)).order_by('pk')


def get_or_404(queryset, scim_id, kind):
    pk = resource_id(scim_id)
    found = queryset.filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise ScimError(404, f'{kind} {str(scim_id)[:40]} not found')
    return found


# -- rendering -------------------------------------------------------------------------------------------


def user_resource(user, base_url, link=None, groups=None):
    """A NetBox user as a SCIM User; `groups`: its Authentik groups when known (else read from the user)."""
    extra = (link.extra_data if link is not None else None) or {}
    formatted = f'{user.first_name} {user.last_name}'.strip()
    name = {
        key: value
        for key, value in (('givenName', user.first_name), ('familyName', user.last_name), ('formatted', formatted))
        if value
    }
    resource = {
        'schemas': [USER_SCHEMA],
        'id': str(user.pk),
        'userName': user.username,
        'displayName': formatted or user.username,
        'active': user.is_active,
        'emails': [{'value': user.email, 'type': 'other', 'primary': True}] if user.email else [],
        'groups': [
            {'value': str(group.pk), 'display': group.display_name}
            for group in (user.authentik_groups.all() if groups is None else groups)
        ],
        'meta': {
            'resourceType': 'User',
            'created': user.date_joined.isoformat(),
            'lastModified': extra.get('scim_updated_at') or user.date_joined.isoformat(),
            'location': f'{base_url}Users/{user.pk}',
        },
    }
    if name:
        resource['name'] = name
    external_id = getattr(user, 'external_id', None) or (link.uid if link is not None else None)
    if external_id:
        resource['externalId'] = external_id
    return resource


def group_resource(group, base_url):
    """An AuthentikGroup as a SCIM Group."""
    resource = {
        'schemas': [GROUP_SCHEMA],
        'id': str(group.pk),
        'displayName': group.display_name,
        'members': [
            {'value': str(user.pk), 'display': user.username, '$ref': f'{base_url}Users/{user.pk}'}
            for user in group.members.all()
        ],
        'meta': {
            'resourceType': 'Group',
            'created': group.created.isoformat(),
            'lastModified': group.last_updated.isoformat(),
            'location': f'{base_url}Groups/{group.pk}',
        },
    }
    if group.external_id:
        resource['externalId'] = group.external_id
    return resource


# -- users -----------------------------------------------------------------------------------------------


def create_user(fields, actor):
    """POST /Users: create the NetBox user and its Authentik link, or adopt the user already linked.

    Returns (user, link, created).
    """
    link = _links().select_related('user').filter(uid=fields.external_id).first()
    if link is not None:
        # Signed in before the first push: the same person, matched through the link, not a copy.
        user, link = replace_user(link.user, fields, actor)
        return user, link, False
    if conflict := username_conflict(fields.username, fields.external_id):
        raise conflict
    user = get_user_model()(
        username=fields.username,
        first_name=fields.first_name,
        last_name=fields.last_name,
        email=fields.email,
        is_active=fields.active,
    )
    user.set_unusable_password()
    user.save()
    _add_default_groups(user)
    link = UserSocialAuth.objects.create(
        user=user, provider=PROVIDER, uid=fields.external_id, extra_data=_provisioned({}), **link_key(PROVIDER)
    )
    if (held := access.hold_outside_required_groups(link, link.extra_data)) != link.extra_data:
        link.extra_data = held
        UserSocialAuth.objects.filter(pk=link.pk).update(extra_data=held)
    logger.info('SCIM created NetBox user %s', safe(user))
    return user, link, True


def _add_default_groups(user):
    """REMOTE_AUTH_DEFAULT_GROUPS, as NetBox's user_default_groups_handler gives a user a first sign-in creates."""
    from users.models import Group

    names = list(getattr(settings, 'REMOTE_AUTH_DEFAULT_GROUPS', None) or [])
    if not names:
        return
    groups = list(Group.objects.filter(name__in=names))
    missing = sorted(set(names) - {group.name for group in groups})
    if missing:
        logger.error('REMOTE_AUTH_DEFAULT_GROUPS names group(s) that do not exist: %s', ', '.join(map(safe, missing)))
    if groups:
        user.groups.add(*groups)


def user_link(user):
    return _links().filter(user=user).order_by('pk').first()


def replace_user(user, fields, actor):
    """PUT /Users/{id}: make the NetBox user what the SCIM User says (name, email, active); return (user, link).

    A push that changes nothing writes nothing (Authentik's full sync may send every user again).
    """
    link = user_link(user)
    if link is not None and link.uid != fields.external_id:
        raise ScimError(
            400, f"externalId cannot change: this user is linked to Authentik identity '{link.uid}'", 'mutability'
        )
    if fields.username != user.username and (
        conflict := username_conflict(fields.username, fields.external_id, exclude_pk=user.pk)
    ):
        raise conflict
    was_active = user.is_active
    wanted = {
        'username': fields.username,
        'first_name': fields.first_name,
        'last_name': fields.last_name,
        'email': fields.email,
        'is_active': fields.active,
    }
    changed = [name for name, value in wanted.items() if getattr(user, name) != value]
    marks = (link.extra_data or {}) if link is not None else {}
    # A user held inactive by required_groups goes on: Authentik's own active flag must replace the hold.
    if not changed and marks.get('scim_provisioned') and not marks.get(access.HELD):
        return user, link
    for name in changed:
        setattr(user, name, wanted[name])
    if changed:
        user.save(update_fields=changed)
    if was_active and not user.is_active:
        _deactivated(user, link)
    elif not was_active and user.is_active:
        logger.info('SCIM reactivated NetBox user %s', safe(user))
    _mark_provisioned(link)
    return user, link


def deactivate_or_delete_user(user, actor):
    """DELETE /Users/{id}: make the user inactive (history stays), or delete it when scim_user_delete='delete'."""
    link = user_link(user)
    if plugin_settings.get('scim_user_delete') == 'delete':
        if link is not None:
            end_authentik_sessions(sub=link.uid)
        former_groups = list(user.authentik_groups.values_list('pk', flat=True))
        logger.info('SCIM deleted NetBox user %s (%d Authentik group(s))', safe(user), len(former_groups))
        user.delete()
        return
    if user.is_active:
        user.is_active = False
        user.save(update_fields=['is_active'])
        _deactivated(user, link)
    _mark_provisioned(link, deleted=True)


def _deactivated(user, link):
    """End the person's NetBox sessions the way a back-channel logout does, once the change is committed."""
    logger.info('SCIM deactivated NetBox user %s: its sessions end and its API tokens stop working', safe(user))
    if link is not None:
        uid = link.uid
        transaction.on_commit(lambda: end_authentik_sessions(sub=uid))


def _mark_provisioned(link, groups=None, deleted=False):
    """Record on the link that SCIM provisioned this user, when, and (for group changes) the groups it saw.

    `deleted`: Authentik deleted the person (SCIM DELETE), recorded as scim_deleted_at until it is pushed again.
    """
    if link is None:
        return
    link.extra_data = access.hold_outside_required_groups(link, _provisioned(link.extra_data, groups, deleted), groups)
    # An UPDATE without model signals: NetBox's handlers would look up the link's object type each time.
    UserSocialAuth.objects.filter(pk=link.pk).update(extra_data=link.extra_data)


def _provisioned(extra_data, groups=None, deleted=False):
    """A link's extra_data with the SCIM marks of a change made now."""
    now = timezone.now().isoformat(timespec='seconds')
    extra = {**(extra_data or {}), 'scim_provisioned': True, 'scim_updated_at': now}
    if deleted:
        extra['scim_deleted_at'] = now
    elif groups is None:
        extra.pop('scim_deleted_at', None)
    if groups is not None:
        extra.update(groups=list(groups), groups_synced_at=now)
    return extra


# -- groups ----------------------------------------------------------------------------------------------


def _members(member_ids):
    """The SCIM users with these ids; a 400 when one is not a SCIM user."""
    ids = {pk for pk in map(resource_id, member_ids) if pk is not None}
    found = set(scim_users().filter(pk__in=ids).values_list('pk', flat=True)) if ids else set()
    unknown = sorted({str(value) for value in member_ids} - {str(pk) for pk in found})
    if unknown:
        shown = ', '.join(value[:40] for value in unknown[:10]) + (
            f' and {len(unknown) - 10} more' if len(unknown) > 10 else ''
        )
        raise bad_value(f'No SCIM user with id(s) {shown}')
    return found


def create_group(display_name, external_id, member_ids, actor):
    """POST /Groups; a group whose externalId is already known is adopted (renamed, members kept)."""
    group = AuthentikGroup.objects.filter(external_id=external_id).first() if external_id else None
    if group is None:
        group = AuthentikGroup.objects.create(display_name=display_name, external_id=external_id)
        if member_ids is not None:
            set_group(group, display_name, external_id, member_ids, actor)
        return group
    return set_group(group, display_name, external_id, member_ids, actor)


def set_group(group, display_name, external_id, member_ids, actor):
    """PUT /Groups/{id}, and PATCH once applied: name, externalId and (unless None) the member list.

    Every member whose Authentik groups changed, or who is in a renamed group, is re-evaluated.
    """
    if (
        external_id
        and external_id != group.external_id
        and AuthentikGroup.objects.filter(external_id=external_id).exclude(pk=group.pk).exists()
    ):
        raise ScimError(409, f"Another group has externalId '{external_id}'", 'uniqueness')
    before = set(group.members.values_list('pk', flat=True))
    renamed = display_name != group.display_name
    if renamed or (external_id or None) != group.external_id:
        group.display_name, group.external_id = display_name, external_id or None
        group.save()
    after = before if member_ids is None else _members(member_ids)
    if after - before:
        group.members.add(*(after - before))
    if before - after:
        group.members.remove(*(before - after))
    affected = (before ^ after) | (after if renamed else set())
    resync_users(affected, actor)
    return group


def delete_group(group, actor):
    """DELETE /Groups/{id}: forget the group and re-evaluate its former members."""
    members = set(group.members.values_list('pk', flat=True))
    group.delete()
    resync_users(members, actor)


def resync_users(user_ids, actor):
    """Apply each user's Authentik groups, as SCIM knows them, with the rules and code of a sign-in."""
    if not user_ids:
        return
    config = mapping_rules.configuration()
    links = {link.user_id: link for link in _links().filter(user_id__in=user_ids).order_by('-pk')}
    users = (
        get_user_model()
        .objects.filter(pk__in=user_ids)
        .prefetch_related(Prefetch('authentik_groups', AuthentikGroup.objects.only('pk', 'display_name')))
    )
    marked = []
    for user in users:
        names = sorted({group.display_name for group in user.authentik_groups.all()})
        apply_authentik_groups(user, names, message=SCIM_MESSAGE, config=config, actor=actor)
        if (link := links.get(user.pk)) is not None:
            link.user = user
            link.extra_data = access.hold_outside_required_groups(
                link, _provisioned(link.extra_data, groups=names), names
            )
            marked.append(link)
    UserSocialAuth.objects.bulk_update(marked, ['extra_data'], batch_size=500)
