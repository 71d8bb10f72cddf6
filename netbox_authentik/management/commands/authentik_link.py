"""`netbox authentik_link`: link existing NetBox users to Authentik identities, one by one or from a CSV file."""

import csv

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from social_django.models import UserSocialAuth

from netbox_authentik.links import linking
from netbox_authentik.links import plans as link_plans

MATCH_MODES = {'username': 'username', 'email': 'email'}


class Command(BaseCommand):
    help = (
        'Link existing NetBox users to Authentik identities (their `sub`). One user: --user USERNAME --uid SUB. '
        'Many: --csv FILE with the columns username,uid[,provider]; every row is checked first and nothing is '
        'written if any row is bad. Propose links: --match username|email --identities FILE, a CSV of Authentik '
        'identities (uid,username,email); prints the plan, and links only with --apply. A user already linked to an '
        'identity of the provider gets no second one unless --allow-second-identity. The command acts as the server '
        'operator: it may link superusers named with --user or in --csv; --match never proposes a superuser.'
    )

    def add_arguments(self, parser):
        parser.add_argument('--user', metavar='USERNAME', help='The NetBox user to link (with --uid).')
        parser.add_argument('--uid', metavar='SUB', help="The Authentik identity's sub claim (with --user).")
        parser.add_argument(
            '--provider',
            default=linking.PROVIDER,
            help=f'The backend name the link is for (default: {linking.PROVIDER}).',
        )
        parser.add_argument(
            '--csv',
            metavar='FILE',
            dest='csv_file',
            help='Link the users in FILE: a header row, then username,uid[,provider] rows.',
        )
        parser.add_argument(
            '--match',
            choices=sorted(MATCH_MODES),
            help='Propose links for existing users whose username (exactly) or email address '
            '(ignoring case) matches an identity in --identities.',
        )
        parser.add_argument(
            '--identities',
            metavar='FILE',
            help='With --match: a CSV of Authentik identities with the columns uid,username,email.',
        )
        parser.add_argument('--apply', action='store_true', help='With --match: write the proposed links.')
        parser.add_argument(
            '--allow-second-identity',
            action='store_true',
            help='With --user or --csv: link users already linked to another identity of the '
            'provider (two people could then sign in as that user).',
        )

    def handle(
        self,
        *args,
        user=None,
        uid=None,
        provider=None,
        csv_file=None,
        match=None,
        identities=None,
        apply=False,
        allow_second_identity=False,
        **options,
    ):
        modes = [
            name
            for name, chosen in (('--user/--uid', user or uid), ('--csv', csv_file), ('--match', match or identities))
            if chosen
        ]
        if len(modes) != 1:
            raise CommandError('Give exactly one of --user with --uid, --csv FILE, or --match with --identities FILE.')
        if apply and not match:
            raise CommandError('--apply goes with --match.')
        if allow_second_identity and modes[0] == '--match':
            raise CommandError('--allow-second-identity goes with --user or --csv.')
        if modes[0] == '--user/--uid':
            if not (user and uid):
                raise CommandError('--user and --uid go together.')
            row = link_plans.Row(0, {'username': user, 'uid': uid, 'provider': provider})
            self.link_rows([row], provider, source=None, allow_second_identity=allow_second_identity)
        elif csv_file:
            self.link_rows(
                read_csv(csv_file, required=('username', 'uid')),
                provider,
                source=csv_file,
                allow_second_identity=allow_second_identity,
            )
        else:
            if not (match and identities):
                raise CommandError('--match and --identities go together.')
            self.match_identities(
                read_csv(identities, required=('uid',), optional=('username', 'email')),
                MATCH_MODES[match],
                provider,
                apply,
                source=identities,
            )

    # -- --user/--uid and --csv ---------------------------------------------------------------------

    def link_rows(self, rows, default_provider, source, allow_second_identity=False):
        """Check every row, then link them all in one transaction, or none."""
        new_links, unchanged = link_plans.plan_links(rows, default_provider, allow_second_identity)
        stop_on_problems(self.stderr, rows, source, 'linked')
        create_links(new_links)
        for link in new_links:
            self.stdout.write(f"Linked NetBox user '{link.user}' to {link.provider} identity {link.uid}.")
            for other in UserSocialAuth.objects.filter(user=link.user, provider=link.provider).exclude(pk=link.pk):
                self.stdout.write(
                    f"  Note: '{link.user}' also keeps its link to {other.provider} identity {other.uid}."
                )
        for link in unchanged:
            self.stdout.write(f"NetBox user '{link.user}' was already linked to {link.provider} identity {link.uid}.")
        if source:
            self.stdout.write(
                self.style.SUCCESS(f'Linked {len(new_links)} user(s) from {source}; {len(unchanged)} already linked.')
            )

    # -- --match --identities -----------------------------------------------------------------------

    def match_identities(self, rows, mode, provider, apply, source):
        """Plan one link per identity that matches exactly one unlinked NetBox user; write it with --apply."""
        link_plans.check_identity_rows(rows, provider)
        stop_on_problems(self.stderr, rows, source, 'planned')
        to_link = []
        for proposal in link_plans.plan_matches(rows, mode, provider):
            row, user = proposal.row, proposal.user
            if user is not None:
                to_link.append(
                    UserSocialAuth(user=user, provider=provider, uid=row.get('uid'), **linking.link_key(provider))
                )
                self.stdout.write(
                    f"line {row.line}: link NetBox user '{user}' to {provider} identity {row.get('uid')} (same {mode})"
                )
            else:
                self.stdout.write(f'line {row.line}: skip {row.get(mode) or row.get("uid")}: {proposal.reason}')
        skipped = len(rows) - len(to_link)
        self.stdout.write(f'{len(to_link)} link(s) proposed; {skipped} skipped.')
        if not apply:
            self.stdout.write(self.style.WARNING('Dry run: nothing was written. Run again with --apply to link.'))
            return
        create_links(to_link)
        self.stdout.write(self.style.SUCCESS(f'Linked {len(to_link)} user(s).'))

    # -- shared ---------------------------------------------------------------------------------------


