"""associate_existing_users: a first sign-in joins an existing NetBox user only when the setting allows it.

Every test signs in through NetBox's own views, so the whole pipeline runs.
"""

import logging

import pytest
from social_django.models import UserSocialAuth
from users.models import User

from netbox_authentik.links.linking import Match, comparable_email, match_existing_user
from tests.fake_authentik import authentik_claims, begin_sign_in, complete_sign_in, login_page_messages, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def mode(settings):
    def set_mode(value):
        settings.PLUGINS_CONFIG = {'netbox_authentik': {'associate_existing_users': value}}

    return set_mode


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger='netbox_authentik')
    return caplog


def sub_of(username):
    return authentik_claims(username)['sub']


def linked_user(username):
    """The NetBox user the Authentik identity of `username` signed in as."""
    return UserSocialAuth.objects.get(provider='authentik', uid=sub_of(username)).user


REFUSED = (
    'An account with this name already exists in NetBox. Ask your NetBox administrator to link it to your '
    'Authentik account.'
)


def refused_sign_in(client, authentik, username, **claims):
    """Sign in through the whole flow; return the messages of the login page the sign-in ended on."""
    query = begin_sign_in(client)
    authentik.register_token(authentik.sign(authentik_claims(username, nonce=query['nonce'], **claims)))
    return login_page_messages(client, complete_sign_in(client, query['state']))


def messages(log, level):
    return [
        record.getMessage()
        for record in log.records
        if record.name == 'netbox_authentik.linking' and record.levelno == level
    ]


# -- the default: never -----------------------------------------------------------------------------


def test_by_default_a_new_identity_never_takes_over_an_existing_user(client, authentik, log):
    alice = User.objects.create_user('alice', email='alice@example.com')
    assert refused_sign_in(client, authentik, 'alice', email_verified=True) == [REFUSED]
    assert not UserSocialAuth.objects.exists()
    assert list(User.objects.values_list('username', flat=True)) == ['alice']
    assert not alice.social_auth.exists()
    assert messages(log, logging.INFO) == messages(log, logging.WARNING) == []


# -- 'username' ---------------------------------------------------------------------------------------


def test_username_links_the_user_with_the_same_username(client, authentik, mode, log):
    mode('username')
    alice = User.objects.create_user('alice')
    sign_in(client, authentik, 'alice')
    assert linked_user('alice') == alice
    assert User.objects.count() == 1
    assert client.get('/').context['request'].user == alice
    assert messages(log, logging.INFO) == [
        f"Linking Authentik identity {sub_of('alice')} to existing NetBox user 'alice' "
        "(associate_existing_users='username')"
    ]


def test_username_differing_in_case_is_not_linked(client, authentik, mode, log):
    mode('username')
    alice = User.objects.create_user('alice')
    assert refused_sign_in(client, authentik, 'Alice') == [REFUSED]
    assert not UserSocialAuth.objects.exists()
    assert list(User.objects.values_list('username', flat=True)) == ['alice']
    [warning] = messages(log, logging.WARNING)
    assert "NetBox user 'alice' differs from 'Alice' in case only" in warning
    assert not alice.social_auth.exists()


def test_username_of_a_user_linked_to_another_identity_is_not_linked(client, authentik, mode, log):
    mode('username')
    alice = User.objects.create_user('alice')
    UserSocialAuth.objects.create(user=alice, provider='authentik', uid='the-real-alice')
    assert refused_sign_in(client, authentik, 'alice', sub='impostor-sub') == [REFUSED]
    assert list(alice.social_auth.values_list('uid', flat=True)) == ['the-real-alice']
    assert not UserSocialAuth.objects.filter(uid='impostor-sub').exists()
    [warning] = messages(log, logging.WARNING)
    assert "NetBox user 'alice' is already linked to another authentik identity" in warning


def test_a_link_under_another_provider_does_not_block_linking(client, authentik, mode):
    mode('username')
    alice = User.objects.create_user('alice')
    UserSocialAuth.objects.create(user=alice, provider='oidc', uid=sub_of('alice'))
    sign_in(client, authentik, 'alice')
    assert linked_user('alice') == alice


# -- 'verified_email' ---------------------------------------------------------------------------------


def test_verified_email_links_by_a_verified_address(client, authentik, mode):
    mode('verified_email')
    smith = User.objects.create_user('a.smith', email='Alice@Example.com')
    sign_in(client, authentik, 'alice', email='alice@example.com', email_verified=True)
    assert linked_user('alice') == smith


