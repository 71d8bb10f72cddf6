"""What an admin can see of SCIM: each refusal in NetBox's log, and the provisioning state in `authentik_check`."""

import io
import json
import logging
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from netbox_authentik.diagnostics.provisioning import provisioning_findings

from . import test_scim
from .test_scim import group_body, make_token, user_body

pytestmark = pytest.mark.django_db

# The SCIM client and its token's user, as test_scim.py defines them.
scim, provisioner = test_scim.scim, test_scim.provisioner


def refusal_lines(caplog):
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == 'netbox_authentik.scim' and record.levelno == logging.WARNING
    ]


# -- refusals in the log --------------------------------------------------------------------------------


def test_each_refusal_is_logged_with_method_path_status_and_detail(scim, caplog):
    caplog.set_level(logging.INFO, logger='netbox_authentik')
    scim('POST', 'Users', user_body(username=''))
    scim('GET', 'Users?filter=nickName+eq+%22x%22')
    get_user_model().objects.create_user('ada')
    scim('POST', 'Users', user_body())

    assert refusal_lines(caplog) == [
        "SCIM refused POST /plugins/authentik/scim/v2/Users: 400 'userName' has no character NetBox allows in a "
        'username',
        "SCIM refused GET /plugins/authentik/scim/v2/Users: 400 Cannot filter on 'nickName'; filterable: active, "
        'displayname, emails, emails.value, externalid, id, name.familyname, name.givenname, username',
        "SCIM refused POST /plugins/authentik/scim/v2/Users: 409 NetBox user 'ada' already exists and is not "
        'linked to this Authentik identity. If it is the same person, link the two in NetBox (Authentik '
        'identity links), then sync again.',
    ]


def test_a_refused_token_is_logged_but_never_the_token(scim, provisioner, caplog):
    caplog.set_level(logging.INFO, logger='netbox_authentik')
    good = make_token(provisioner)
    wrong = good[:-4] + 'abcd'
    read_only = make_token(provisioner, write_enabled=False)

    scim('GET', 'Users', authorization=wrong)
    scim('POST', 'Groups', group_body(), authorization=read_only)

    lines = refusal_lines(caplog)
    assert [line.split(': ')[1][:3] for line in lines] == ['401', '403']
    assert lines[0].startswith('SCIM refused GET /plugins/authentik/scim/v2/Users: 401 ')
    secrets = [good.split()[-1], wrong.split()[-1], read_only.split()[-1]]
    for secret in secrets + [secret.split('.')[-1] for secret in secrets]:
        assert secret not in caplog.text


def test_404_is_not_a_refusal_but_is_logged_at_info(scim, caplog):
    caplog.set_level(logging.INFO, logger='netbox_authentik')
    scim('GET', 'Users/999999')
    assert refusal_lines(caplog) == []
    assert 'SCIM GET /plugins/authentik/scim/v2/Users/999999: 404 User 999999 not found' in caplog.text


def test_a_control_character_in_a_path_cannot_forge_a_log_line(scim, caplog):
    scim('GET', 'Users?filter=' + 'userName%20eq%20%22x%0ASCIM%20refused%20nothing%22%20and%20nick%20eq%20%22y%22')
    assert all('\n' not in line for line in refusal_lines(caplog))


def test_an_unreachable_cache_costs_a_log_line_never_the_request(scim, monkeypatch, caplog):
    from netbox_authentik import scim_activity

    class Unreachable:
        def set(self, *args, **kwargs):
            raise ConnectionError('Redis is down')

        get = set

    monkeypatch.setattr(scim_activity, 'cache', Unreachable())

    assert scim('POST', 'Users', user_body()).status_code == 201
    assert scim('POST', 'Groups', {'displayName': 'no schemas'}).status_code == 400
    assert 'Could not record SCIM activity in the cache: Redis is down' in caplog.text


# -- authentik_check -----------------------------------------------------------------------------------


def findings_by_check(**kwargs):
    return {finding.check: finding for finding in provisioning_findings(**kwargs)}


def test_without_provisioning_the_check_says_nothing_of_scim():
    assert provisioning_findings() == []


