"""A first sign-in whose username a NetBox user already has: refused by default, never a silent duplicate.

social-core would create 'bob36a193ed59004706' beside the local 'bob' (seen on a real Authentik), or
'Admin' beside 'admin'. Every test signs in through NetBox's own views, so the whole pipeline runs.
"""

import logging
import re

import pytest
from social_django.models import UserSocialAuth
from users.models import User

from tests.fake_authentik import authentik_claims, begin_sign_in, complete_sign_in, sign_in, toast_messages
from tests.test_linking import REFUSED, refused_sign_in, sub_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def plugin_config(settings):
    def configure(**values):
        settings.PLUGINS_CONFIG = {'netbox_authentik': values}

    return configure


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger='netbox_authentik')
    return caplog


def warnings(log):
    return [
        record.getMessage()
        for record in log.records
        if record.name == 'netbox_authentik.pipeline' and record.levelno == logging.WARNING
    ]


def usernames():
    return sorted(User.objects.values_list('username', flat=True))


def test_a_local_users_name_refuses_the_sign_in_and_tells_the_admin_how_to_link(client, authentik, log):
    User.objects.create_user('bob')
    assert refused_sign_in(client, authentik, 'bob') == [REFUSED]
    assert usernames() == ['bob']
    assert not UserSocialAuth.objects.exists()
    assert '_auth_user_id' not in client.session
    assert warnings(log) == [
        f"Refused the first sign-in of Authentik identity {sub_of('bob')}: NetBox user 'bob' already exists. If it "
        f'is the same person, link the two: `netbox authentik_link --user bob --uid {sub_of("bob")}` (or set '
        "associate_existing_users). For a separate user with a suffixed name, set username_collision='suffix'."
    ]


def test_once_linked_by_the_admin_the_person_signs_in_as_the_local_user(client, authentik):
    bob = User.objects.create_user('bob')
    refused_sign_in(client, authentik, 'bob')
    UserSocialAuth.objects.create(user=bob, provider='authentik', uid=sub_of('bob'))
    sign_in(client, authentik, 'bob')
    assert client.get('/').context['request'].user == bob
    assert usernames() == ['bob']


def test_suffix_mode_creates_the_suffixed_user_as_social_core_does(client, authentik, plugin_config, log):
    plugin_config(username_collision='suffix')
    User.objects.create_user('bob')
    sign_in(client, authentik, 'bob')
    [new_user] = [name for name in usernames() if name != 'bob']
    assert re.fullmatch(r'bob[0-9a-f]{16}', new_user)
    assert UserSocialAuth.objects.get(uid=sub_of('bob')).user.username == new_user
    assert warnings(log) == []


@pytest.mark.parametrize('collision_mode', ['refuse', 'suffix'])
def test_a_name_differing_only_in_case_is_refused_in_every_mode(client, authentik, plugin_config, log, collision_mode):
    plugin_config(username_collision=collision_mode)
    User.objects.create_user('admin', is_superuser=True)
    assert refused_sign_in(client, authentik, 'Admin') == [REFUSED]
    assert usernames() == ['admin']
    assert not UserSocialAuth.objects.exists()
    [warning] = warnings(log)
    assert "its username 'Admin' differs from NetBox user 'admin' in case only" in warning
    assert f'`netbox authentik_link --user admin --uid {sub_of("Admin")}`' in warning


def test_a_new_name_signs_in_without_a_warning(client, authentik, log):
    User.objects.create_user('bob')
    sign_in(client, authentik, 'alice')
    assert usernames() == ['alice', 'bob']
    assert warnings(log) == []


def test_associate_existing_users_still_links_the_local_user(client, authentik, plugin_config):
    plugin_config(associate_existing_users='username')
    bob = User.objects.create_user('bob')
    sign_in(client, authentik, 'bob')
    assert UserSocialAuth.objects.get(uid=sub_of('bob')).user == bob
    assert usernames() == ['bob']


# -- a new identity while someone is signed in -----------------------------------------------------------


def test_a_new_identity_is_not_attached_to_a_signed_in_user_who_has_one(client, authentik, log):
    sign_in(client, authentik, 'alice')
    alice = User.objects.get(username='alice')
    query = begin_sign_in(client)
    authentik.register_token(authentik.sign(authentik_claims('mallory', nonce=query['nonce'])))
    response = complete_sign_in(client, query['state'])
    assert response.status_code == 302
    page = client.get(response['Location'], follow=True)
    assert page.context['request'].user == alice  # still signed in as alice
    assert toast_messages(page) == [
        'You are signed in to NetBox as alice. Sign out first, then sign in with Authentik.'
    ]
    assert list(alice.social_auth.values_list('uid', flat=True)) == [sub_of('alice')]
    assert usernames() == ['alice']
    [warning] = warnings(log)
    assert f"Refused to link Authentik identity {sub_of('mallory')} to 'alice', who is signed in" in warning


def test_the_same_identity_signs_in_again_while_signed_in(client, authentik):
    sign_in(client, authentik, 'alice')
    sign_in(client, authentik, 'alice')
    assert UserSocialAuth.objects.count() == 1


def test_the_name_is_compared_as_social_core_would_clean_it(client, authentik, log):
    # social-core strips what a username may not hold ('bob smith' -> 'bobsmith') before it adds a suffix.
    User.objects.create_user('bobsmith')

    assert refused_sign_in(client, authentik, 'bob', preferred_username='bob smith') == [REFUSED]
    assert usernames() == ['bobsmith']
    assert "NetBox user 'bobsmith' already exists" in warnings(log)[0]


def test_with_clean_usernames_off_the_name_is_compared_as_sent(client, authentik, settings):
    settings.SOCIAL_AUTH_CLEAN_USERNAMES = False
    User.objects.create_user('bobsmith')

    sign_in(client, authentik, 'bob', preferred_username='bob smith')

    assert usernames() == ['bob smith', 'bobsmith']


def test_with_slugify_usernames_the_name_is_compared_slugified(client, authentik, settings, log):
    settings.SOCIAL_AUTH_SLUGIFY_USERNAMES = True
    User.objects.create_user('bobsmith')

    assert refused_sign_in(client, authentik, 'bob', preferred_username='Bob.Smith') == [REFUSED]
    assert usernames() == ['bobsmith']


def without_ext_prefix(username):
    """An admin's own SOCIAL_AUTH_CLEAN_USERNAME_FUNCTION."""
    return username.removeprefix('ext-')


def test_an_admins_own_clean_username_function_is_the_one_compared_with(client, authentik, settings):
    settings.SOCIAL_AUTH_CLEAN_USERNAME_FUNCTION = 'tests.test_username_collision.without_ext_prefix'
    User.objects.create_user('bob')

    assert refused_sign_in(client, authentik, 'bob', preferred_username='ext-bob') == [REFUSED]
    assert usernames() == ['bob']
