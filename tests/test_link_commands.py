"""`netbox authentik_link` and `netbox authentik_migrate_oidc`."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from social_django.models import UserSocialAuth
from social_django.utils import load_strategy
from users.models import User

from netbox_authentik.backends import AuthentikOIDCAuth
from tests.fake_authentik import authentik_claims, plugin_link_claim, recorded_claim, sign_in

pytestmark = pytest.mark.django_db

SUB = 'c3' * 32


def run(command, *args):
    """Run a management command; return (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def csv_file(tmp_path, text, name='links.csv'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def links():
    return {(link.provider, link.uid, link.user.username) for link in UserSocialAuth.objects.select_related('user')}


@pytest.fixture
def alice():
    return User.objects.create_user('alice', email='alice@example.com')


@pytest.fixture
def bob():
    return User.objects.create_user('bob', email='bob@example.com')


# -- authentik_link --user --uid ----------------------------------------------------------------


def test_links_one_user(alice):
    out, _err = run('authentik_link', '--user', 'alice', '--uid', SUB)
    assert links() == {('authentik', SUB, 'alice')}
    assert f"Linked NetBox user 'alice' to authentik identity {SUB}." in out


def test_linked_user_signs_in_as_that_user(alice, client, authentik):
    # A link made by hand has no sign-in's extra_data; it says its uid is the `sub` where links record that.
    sub = authentik_claims('alice-in-authentik')['sub']
    run('authentik_link', '--user', 'alice', '--uid', sub)
    assert recorded_claim(UserSocialAuth.objects.get(uid=sub)) == plugin_link_claim()

    sign_in(client, authentik, 'alice-in-authentik')

    assert client.get('/').context['request'].user == alice
    assert links() == {('authentik', sub, 'alice')}


def test_link_made_before_links_recorded_their_claim_signs_in(alice, client, authentik):
    # A row as social-auth-app-django 6 wrote it, or 8's migration left it: no id_key (empty under 8).
    sub = authentik_claims('alice-in-authentik')['sub']
    link = UserSocialAuth.objects.create(user=alice, provider='authentik', uid=sub)

    sign_in(client, authentik, 'alice-in-authentik')

    assert client.get('/').context['request'].user == alice
    assert links() == {('authentik', sub, 'alice')}
    # The backend vouched for it as a `sub` link (social-core 7), which now says so.
    assert recorded_claim(link) == plugin_link_claim()


@pytest.mark.parametrize(
    'provider, settings_, keyed',
    [
        ('authentik', {}, True),
        # Another backend's uid is not this plugin's to describe.
        ('oidc', {}, False),
        # With ID_KEY set, what the uid holds is the admin's choice.
        ('authentik', {'SOCIAL_AUTH_AUTHENTIK_ID_KEY': 'sub'}, False),
        ('authentik', {'SOCIAL_AUTH_ID_KEY': 'preferred_username'}, False),
    ],
)
def test_links_record_the_sub_claim_only_for_this_backend_as_configured(alice, settings, provider, settings_, keyed):
    for name, value in settings_.items():
        setattr(settings, name, value)
    run('authentik_link', '--user', 'alice', '--uid', SUB, '--provider', provider)
    expected = plugin_link_claim() if keyed else (None if plugin_link_claim() is None else '')
    assert recorded_claim(UserSocialAuth.objects.get(uid=SUB)) == expected


@pytest.mark.parametrize(
    'old_id_key, settings_, vouched',
    [
        ('', {}, True),
        # A uid recorded under another claim is not a sub.
        ('preferred_username', {}, False),
        # With ID_KEY set, the backend cannot tell what an unkeyed uid holds.
        ('', {'SOCIAL_AUTH_AUTHENTIK_ID_KEY': 'sub'}, False),
        ('', {'SOCIAL_AUTH_AUTHENTIK_ALLOW_UNVERIFIED_LEGACY_UID_MIGRATION': False}, False),
        ('preferred_username', {'SOCIAL_AUTH_AUTHENTIK_ALLOW_UNVERIFIED_LEGACY_UID_MIGRATION': True}, True),
        # Not a bool: refused, never read as true (a string 'False' is truthy); check E017 names it.
        ('', {'SOCIAL_AUTH_AUTHENTIK_ALLOW_UNVERIFIED_LEGACY_UID_MIGRATION': 'False'}, False),
        ('', {'SOCIAL_AUTH_AUTHENTIK_ALLOW_UNVERIFIED_LEGACY_UID_MIGRATION': 1}, False),
    ],
)
def test_backend_vouches_only_for_unkeyed_links_as_sub_links(settings, old_id_key, settings_, vouched):
    for name, value in settings_.items():
        setattr(settings, name, value)
    backend = AuthentikOIDCAuth(load_strategy())
    assert backend.allow_unverified_legacy_uid_migration(old_id_key, 'sub') is vouched


def test_links_one_user_under_another_provider(alice):
    run('authentik_link', '--user', 'alice', '--uid', SUB, '--provider', 'oidc')
    assert links() == {('oidc', SUB, 'alice')}


def test_linking_the_same_identity_again_changes_nothing(alice):
    run('authentik_link', '--user', 'alice', '--uid', SUB)
    out, _err = run('authentik_link', '--user', 'alice', '--uid', SUB)
    assert 'was already linked' in out
    assert links() == {('authentik', SUB, 'alice')}


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (('--user', 'nobody', '--uid', SUB), "no NetBox user 'nobody'"),
        (('--user', 'alice', '--uid', 'x' * 256), 'uid is longer than 255 characters'),
        (('--user', 'alice', '--uid', '  '), 'uid is empty'),
        (('--user', 'alice', '--uid', SUB, '--provider', 'p' * 33), 'provider is longer than 32 characters'),
    ],
)
def test_one_user_errors_are_reported_and_nothing_is_written(alice, args, message):
    err = StringIO()
    with pytest.raises(CommandError, match='Nothing was linked'):
        call_command('authentik_link', *args, stdout=StringIO(), stderr=err)
    assert message in err.getvalue()
    assert not UserSocialAuth.objects.exists()


