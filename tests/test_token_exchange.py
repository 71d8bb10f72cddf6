"""API access with Authentik identities: a NetBox API token in exchange for an Authentik token (RFC 8693).

Who gets a token, what it may do, how long it lives, and how it ends; the token is used through NetBox's
real REST API. Refusals of the Authentik token itself: tests/test_token_exchange_refusals.py.
"""

import datetime
import time
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from social_django.models import UserSocialAuth

from netbox_authentik.models import ExchangedToken, GroupMapping
from tests.fake_authentik import (
    CLIENT_ID,
    access_token_claims,
    authentik_claims,
    logout_token_claims,
)
from tests.test_backchannel_logout import post_logout_token

pytestmark = pytest.mark.django_db

URL = '/api/plugins/authentik/token-exchange/'
GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'
ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token'


def configure(settings, **values):
    settings.PLUGINS_CONFIG = {'netbox_authentik': {'api_token_exchange': True, **values}}


@pytest.fixture(autouse=True)
def exchange_enabled(settings):
    configure(settings)


def exchange(subject_token, subject_token_type=ACCESS_TOKEN, **extra):
    """POST to the endpoint as a script does: no session, no CSRF token."""
    return Client(enforce_csrf_checks=True).post(
        URL, {'grant_type': GRANT, 'subject_token': subject_token, 'subject_token_type': subject_token_type, **extra}
    )


def linked_user(username='alice', **fields):
    """A NetBox user linked to the Authentik identity `username` of the fake provider."""
    user = get_user_model().objects.create_user(username=username, **fields)
    UserSocialAuth.objects.create(user=user, provider='authentik', uid=authentik_claims(username)['sub'])
    return user


def may_use_sites(user):
    from core.models import ObjectType
    from dcim.models import Site
    from users.models import ObjectPermission

    permission = ObjectPermission.objects.create(name=f'sites of {user}', actions=['view', 'add'])
    permission.object_types.add(ObjectType.objects.get_for_model(Site))
    permission.users.add(user)


def api(answer, method='get', path='/api/dcim/sites/', data=None):
    """Call NetBox's REST API with the token an exchange answered."""
    header = f'{answer["token_type"]} {answer["access_token"]}'
    return getattr(Client(), method)(path, data, content_type='application/json', HTTP_AUTHORIZATION=header)


def exchanged(fake, username='alice', **claims):
    response = exchange(fake.sign(access_token_claims(username, **claims)))
    assert response.status_code == 200, response.content
    return response.json()


def assert_refused(response, status, error):
    assert response.status_code == status, response.content
    assert response['Content-Type'] == 'application/json'
    assert 'no-store' in response['Cache-Control']
    body = response.json()
    assert body['error'] == error, body
    return body['error_description']


# -- the token and what it may do -------------------------------------------------------------------------


def test_access_token_gets_a_read_only_v2_token_that_lists_sites(authentik):
    user = linked_user()
    may_use_sites(user)

    answer = exchanged(authentik)

    assert answer['token_type'] == 'Bearer'
    assert answer['access_token'].startswith('nbt_')
    assert answer['issued_token_type'] == ACCESS_TOKEN
    assert 3500 <= answer['expires_in'] <= 3600
    assert answer['write_enabled'] is False
    assert api(answer).status_code == 200
    assert api(answer, 'post', data={'name': 'x', 'slug': 'x'}).status_code == 403
    token = user.tokens.get()
    assert token.write_enabled is False
    assert token.description.startswith(f'Authentik token exchange: client {CLIENT_ID}, Authentik token issued ')


def test_scope_netbox_write_makes_the_token_write_enabled(authentik):
    may_use_sites(linked_user())

    answer = exchanged(authentik, scope='openid profile email netbox:write')

    assert answer['write_enabled'] is True
    assert api(answer, 'post', data={'name': 'x', 'slug': 'x'}).status_code == 201


@pytest.mark.parametrize(('mode', 'scope', 'write'), [('never', 'netbox:write', False), ('always', 'openid', True)])
def test_api_token_write_setting_decides_over_the_scope(authentik, settings, mode, scope, write):
    configure(settings, api_token_write=mode)
    linked_user()

    assert exchanged(authentik, scope=scope)['write_enabled'] is write