def test_provisioning_in_use_reports_the_token_the_last_request_and_no_refusal(scim, provisioner):
    scim('POST', 'Users', user_body())

    found = findings_by_check()

    assert set(found) == {'scim_token', 'scim_activity', 'scim_refusals'}
    assert found['scim_token'].status == 'ok'
    assert "of user 'authentik-scim' (a superuser, write-enabled, never expires)" in found['scim_token'].message
    assert found['scim_activity'].status == 'ok' and 'The last SCIM request was at ' in found['scim_activity'].message
    assert found['scim_refusals'] == ('scim_refusals', 'ok', 'No SCIM request refused recently.', '')


def test_the_last_refusal_is_reported_with_its_reason(scim):
    scim('POST', 'Users', user_body())
    scim('POST', 'Groups', {'displayName': 'no schemas'})

    refusals = findings_by_check()['scim_refusals']

    assert refusals.status == 'warning'
    assert refusals.message.startswith('1 recent SCIM refusal(s); the last at ')
    assert refusals.message.endswith(
        'POST /plugins/authentik/scim/v2/Groups -> 400 schemas must contain '
        "'urn:ietf:params:scim:schemas:core:2.0:Group'"
    )
    assert 'netbox_authentik.scim' in refusals.hint


@pytest.mark.parametrize(
    ('change', 'problem'),
    [
        (lambda token, user: setattr(user, 'is_active', False), "its user 'authentik-scim' is inactive"),
        (lambda token, user: setattr(user, 'is_superuser', False), 'neither a superuser nor holds'),
        (lambda token, user: setattr(token, 'write_enabled', False), 'it is read-only'),
        (lambda token, user: setattr(token, 'enabled', False), 'it is disabled'),
        (lambda token, user: setattr(token, 'expires', timezone.now() - timedelta(days=1)), 'it expired at'),
    ],
    ids=['user_inactive', 'no_permission', 'read_only', 'disabled', 'expired'],
)
def test_a_token_that_can_no_longer_provision_is_an_error(scim, provisioner, change, problem):
    from users.models import Token

    scim('POST', 'Users', user_body())
    token = Token.objects.get(user=provisioner)
    change(token, provisioner)
    token.save()
    provisioner.save()

    found = findings_by_check()['scim_token']

    assert found.status == 'error'
    assert problem in found.message
    assert 'write-enabled token of an active user' in found.hint


def test_a_token_expiring_soon_is_a_warning(scim, provisioner):
    from users.models import Token

    scim('POST', 'Users', user_body())
    Token.objects.filter(user=provisioner).update(expires=timezone.now() + timedelta(days=3))

    assert findings_by_check()['scim_token'].status == 'warning'


def test_a_deleted_token_is_an_error(scim, provisioner):
    from users.models import Token

    scim('POST', 'Users', user_body())
    Token.objects.filter(user=provisioner).delete()

    assert findings_by_check()['scim_token'].status == 'error'


def test_no_request_for_longer_than_a_full_sync_interval_warns(scim):
    scim('POST', 'Users', user_body())

    assert findings_by_check(now=time.time() + 4 * 3600)['scim_activity'].status == 'ok'
    quiet = findings_by_check(now=time.time() + 6 * 3600)['scim_activity']
    assert quiet.status == 'warning' and '6 hours ago' in quiet.message


def test_provisioned_links_without_any_request_on_record_warn(scim):
    from django.core.cache import cache

    scim('POST', 'Users', user_body())
    cache.delete_pattern('netbox_authentik:scim:*')

    found = findings_by_check()

    assert found['scim_token'].status == 'warning' and 'no SCIM request is on record' in found['scim_token'].message
    assert found['scim_activity'].status == 'warning'


def test_authentik_check_prints_the_scim_findings(scim, settings):
    scim('POST', 'Users', user_body())
    scim('POST', 'Groups', {'displayName': 'no schemas'})
    settings.SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT = (
        'not a url'  # Authentik not contacted: the check fails, SCIM still shows
    )
    stdout = io.StringIO()

    with pytest.raises(CommandError):
        call_command('authentik_check', '--json', stdout=stdout)

    found = {finding['check']: finding for finding in json.loads(stdout.getvalue())}
    assert found['scim_token']['status'] == 'ok'
    assert found['scim_refusals']['status'] == 'warning'