def test_refuses_an_identity_linked_to_someone_else(alice, bob):
    UserSocialAuth.objects.create(user=bob, provider='authentik', uid=SUB)
    err = StringIO()
    with pytest.raises(CommandError):
        call_command('authentik_link', '--user', 'alice', '--uid', SUB, stdout=StringIO(), stderr=err)
    assert f"authentik uid {SUB} is already linked to NetBox user 'bob'" in err.getvalue()
    assert links() == {('authentik', SUB, 'bob')}


@pytest.mark.parametrize(
    'args',
    [
        (),
        ('--user', 'alice'),
        ('--user', 'alice', '--uid', SUB, '--csv', 'x.csv'),
        ('--csv', 'x.csv', '--apply'),
        ('--match', 'username'),
    ],
)
def test_argument_mistakes_are_explained(args):
    with pytest.raises(CommandError):
        call_command('authentik_link', *args, stdout=StringIO(), stderr=StringIO())


def test_refuses_a_second_identity_unless_allowed(alice):
    UserSocialAuth.objects.create(user=alice, provider='authentik', uid='sub-first')
    err = StringIO()
    with pytest.raises(CommandError, match='Nothing was linked'):
        call_command('authentik_link', '--user', 'alice', '--uid', SUB, stdout=StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        "NetBox user 'alice' is already linked to authentik identity sub-first: a second identity would let two "
        'people sign in as this user; --allow-second-identity links it anyway'
    ]
    assert links() == {('authentik', 'sub-first', 'alice')}
    out, _err = run('authentik_link', '--user', 'alice', '--uid', SUB, '--allow-second-identity')
    assert "Note: 'alice' also keeps its link to authentik identity sub-first." in out
    assert links() == {('authentik', 'sub-first', 'alice'), ('authentik', SUB, 'alice')}


