"""The provision permission with constraints: refused with the reason, never read as unlimited.

Provisioning changes whichever user and group Authentik pushes, so a constraint (say, one Authentik group)
could not be honoured; before, such a permission silently provisioned everything.
"""

import pytest
from core.models import ObjectType
from django.contrib.auth import get_user_model
from users.models import ObjectPermission

from netbox_authentik.models import AuthentikGroup
from tests import test_scim
from tests.test_scim import assert_error, group_body, make_token, user_body

pytestmark = pytest.mark.django_db

CONSTRAINED = (
    'The permission that lets this token provision (netbox_authentik.provision_authentikgroup) has constraints, '
    'which SCIM cannot apply: provisioning may change any user and group. Grant the provision action without '
    'constraints.'
)


def holder_of_provision(constraints=None, *more_constraints):
    """A user holding the provision action through one permission per constraint given."""
    holder = get_user_model().objects.create_user('provisioner')
    for number, constraint in enumerate((constraints, *more_constraints)):
        permission = ObjectPermission.objects.create(
            name=f'SCIM {number}', actions=['provision'], constraints=constraint
        )
        permission.object_types.set([ObjectType.objects.get_for_model(AuthentikGroup)])
        permission.users.add(holder)
    return holder


# The SCIM client of test_scim (Authentik's headers); each test here passes its own token.
provisioner, scim = test_scim.provisioner, test_scim.scim


def test_a_constrained_provision_permission_is_refused_with_the_reason(scim):
    authorization = make_token(holder_of_provision({'display_name': 'netbox-ops'}))

    for method, path, body in (
        ('GET', 'Users', None),
        ('POST', 'Users', user_body()),
        ('POST', 'Groups', group_body()),
    ):
        response = scim(method, path, body, authorization=authorization)
        assert_error(response, 403)
        assert response.body['detail'] == CONSTRAINED
    assert not get_user_model().objects.filter(username='ada').exists()
    assert not AuthentikGroup.objects.exists()


def test_one_unconstrained_grant_beside_a_constrained_one_provisions(scim):
    authorization = make_token(holder_of_provision({'display_name': 'netbox-ops'}, None))
    assert scim('POST', 'Users', user_body(), authorization=authorization).status_code == 201