def test_verified_email_refuses_an_unverified_address(client, authentik, mode, log):
    mode('verified_email')
    smith = User.objects.create_user('a.smith', email='alice@example.com')
    sign_in(client, authentik, 'alice', email_verified=False)
    assert linked_user('alice') != smith
    [warning] = messages(log, logging.WARNING)
    assert 'Authentik did not mark the email address as verified' in warning


@pytest.mark.parametrize('email_verified', ['true', 1, None, ...], ids=['string', 'number', 'null', 'missing'])
def test_verified_email_refuses_when_the_claim_is_missing_or_not_a_boolean(
    client, authentik, mode, log, email_verified
):
    mode('verified_email')
    smith = User.objects.create_user('a.smith', email='alice@example.com')
    assert '_auth_user_id' not in client.session  # a first sign-in, not a signed-in session
    sign_in(client, authentik, 'alice', email_verified=email_verified)
    assert linked_user('alice') != smith
    assert client.get('/').context['request'].user == linked_user('alice')
    assert not smith.social_auth.exists()
    [warning] = messages(log, logging.WARNING)
    assert 'Authentik did not mark the email address as verified' in warning


def test_verified_email_refuses_when_two_users_share_the_address(client, authentik, mode, log):
    mode('verified_email')
    first = User.objects.create_user('a.smith', email='alice@example.com')
    second = User.objects.create_user('alice.s', email='ALICE@example.com')
    sign_in(client, authentik, 'alice', email_verified=True)
    assert linked_user('alice') not in (first, second)
    [warning] = messages(log, logging.WARNING)
    assert 'more than one NetBox user has this email address' in warning


def test_verified_email_refuses_a_user_linked_to_another_identity(client, authentik, mode, log):
    mode('verified_email')
    smith = User.objects.create_user('a.smith', email='alice@example.com')
    UserSocialAuth.objects.create(user=smith, provider='authentik', uid='the-real-alice')
    sign_in(client, authentik, 'alice', email_verified=True)
    assert linked_user('alice') != smith
    assert "NetBox user 'a.smith' is already linked" in messages(log, logging.WARNING)[0]


# -- 'email' ------------------------------------------------------------------------------------------


def test_email_trusts_an_unverified_address(client, authentik, mode, log):
    mode('email')
    smith = User.objects.create_user('a.smith', email='alice@example.com')
    sign_in(client, authentik, 'alice', email_verified=False)
    assert linked_user('alice') == smith
    assert "to existing NetBox user 'a.smith' (associate_existing_users='email')" in messages(log, logging.INFO)[0]


def test_email_refuses_when_two_users_share_the_address(client, authentik, mode):
    mode('email')
    User.objects.create_user('a.smith', email='alice@example.com')
    User.objects.create_user('alice.s', email='alice@example.com')
    sign_in(client, authentik, 'alice')
    assert linked_user('alice').username not in ('a.smith', 'alice.s')


def test_email_without_a_matching_user_creates_a_new_user_quietly(client, authentik, mode, log):
    mode('email')
    User.objects.create_user('bob', email='bob@example.com')
    sign_in(client, authentik, 'alice')
    assert linked_user('alice').username == 'alice'
    assert messages(log, logging.WARNING) == []


# -- returning sign-ins are never re-matched ------------------------------------------------------------


def test_a_returning_identity_keeps_its_user(client, authentik, mode, log):
    mode('email')
    sign_in(client, authentik, 'alice')
    first_user = linked_user('alice')
    User.objects.create_user('a.smith', email='ALICE@example.com')
    client.logout()
    sign_in(client, authentik, 'alice')
    assert linked_user('alice') == first_user
    assert messages(log, logging.WARNING) == []


# -- never onto a superuser --------------------------------------------------------------------------------

SUPERUSER_REFUSAL = "NetBox user 'root' is a superuser and is never linked automatically"


def test_username_never_links_a_superuser(client, authentik, mode, log):
    mode('username')
    root = User.objects.create_user('root', is_superuser=True)
    assert refused_sign_in(client, authentik, 'root') == [REFUSED]
    assert not root.social_auth.exists()
    assert list(User.objects.values_list('username', flat=True)) == ['root']
    [warning] = messages(log, logging.WARNING)
    assert SUPERUSER_REFUSAL in warning
    assert f'link it by hand: `netbox authentik_link --user USERNAME --uid {sub_of("root")}`' in warning


@pytest.mark.parametrize('email_mode', ['verified_email', 'email'])
def test_email_never_links_a_superuser(client, authentik, mode, log, email_mode):
    mode(email_mode)
    root = User.objects.create_user('root', email='admin@example.com', is_superuser=True)
    sign_in(client, authentik, 'ada', email='admin@example.com', email_verified=True)
    assert linked_user('ada').username == 'ada'
    assert not linked_user('ada').is_superuser
    assert not root.social_auth.exists()
    [warning] = messages(log, logging.WARNING)
    assert SUPERUSER_REFUSAL in warning