def test_csv_refuses_a_second_identity_unless_allowed(tmp_path, alice, bob):
    UserSocialAuth.objects.create(user=bob, provider='authentik', uid='sub-bob-old')
    path = csv_file(tmp_path, f'username,uid\nalice,{SUB}\nbob,sub-bob-new\n')
    err = StringIO()
    with pytest.raises(CommandError, match='1 bad row'):
        call_command('authentik_link', '--csv', path, stdout=StringIO(), stderr=err)
    assert "line 3: NetBox user 'bob' is already linked to authentik identity sub-bob-old" in err.getvalue()
    assert links() == {('authentik', 'sub-bob-old', 'bob')}
    run('authentik_link', '--csv', path, '--allow-second-identity')
    assert len(links()) == 3


def test_the_server_operator_may_link_a_superuser_by_name():
    User.objects.create_user('root', is_superuser=True)
    run('authentik_link', '--user', 'root', '--uid', SUB)
    assert links() == {('authentik', SUB, 'root')}


def test_match_never_proposes_a_superuser(tmp_path):
    User.objects.create_user('root', email='root@example.com', is_superuser=True)
    path = csv_file(tmp_path, 'uid,username,email\nsub-root,root,root@example.com\n', name='identities.csv')
    for mode, shown in (('username', 'root'), ('email', 'root@example.com')):
        out, _err = run('authentik_link', '--match', mode, '--identities', path, '--apply')
        assert f"line 2: skip {shown}: NetBox user 'root' is a superuser and is never linked automatically" in out
    assert not UserSocialAuth.objects.exists()


def test_allow_second_identity_does_not_go_with_match(tmp_path):
    path = csv_file(tmp_path, 'uid,username,email\n', name='identities.csv')
    with pytest.raises(CommandError, match='--allow-second-identity goes with --user or --csv'):
        run('authentik_link', '--match', 'username', '--identities', path, '--allow-second-identity')


# -- authentik_link --csv --------------------------------------------------------------------------


def test_csv_links_every_row(tmp_path, alice, bob):
    User.objects.create_user('carol')
    path = csv_file(tmp_path, f'username,uid,provider\nalice,{SUB},\nbob, sub-bob ,authentik\ncarol,sub-carol,oidc\n')
    out, _err = run('authentik_link', '--csv', path)
    assert links() == {('authentik', SUB, 'alice'), ('authentik', 'sub-bob', 'bob'), ('oidc', 'sub-carol', 'carol')}
    assert f'Linked 3 user(s) from {path}' in out
    assert recorded_claim(UserSocialAuth.objects.get(uid='sub-bob')) == plugin_link_claim()


def test_csv_with_bad_rows_writes_nothing_and_names_each_bad_line(tmp_path, alice, bob):
    dave = User.objects.create_user('dave')
    UserSocialAuth.objects.create(user=dave, provider='authentik', uid='sub-dave')
    User.objects.create_user('erin')
    User.objects.create_user('frank')
    path = csv_file(
        tmp_path,
        '\n'.join(
            [
                'username,uid',
                f'alice,{SUB}',  # 2: good
                'nobody,sub-nobody',  # 3: no such user
                'bob,',  # 4: empty uid
                f'erin,{SUB}',  # 5: same uid as line 2
                'frank,sub-dave',  # 6: linked to dave already
                'alice,sub-alice-2',  # 7: alice is on line 2 too
                f',{"x" * 256}',  # 8: no username, uid too long
            ]
        )
        + '\n',
    )
    err = StringIO()
    with pytest.raises(CommandError, match=r'6 bad row\(s\) in .*links.csv; nothing was linked'):
        call_command('authentik_link', '--csv', path, stdout=StringIO(), stderr=err)
    report = err.getvalue().splitlines()
    assert report == [
        "line 3: no NetBox user 'nobody'",
        'line 4: uid is empty',
        f'line 5: authentik uid {SUB} is also on line 2',
        "line 6: authentik uid sub-dave is already linked to NetBox user 'dave'",
        "line 7: NetBox user 'alice' is also on line 2",
        'line 8: username is empty; uid is longer than 255 characters',
    ]
    assert links() == {('authentik', 'sub-dave', 'dave')}