def test_id_token_is_exchanged_too(authentik):
    linked_user()

    # An id_token of the device flow or client credentials: no nonce.
    response = exchange(authentik.sign(authentik_claims('alice', sid='sid-1')), ID_TOKEN)

    assert response.status_code == 200
    assert ExchangedToken.objects.get().sid == 'sid-1'


def test_v1_token_without_api_token_peppers(authentik, settings):
    settings.API_TOKEN_PEPPERS = {}
    user = linked_user()
    may_use_sites(user)

    answer = exchanged(authentik)

    assert answer['token_type'] == 'Token'
    assert user.tokens.get().version == 1
    assert api(answer).status_code == 200


def test_token_expires_with_the_authentik_token_or_the_lifetime_whichever_is_first(authentik, settings):
    configure(settings, api_token_lifetime=600)
    user = linked_user()

    assert 500 <= exchanged(authentik)['expires_in'] <= 600
    assert 0 < exchanged(authentik, exp=int(time.time()) + 60)['expires_in'] <= 60
    requested = exchange(authentik.sign(access_token_claims('alice', iat=int(time.time()) - 1)), expires_in='120')
    assert 60 < requested.json()['expires_in'] <= 120
    latest = max(token.expires for token in user.tokens.all())
    assert latest <= timezone.now() + datetime.timedelta(seconds=600)


def test_a_lifetime_over_a_day_falls_back_to_the_default(authentik, settings):
    configure(settings, api_token_lifetime=10 * 86400)
    linked_user()

    assert exchanged(authentik, exp=int(time.time()) + 5 * 86400)['expires_in'] <= 3600


def test_an_expired_token_is_refused_by_netbox(authentik):
    user = linked_user()
    may_use_sites(user)
    answer = exchanged(authentik)
    user.tokens.update(expires=timezone.now() - datetime.timedelta(seconds=1))

    assert api(answer).status_code == 403


# -- who gets a token ---------------------------------------------------------------------------------------


def test_unknown_sub_is_refused_and_nothing_is_created(authentik, caplog):
    users = get_user_model().objects.count()

    description = assert_refused(exchange(authentik.sign(access_token_claims('mallory'))), 403, 'access_denied')

    assert 'No NetBox user is linked' in description
    assert get_user_model().objects.count() == users
    assert not ExchangedToken.objects.exists()
    assert 'authentik_link --user <username> --uid' in caplog.text


def test_unknown_sub_is_created_by_the_first_sign_in_rules_when_allowed(authentik, settings):
    configure(settings, api_token_create_users=True, group_map={'netbox-users': 'Operators'})
    from users.models import Group

    Group.objects.create(name='Operators')

    exchanged(authentik, 'svc-ansible', groups=['netbox-users'])

    user = get_user_model().objects.get(username='svc-ansible')
    assert set(user.groups.values_list('name', flat=True)) == {'Operators'}
    assert UserSocialAuth.objects.get(user=user).uid == authentik_claims('svc-ansible')['sub']
    assert user.tokens.count() == 1


def test_creating_a_user_still_refuses_a_username_collision(authentik, settings):
    configure(settings, api_token_create_users=True)
    get_user_model().objects.create_user(username='bob')

    description = assert_refused(exchange(authentik.sign(access_token_claims('bob'))), 403, 'access_denied')

    assert 'already exists' in description
    assert get_user_model().objects.filter(username__startswith='bob').count() == 1
    assert not UserSocialAuth.objects.exists()


def test_inactive_user_is_refused(authentik):
    user = linked_user(is_active=False)

    assert 'deactivated' in assert_refused(exchange(authentik.sign(access_token_claims())), 403, 'access_denied')
    assert not user.tokens.exists()


def test_a_deactivated_users_exchanged_token_stops_working(authentik):
    user = linked_user()
    may_use_sites(user)
    answer = exchanged(authentik)
    assert api(answer).status_code == 200

    user.is_active = False
    user.save()

    response = api(answer)
    assert response.status_code == 403
    assert response.json()['detail'] == 'User inactive'


