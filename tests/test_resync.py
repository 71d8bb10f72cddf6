"""Re-applying the rules now: `netbox authentik_resync` and the effective-rules page's button."""

import io

import pytest
from core.models import ObjectChange, ObjectType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from social_django.models import UserSocialAuth
from users.models import Group, ObjectPermission, User

from netbox_authentik import resync
from netbox_authentik.linking import PROVIDER, link_key
from netbox_authentik.models import GroupMapping

pytestmark = pytest.mark.django_db

PAGE = '/plugins/authentik/group-mappings/effective/'
RESYNC = '/plugins/authentik/group-mappings/effective/resync/'


def linked_user(username, groups, netbox_groups=()):
    """A NetBox user linked to Authentik, whose last sign-in recorded `groups` (None: nothing recorded)."""
    user = User.objects.create_user(username)
    user.groups.add(*Group.objects.filter(name__in=netbox_groups))
    extra_data = {} if groups is None else {'groups': list(groups), 'groups_synced_at': '2026-12-01T10:00:00+00:00'}
    UserSocialAuth.objects.create(
        user=user, provider=PROVIDER, uid=f'sub-{username}', extra_data=extra_data, **link_key(PROVIDER)
    )
    return user


@pytest.fixture
def changed_rules():
    """Rules added since alice, bob and carol last signed in: netbox-users now gives 'Users', netbox-admins superuser.

    bob and carol are in 'Old', which no rule names: not managed, so it stays.
    """
    users = Group.objects.create(name='Users')
    Group.objects.create(name='Old')
    alice = linked_user('alice', ['netbox-users', 'netbox-admins'])
    bob = linked_user('bob', ['other'], netbox_groups=['Old'])
    carol = linked_user('carol', None, netbox_groups=['Old'])
    GroupMapping.objects.create(authentik_group='netbox-admins', superuser=True)
    GroupMapping.objects.create(authentik_group='netbox-users').netbox_groups.add(users)
    return alice, bob, carol


def groups_of(user):
    return sorted(user.groups.values_list('name', flat=True))


def run(*args):
    out = io.StringIO()
    call_command('authentik_resync', *args, stdout=out)
    return out.getvalue().splitlines()


def test_dry_run_prints_what_would_change_and_changes_nothing(changed_rules):
    alice, bob, carol = changed_rules
    changes = ObjectChange.objects.count()
    assert run('--dry-run') == [
        'alice: +Users, superuser granted',
        'carol: skipped, no Authentik groups recorded yet (at the next sign-in)',
        'Dry run: 1 linked user(s) would change, 1 unchanged, 1 skipped (no Authentik groups recorded yet).',
    ]
    alice.refresh_from_db()
    assert groups_of(alice) == [] and not alice.is_superuser
    assert ObjectChange.objects.count() == changes


def test_resync_applies_the_rules_with_change_log_entries(changed_rules):
    alice, bob, carol = changed_rules
    assert run() == [
        'alice: +Users, superuser granted',
        'carol: skipped, no Authentik groups recorded yet (at the next sign-in)',
        '1 linked user(s) changed, 1 unchanged, 1 skipped (no Authentik groups recorded yet).',
    ]
    alice.refresh_from_db()
    assert groups_of(alice) == ['Users'] and alice.is_superuser
    assert groups_of(bob) == ['Old'] and groups_of(carol) == ['Old']
    change = ObjectChange.objects.get(changed_object_id=alice.pk, changed_object_type__model='user')
    assert change.message == resync.MESSAGE
    assert change.user_name == 'netbox authentik_resync' and change.user is None
    assert change.prechange_data == {'groups': [], 'is_superuser': False}
    assert change.postchange_data == {'groups': ['Users'], 'is_superuser': True}
    assert not ObjectChange.objects.filter(changed_object_id__in=[bob.pk, carol.pk]).exists()
    # Run again: nothing left to do.
    assert run()[-1] == '0 linked user(s) changed, 2 unchanged, 1 skipped (no Authentik groups recorded yet).'


def test_one_user_only(changed_rules):
    alice, bob, carol = changed_rules
    assert run('--user', 'bob') == ['0 linked user(s) changed, 1 unchanged.']
    alice.refresh_from_db()
    assert groups_of(alice) == [] and not alice.is_superuser


def test_unknown_user_is_a_usage_error(changed_rules):
    with pytest.raises(CommandError, match="No NetBox user 'nobody'"):
        run('--user', 'nobody')


# -- the button on the effective-rules page -------------------------------------------------------------------


def signed_in(user, **client_options):
    client = Client(**client_options)
    client.force_login(user)
    return client


def test_superuser_button_applies_the_rules_and_says_what_changed(changed_rules):
    alice = changed_rules[0]
    admin = User.objects.create_user('admin', is_superuser=True)
    client = signed_in(admin)
    assert 'id="resync-rules"' in client.get(PAGE).content.decode()
    response = client.post(RESYNC, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    page = response.content.decode()
    assert 'Rules re-applied: 1 linked user(s) changed, 1 unchanged, 1 skipped' in page
    assert 'alice: +Users, superuser granted' in page
    alice.refresh_from_db()
    assert alice.is_superuser
    change = ObjectChange.objects.get(changed_object_id=alice.pk, changed_object_type__model='user')
    assert change.user == admin and change.message == resync.MESSAGE


def test_only_superusers_may_resync(changed_rules):
    alice = changed_rules[0]
    writer = User.objects.create_user('writer')
    permission = ObjectPermission.objects.create(name='rules', actions=['view', 'add', 'change', 'delete'])
    permission.object_types.add(*ObjectType.objects.filter(app_label='netbox_authentik'))
    permission.users.add(writer)
    client = signed_in(writer)
    page = client.get(PAGE)
    assert page.status_code == 200 and 'id="resync-rules"' not in page.content.decode()
    assert client.post(RESYNC).status_code == 403
    assert Client().post(RESYNC).status_code == 403
    alice.refresh_from_db()
    assert not alice.is_superuser and groups_of(alice) == []


def test_resync_needs_the_csrf_token(changed_rules):
    alice = changed_rules[0]
    admin = User.objects.create_user('admin', is_superuser=True)
    client = signed_in(admin, enforce_csrf_checks=True)
    assert client.post(RESYNC).status_code == 403
    assert client.get(RESYNC).status_code == 405
    alice.refresh_from_db()
    assert not alice.is_superuser