def test_csv_without_the_header_row_is_refused(tmp_path, alice):
    path = csv_file(tmp_path, f'alice,{SUB}\n')
    with pytest.raises(CommandError, match='header naming the columns username,uid,\\[provider\\]'):
        run('authentik_link', '--csv', path)
    assert not UserSocialAuth.objects.exists()


def test_missing_csv_file_is_reported(tmp_path):
    with pytest.raises(CommandError, match='No such file or directory'):
        run('authentik_link', '--csv', str(tmp_path / 'missing.csv'))


# -- authentik_link --match --identities ----------------------------------------------------------


def test_match_by_username_prints_a_plan_and_writes_nothing_without_apply(tmp_path, alice, bob):
    carol = User.objects.create_user('carol')
    UserSocialAuth.objects.create(user=carol, provider='authentik', uid='sub-carol-old')
    path = csv_file(
        tmp_path,
        '\n'.join(
            [
                'uid,username,email',
                'sub-alice,alice,alice@example.com',
                'sub-bob,Bob,bob@example.com',
                'sub-carol,carol,carol@example.com',
                'sub-nobody,nobody,',
            ]
        )
        + '\n',
        name='identities.csv',
    )
    out, _err = run('authentik_link', '--match', 'username', '--identities', path)
    assert out.splitlines() == [
        "line 2: link NetBox user 'alice' to authentik identity sub-alice (same username)",
        "line 3: skip Bob: NetBox user 'bob' differs from 'Bob' in case only",
        "line 4: skip carol: NetBox user 'carol' is already linked to another authentik identity",
        'line 5: skip nobody: no NetBox user with this username',
        '1 link(s) proposed; 3 skipped.',
        'Dry run: nothing was written. Run again with --apply to link.',
    ]
    assert links() == {('authentik', 'sub-carol-old', 'carol')}

    out, _err = run('authentik_link', '--match', 'username', '--identities', path, '--apply')
    assert 'Linked 1 user(s).' in out
    assert links() == {('authentik', 'sub-carol-old', 'carol'), ('authentik', 'sub-alice', 'alice')}
    assert recorded_claim(UserSocialAuth.objects.get(uid='sub-alice')) == plugin_link_claim()


def test_match_by_email_ignores_case_and_refuses_ambiguity(tmp_path, alice, bob):
    User.objects.create_user('bob2', email='BOB@example.com')
    User.objects.create_user('dave', email='dave@example.com')
    erin = User.objects.create_user('erin', email='erin@example.com')
    UserSocialAuth.objects.create(user=erin, provider='authentik', uid='sub-erin')
    path = csv_file(
        tmp_path,
        '\n'.join(
            [
                'uid,username,email',
                'sub-alice,someone,ALICE@example.com',
                'sub-bob,bob,bob@example.com',
                'sub-dave-1,dave,dave@example.com',
                'sub-dave-2,dave.two,Dave@Example.com',
                'sub-erin,erin,erin@example.com',
            ]
        )
        + '\n',
        name='identities.csv',
    )
    out, _err = run('authentik_link', '--match', 'email', '--identities', path, '--apply')
    assert out.splitlines()[:5] == [
        "line 2: link NetBox user 'alice' to authentik identity sub-alice (same email)",
        'line 3: skip bob@example.com: more than one NetBox user has this email address',
        "line 4: skip dave@example.com: NetBox user 'dave' also matches line(s) 5",
        "line 5: skip Dave@Example.com: NetBox user 'dave' also matches line(s) 4",
        "line 6: skip erin@example.com: already linked to NetBox user 'erin'",
    ]
    assert links() == {('authentik', 'sub-erin', 'erin'), ('authentik', 'sub-alice', 'alice')}