@pytest.mark.parametrize('groups', [['netbox-users'], None], ids=['other_groups', 'no_groups_claim'])
def test_required_groups_refuse_as_at_sign_in(authentik, settings, groups):
    configure(settings, required_groups=['netbox-operators'])
    user = linked_user()

    token = authentik.sign(access_token_claims(groups=groups) if groups else access_token_claims(groups=None))

    assert 'required_groups' in assert_refused(exchange(token), 403, 'access_denied')
    assert not user.tokens.exists()


def test_required_groups_met_gets_a_token(authentik, settings):
    configure(settings, required_groups=['netbox-*'])
    linked_user()

    assert exchanged(authentik, groups=['netbox-operators'])['access_token']


def test_superuser_is_refused_unless_allowed(authentik, settings):
    user = linked_user(is_superuser=True)

    assert 'superusers' in assert_refused(exchange(authentik.sign(access_token_claims())), 403, 'access_denied')
    assert not user.tokens.exists()

    configure(settings, api_token_superusers=True)
    assert exchanged(authentik)['access_token']


def test_groups_claim_applies_the_sign_in_mapping_change_logged(authentik, settings):
    from core.models import ObjectChange
    from users.models import Group

    configure(settings, group_map={'network-engineers': 'Engineers'})
    engineers, stale = Group.objects.create(name='Engineers'), Group.objects.create(name='Stale')
    GroupMapping.objects.create(authentik_group='old-team').netbox_groups.add(stale)
    user = linked_user()
    user.groups.add(stale)

    exchanged(authentik, groups=['network-engineers'])

    assert set(user.groups.all()) == {engineers}
    change = ObjectChange.objects.get(changed_object_id=user.pk)
    assert change.postchange_data == {'groups': ['Engineers'], 'is_superuser': False}
    assert change.message == 'Groups and superuser status synced from Authentik at an API token exchange'
    assert UserSocialAuth.objects.get(user=user).extra_data['groups'] == ['network-engineers']


def test_no_groups_claim_leaves_groups_alone(authentik, settings):
    from users.models import Group

    configure(settings, group_map={'network-engineers': 'Engineers'}, missing_groups_claim='clear')
    user = linked_user()
    user.groups.add(Group.objects.create(name='Engineers'))

    exchanged(authentik, groups=None)

    assert list(user.groups.values_list('name', flat=True)) == ['Engineers']


def test_a_mapping_that_grants_superuser_is_refused_and_rolled_back(authentik, settings):
    configure(settings, superuser_groups=['netbox-admins'])
    user = linked_user()

    assert_refused(exchange(authentik.sign(access_token_claims(groups=['netbox-admins']))), 403, 'access_denied')

    user.refresh_from_db()
    assert user.is_superuser is False
    assert not user.tokens.exists()


def test_a_second_exchange_of_one_authentik_token_is_refused(authentik):
    user = linked_user()
    token = authentik.sign(access_token_claims())
    assert exchange(token).status_code == 200

    assert assert_refused(exchange(token), 400, 'invalid_grant') == 'subject_token was already exchanged'
    assert user.tokens.count() == 1


def test_the_replay_record_outlives_a_token_deleted_by_hand(authentik):
    user = linked_user()
    token = authentik.sign(access_token_claims())
    assert exchange(token).status_code == 200
    user.tokens.all().delete()

    assert_refused(exchange(token), 400, 'invalid_grant')


# -- how tokens end -------------------------------------------------------------------------------------------


def test_back_channel_logout_deletes_the_tokens_of_that_authentik_session(authentik):
    user = linked_user()
    exchange(authentik.sign(authentik_claims('alice', sid='sid-laptop')), ID_TOKEN)
    exchange(authentik.sign(authentik_claims('alice', sid='sid-phone', iat=int(time.time()) - 1)), ID_TOKEN)
    exchanged(authentik)  # client credentials: no sid
    assert user.tokens.count() == 3

    assert post_logout_token(authentik.sign(logout_token_claims(sid='sid-laptop'))).status_code == 200

    assert set(ExchangedToken.objects.filter(token__isnull=False).values_list('sid', flat=True)) == {'sid-phone', ''}
    assert user.tokens.count() == 2


