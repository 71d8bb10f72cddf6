"""The pipeline's guard steps called as social-core calls them, for the paths no whole sign-in reaches here.

A whole sign-in through NetBox's views cannot hand refuse_second_identity a user that an earlier step found
and that is linked elsewhere (the plugin's own association step refuses such a user first): an admin's own
step could, so the guard is called here directly, with what that step would pass on.
"""

import logging

import pytest
from django.contrib.auth.models import AnonymousUser
from social_django.models import UserSocialAuth
from social_django.utils import load_strategy
from users.models import User

from netbox_authentik import pipeline
from netbox_authentik.backends import AuthentikOIDCAuth
from netbox_authentik.signin.errors import AuthentikError
from tests.fake_authentik import authentik_claims, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def backend():
    return AuthentikOIDCAuth(load_strategy())


def test_a_user_an_earlier_step_found_that_is_linked_elsewhere_is_refused(backend, caplog):
    alice = User.objects.create_user('alice')
    UserSocialAuth.objects.create(user=alice, provider='authentik', uid='the-real-alice')
    caplog.set_level(logging.WARNING, logger='netbox_authentik.pipeline')

    with pytest.raises(AuthentikError, match='already linked to another Authentik account'):
        pipeline.refuse_second_identity(backend, user=alice, social=None, uid='someone-else')

    [warning] = [record.getMessage() for record in caplog.records]
    assert warning.startswith(
        "Refused to link Authentik identity someone-else to NetBox user 'alice', already linked to "
        'authentik identity the-real-alice.'
    )
    assert list(UserSocialAuth.objects.values_list('uid', flat=True)) == ['the-real-alice']


def test_a_user_with_no_link_or_no_user_at_all_passes(backend):
    assert pipeline.refuse_second_identity(backend, user=User.objects.create_user('bob'), social=None) is None
    assert pipeline.refuse_second_identity(backend, user=None, social=None) is None


def test_unlinking_without_a_signed_in_user_is_left_to_social_core(backend):
    # social-core's disconnect view needs a signed-in user; the guard has nothing to check without one.
    alice = User.objects.create_user('alice')
    UserSocialAuth.objects.create(user=alice, provider='authentik', uid='the-real-alice')

    assert pipeline.refuse_unlink_without_permission(backend, user=None) is None
    assert pipeline.refuse_unlink_without_permission(backend, user=AnonymousUser()) is None
    assert UserSocialAuth.objects.count() == 1


def test_a_sign_in_keeps_what_scim_recorded_on_the_link(client, authentik):
    alice = User.objects.create_user('alice')
    sub = authentik_claims('alice')['sub']
    UserSocialAuth.objects.create(
        user=alice, provider='authentik', uid=sub, extra_data={'scim_provisioned': True, 'scim_updated_at': 'then'}
    )

    sign_in(client, authentik, 'alice')

    extra_data = UserSocialAuth.objects.get(uid=sub).extra_data
    assert (extra_data['scim_provisioned'], extra_data['scim_updated_at']) == (True, 'then')
    assert extra_data['groups'] == ['netbox-users', 'network-engineers']
