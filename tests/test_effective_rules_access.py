"""The effective rules page shows only the rules a person may see, and rules that outlived their writer's rights.

A constrained view permission on rules hides the rules it excludes everywhere else (list, API, GraphQL);
configuration.py's rules are no objects a constraint could select, so they need an unconstrained permission.
A rule keeps granting after its writer lost what it grants: the page and `authentik_check` say so.
"""

import html
import re

import pytest
from social_django.models import UserSocialAuth
from users.models import Group, User

from netbox_authentik.models import GroupMapping
from tests.test_association_api import token_header
from tests.test_association_views import grant
from tests.test_group_mapping_sync import EFFECTIVE_URL, check_lines, plugin_config, rule

pytestmark = pytest.mark.django_db

API_URL = '/api/plugins/authentik/group-mappings/'


@pytest.fixture
def ops():
    return Group.objects.create(name='Ops')


def page_text(client, **query):
    response = client.get(EFFECTIVE_URL, query)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def rules_table(page):
    """The table of rules in force, as its text."""
    table = page.split('id="effective-rules"')[1].split('</table>')[0]
    return ' '.join(re.sub(r'<[^>]+>', ' ', table.split('>', 1)[1]).split())


# -- who sees which rule -------------------------------------------------------------------------------------


def test_a_constrained_viewer_sees_only_the_rules_their_permission_selects(client, ops):
    rule('ops-team', ops)
    rule('netbox-admins', superuser=True)
    viewer = User.objects.create_user('viewer')
    grant(viewer, 'netbox_authentik.groupmapping', ['view'], constraints={'superuser': False})
    grant(viewer, 'social_django.usersocialauth', ['view'])
    link = UserSocialAuth.objects.create(user=viewer, provider='authentik', uid='v' * 64, extra_data={'groups': []})
    client.force_login(viewer)

    with plugin_config(group_map={'netbox-users': 'Users'}, superuser_groups=['authentik Admins']):
        page = page_text(client, link=link.pk)

    table = rules_table(page)
    assert 'ops-team' in table
    assert 'netbox-admins' not in table
    assert 'netbox-users' not in table and 'authentik Admins' not in table
    # The preview applies every rule, hidden ones included: not for someone who cannot see them all.
    assert 'What a linked user would get now' not in page


def test_an_unconstrained_viewer_sees_every_rule(client, ops):
    rule('netbox-admins', superuser=True)
    viewer = User.objects.create_user('viewer')
    grant(viewer, 'netbox_authentik.groupmapping', ['view'])
    client.force_login(viewer)

    with plugin_config(group_map={'netbox-users': 'Users'}):
        table = rules_table(page_text(client))

    assert 'netbox-admins' in table and 'netbox-users' in table


# -- rules that outlive their writer's rights ----------------------------------------------------------------


def written_through_the_api(client, user, **data):
    response = client.post(API_URL, data, content_type='application/json', **token_header(user))
    assert response.status_code == 201, response.content
    return GroupMapping.objects.get(pk=response.json()['id'])


@pytest.fixture
def operator(ops):
    user = User.objects.create_user('mallory')
    user.groups.add(ops)
    grant(user, 'netbox_authentik.groupmapping', ['view', 'add', 'change'])
    return user


def superuser_page(client):
    client.force_login(User.objects.create_user('root', is_superuser=True))
    return rules_table(page_text(client))


def test_each_rule_records_who_wrote_it(client, ops, operator):
    mapping = written_through_the_api(client, operator, authentik_group='ops-team', netbox_groups=[ops.pk])
    assert (mapping.written_by, mapping.written_by_name) == (operator, 'mallory')
    assert "its writer 'mallory'" not in superuser_page(client)


def test_a_rule_whose_writer_left_the_group_is_flagged_on_the_page_and_by_authentik_check(client, ops, operator):
    mapping = written_through_the_api(client, operator, authentik_group='ops-team', netbox_groups=[ops.pk])
    operator.groups.remove(ops)

    assert "mallory its writer 'mallory' is no longer a member of 'Ops'" in superuser_page(client)
    assert (
        f"! group_mapping_rules: 'ops-team' → 'Ops' [database rule #{mapping.pk}]: its writer 'mallory' is no "
        "longer a member of 'Ops', yet the rule still grants it. — A rule keeps granting after its writer lost the "
        f'right to write it. Review the rule at /plugins/authentik/group-mappings/{mapping.pk}/: delete it, or have '
        'someone who holds what it grants save it again.'
    ) in check_lines()


def test_a_superuser_rule_whose_writer_is_no_longer_superuser_is_flagged(client):
    writer = User.objects.create_user('former-admin', is_superuser=True)
    written_through_the_api(client, writer, authentik_group='netbox-admins', superuser=True)
    writer.is_superuser = False
    writer.save()

    assert "it grants superuser status and its writer 'former-admin' is no superuser" in superuser_page(client)


def test_rules_of_a_deactivated_or_deleted_writer_are_flagged(client, ops, operator):
    written_through_the_api(client, operator, authentik_group='ops-team', netbox_groups=[ops.pk])
    other = User.objects.create_user('trent')
    other.groups.add(ops)
    grant(other, 'netbox_authentik.groupmapping', ['add'])
    written_through_the_api(client, other, authentik_group='ops-night', netbox_groups=[ops.pk])
    operator.is_active = False
    operator.save()
    other.delete()

    table = superuser_page(client)
    assert "its writer 'mallory' is deactivated" in table
    assert "its writer 'trent' was deleted" in table


def test_saving_the_rule_again_by_someone_who_holds_it_clears_the_flag(client, ops, operator):
    mapping = written_through_the_api(client, operator, authentik_group='ops-team', netbox_groups=[ops.pk])
    operator.groups.remove(ops)
    root = User.objects.create_user('root2', is_superuser=True)
    response = client.patch(
        f'{API_URL}{mapping.pk}/', {'description': 'reviewed'}, content_type='application/json', **token_header(root)
    )
    assert response.status_code == 200
    assert 'its writer' not in superuser_page(client)