def test_cleanup_deletes_expired_exchanged_tokens_only(authentik):
    from users.models import Token

    user = linked_user()
    own = Token.objects.create(user=user, expires=timezone.now() + datetime.timedelta(seconds=5), description='own')
    exchanged(authentik)
    exchanged(authentik, iat=int(time.time()) - 1)
    stale = ExchangedToken.objects.order_by('pk').first()
    past = timezone.now() - datetime.timedelta(seconds=1)
    # Edited by hand to live longer: the expiry it was issued with counts.
    Token.objects.filter(pk=stale.token_id).update(expires=None)
    ExchangedToken.objects.filter(pk=stale.pk).update(expires=past)
    Token.objects.filter(pk=own.pk).update(expires=past)
    output = StringIO()

    call_command('authentik_cleanup', stdout=output)

    assert 'Deleted 1 expired exchanged API token(s).' in output.getvalue()
    assert set(user.tokens.all()) == {own, ExchangedToken.objects.get(token__isnull=False).token}
    # The replay record stays until the Authentik token has expired too.
    assert ExchangedToken.objects.count() == 2
    ExchangedToken.objects.filter(pk=stale.pk).update(subject_expires=past)
    call_command('authentik_cleanup', stdout=StringIO())
    assert ExchangedToken.objects.count() == 1


# -- the HTTP edge ----------------------------------------------------------------------------------------------


def test_json_body_is_accepted_and_no_session_is_made(authentik):
    import json

    linked_user()
    body = {
        'grant_type': GRANT,
        'subject_token': authentik.sign(access_token_claims()),
        'subject_token_type': ACCESS_TOKEN,
    }

    response = Client(enforce_csrf_checks=True).post(URL, json.dumps(body), content_type='application/json')

    assert response.status_code == 200
    assert 'no-store' in response['Cache-Control']
    assert not response.cookies


def test_exchange_and_refusal_are_logged_without_tokens(authentik, caplog):
    linked_user()
    token = authentik.sign(access_token_claims())
    answer = exchange(token).json()
    exchange(token)

    assert "Issued a NetBox API token to 'alice' for Authentik client netbox, read-only, expiring" in caplog.text
    assert 'Refused an API token exchange: subject_token was already exchanged' in caplog.text
    assert token not in caplog.text
    assert answer['access_token'].split('.')[1] not in caplog.text


def test_disabled_by_default(authentik, settings):
    settings.PLUGINS_CONFIG = {'netbox_authentik': {}}
    user = linked_user()

    assert 'api_token_exchange' in assert_refused(exchange(authentik.sign(access_token_claims())), 403, 'access_denied')
    assert not user.tokens.exists()


def test_a_lifetime_over_a_day_is_reported_by_the_checks():
    from netbox_authentik import settings as plugin_settings

    assert plugin_settings.problems({'api_token_lifetime': 90000, 'api_token_write': 'yes'}) == [
        ('api_token_lifetime', "'api_token_lifetime' is 90000; it can be at most 86400."),
        ('api_token_write', "'api_token_write' is 'yes'; choose one of 'scope', 'never', 'always'."),
    ]


@pytest.mark.django_db(transaction=True)
def test_two_workers_exchanging_one_token_at_once_issue_one_token(authentik, monkeypatch):
    """Both pass the "already exchanged?" look-up before either writes: the unique digest lets one through."""
    import threading

    from django.db import connection

    from netbox_authentik.exchange import issue

    user = linked_user()
    token = authentik.sign(access_token_claims())
    exchange(authentik.sign(access_token_claims(iat=int(time.time()) - 1)))  # warms metadata and URL loading
    barrier = threading.Barrier(2, timeout=30)
    find_user = issue._user_for

    def slow_user_for(backend, claims):
        barrier.wait()  # both workers are past the look-up
        return find_user(backend, claims)

    monkeypatch.setattr(issue, '_user_for', slow_user_for)
    statuses = []

    def worker():
        try:
            statuses.append(exchange(token).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(statuses) == [200, 400]
    assert user.tokens.count() == 2  # the warm-up's and one of the two