def test_identities_file_with_bad_rows_is_refused(tmp_path, alice):
    path = csv_file(tmp_path, 'uid,username,email\nsub-a,alice,\n,bob,\nsub-a,carol,\n', name='identities.csv')
    err = StringIO()
    with pytest.raises(CommandError, match='2 bad row'):
        call_command(
            'authentik_link', '--match', 'username', '--identities', path, '--apply', stdout=StringIO(), stderr=err
        )
    assert err.getvalue().splitlines() == ['line 3: uid is empty', 'line 4: uid sub-a is also on line 2']
    assert not UserSocialAuth.objects.exists()


# -- authentik_migrate_oidc ----------------------------------------------------------------------


@pytest.fixture
def oidc_links(alice, bob):
    """Two links of the generic backend; bob's uid is also linked under 'authentik' already."""
    carol = User.objects.create_user('carol')
    UserSocialAuth.objects.create(
        user=alice, provider='oidc', uid='sub-alice', extra_data={'auth_time': 1735787045, 'id_token': 'kept'}
    )
    UserSocialAuth.objects.create(user=bob, provider='oidc', uid='sub-bob')
    UserSocialAuth.objects.create(user=carol, provider='authentik', uid='sub-bob')


def test_migrate_dry_run_reports_counts_and_conflicts_and_changes_nothing(oidc_links):
    before = links()
    out, _err = run('authentik_migrate_oidc')
    assert (
        "Conflict: uid sub-bob ('oidc' link of NetBox user 'bob') is already linked under 'authentik' to "
        "NetBox user 'carol'; skipped, both links left as they are."
    ) in out
    assert "1 link(s) to move from 'oidc' to 'authentik'; 1 conflict(s) skipped." in out
    assert 'Dry run' in out
    assert links() == before


def test_migrate_apply_moves_links_keeping_uid_user_and_extra_data(oidc_links):
    alice_link = UserSocialAuth.objects.get(provider='oidc', uid='sub-alice')
    out, _err = run('authentik_migrate_oidc', '--apply')
    assert "1 link(s) moved from 'oidc' to 'authentik'; 1 conflict(s) skipped." in out
    moved = UserSocialAuth.objects.get(pk=alice_link.pk)
    assert (moved.provider, moved.uid, moved.user.username) == ('authentik', 'sub-alice', 'alice')
    assert moved.extra_data == {'auth_time': 1735787045, 'id_token': 'kept'}
    assert moved.modified == alice_link.modified
    assert links() == {
        ('authentik', 'sub-alice', 'alice'),
        ('oidc', 'sub-bob', 'bob'),
        ('authentik', 'sub-bob', 'carol'),
    }


def test_migrate_with_nothing_to_move(alice):
    out, _err = run('authentik_migrate_oidc', '--apply')
    assert "0 link(s) moved from 'oidc' to 'authentik'; 0 conflict(s) skipped." in out


def test_migrate_skips_a_user_already_linked_under_authentik_to_another_identity(alice):
    UserSocialAuth.objects.create(user=alice, provider='oidc', uid='sub-alice-old')
    UserSocialAuth.objects.create(user=alice, provider='authentik', uid='sub-alice-new')
    out, _err = run('authentik_migrate_oidc', '--apply')
    assert (
        "Conflict: NetBox user 'alice' is already linked under 'authentik' to identity sub-alice-new; moving "
        "its 'oidc' link (uid sub-alice-old) would give it two; skipped, both links left as they are."
    ) in out
    assert links() == {('oidc', 'sub-alice-old', 'alice'), ('authentik', 'sub-alice-new', 'alice')}