# -- email addresses are compared exactly, never through Unicode case rules ------------------------------------


@pytest.mark.parametrize(
    ('stored', 'claimed'),
    [
        ('admin@corp-it.com', 'admin@corp-\u0131t.com'),  # dotless i: upper() makes it 'I'
        ('admin@corp-\u0131t.com', 'admin@corp-it.com'),
        ('admin@corp-s.com', 'admin@corp-\u017f.com'),  # long s: upper() makes it 'S'
        ('admin@corp-\u017f.com', 'admin@corp-s.com'),
        ('admin@corp-k.com', 'admin@corp-\u212a.com'),  # Kelvin sign: lower() makes it 'k'
        ('admin@corp-\u212a.com', 'admin@corp-k.com'),
        ('admin@strasse.com', 'admin@stra\u00dfe.com'),  # sharp s: upper() and IDNA 2003 make it 'SS'
        ('admin@corp-it.com', 'adm\u0131n@corp-it.com'),  # in the local part too
    ],
)
def test_email_look_alikes_are_never_linked(client, authentik, mode, stored, claimed):
    mode('verified_email')
    smith = User.objects.create_user('a.smith')
    User.objects.filter(pk=smith.pk).update(email=stored)  # as stored, without Django's normalize_email()
    sign_in(client, authentik, 'alice', email=claimed, email_verified=True)
    assert linked_user('alice') != smith
    assert not smith.social_auth.exists()


def test_email_matching_ignores_ascii_case_only(client, authentik, mode):
    mode('verified_email')
    smith = User.objects.create_user('a.smith', email='Alice@XN--Bcher-KVA.example')
    sign_in(client, authentik, 'alice', email='alice@xn--bcher-kva.example', email_verified=True)
    assert linked_user('alice') == smith


def test_comparable_email_keeps_ascii_addresses_only():
    assert comparable_email(' Alice@Example.COM ') == 'alice@example.com'
    for address in ('admin@corp-\u0131t.com', 'stra\u00dfe@example.com', 'no-at-sign', '@example.com', 'alice@', ''):
        assert comparable_email(address) is None, address


# -- match_existing_user on what a sign-in may lack ------------------------------------------------------


@pytest.mark.parametrize(
    'mode, claims',
    [
        ('username', {'username': ''}),
        ('email', {'email': ''}),
        ('verified_email', {'email': '', 'email_verified': True}),
        ('email', {'email': 'nobody@example.com'}),
        ('verified_email', {'email': 'nobody@example.com', 'email_verified': False}),
        ('email', {'email': 'ålice@example.com'}),  # not ASCII, and no NetBox user has it
        ('no such mode', {'username': 'alice', 'email': 'alice@example.com'}),
    ],
)
def test_nothing_to_match_is_no_match_and_no_refusal(mode, claims):
    User.objects.create_user('alice', email='alice@example.com')

    assert match_existing_user(mode, 'authentik', **claims) == Match()


def test_a_non_ascii_address_a_user_has_is_refused_with_the_reason():
    User.objects.create_user('alice', email='ålice@example.com')

    match = match_existing_user('email', 'authentik', email='ålice@example.com')

    assert match == Match(refusal='only plain ASCII email addresses are matched')


def test_a_verified_address_only_userinfo_gives_is_matched(client, authentik, settings):
    """Authentik with "Include claims in id_token" off: email and email_verified arrive from userinfo alone."""
    from tests.test_userinfo import sign_in as sign_in_with_userinfo

    config = {'associate_existing_users': 'verified_email', 'fetch_userinfo': 'auto'}
    settings.PLUGINS_CONFIG = {'netbox_authentik': config}
    smith = User.objects.create_user('a.smith', email='alice@example.com')
    userinfo = authentik_claims('alice', email_verified=True)

    sign_in_with_userinfo(
        client, authentik, userinfo=userinfo, netbox_username='a.smith', email=..., email_verified=...
    )

    assert linked_user('alice') == smith


def test_another_backend_is_matched_by_what_its_response_holds(mode):
    """associate_existing_user also runs for NetBox's other social backends, which have no claim()."""
    from types import SimpleNamespace

    from netbox_authentik.links.linking import associate_existing_user

    mode('email')
    smith = User.objects.create_user('a.smith', email='alice@example.com')
    github = SimpleNamespace(name='github')

    found = associate_existing_user(github, {'username': 'alice'}, {'email': 'alice@example.com'}, uid='42')
    assert found == {'user': smith, 'is_new': False}
    assert associate_existing_user(github, {'username': 'alice'}, None, uid='42') is None