def stop_on_problems(stderr, rows, source, verb):
    """Report every bad row by line number; then stop, having written nothing."""
    bad = [row for row in rows if row.problems]
    if not bad:
        return
    for row in bad:
        where = f'line {row.line}: ' if source else ''
        stderr.write(where + '; '.join(row.problems))
    if source:
        raise CommandError(f'{len(bad)} bad row(s) in {source}; nothing was {verb}.')
    raise CommandError(f'Nothing was {verb}.')


def create_links(links):
    """Save the links in one transaction, or none of them."""
    try:
        with transaction.atomic():
            for link in links:
                link.save()
    except IntegrityError as error:
        # Someone linked one of these identities meanwhile; the transaction wrote nothing.
        raise CommandError('An identity was linked by someone else meanwhile; nothing was written.') from error


def read_csv(path, required, optional=('provider',)):
    """Return the rows of a CSV file with a header row, numbered by their line in the file."""
    try:
        with open(path, newline='', encoding='utf-8-sig') as csv_file:
            reader = csv.DictReader(csv_file)
            header = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in required if name not in header]
            if missing:
                expected = ','.join([*required, *(f'[{name}]' for name in optional)])
                raise CommandError(
                    f'{path}: the first line must be a header naming the columns {expected}; '
                    f"'{','.join(missing)}' is missing."
                )
            reader.fieldnames = header
            rows = []
            for values in reader:
                rows.append(link_plans.Row(reader.line_num, values))
    except OSError as error:
        raise CommandError(f'{path}: {error.strerror}') from error
    except (UnicodeDecodeError, csv.Error) as error:
        raise CommandError(f'{path}: not a UTF-8 CSV file ({error})') from error
    return rows
