"""`netbox authentik_resync`: re-apply the effective group mapping rules now, from each user's last-seen groups.

The work is in netbox_authentik/resync.py; this command parses arguments and prints.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from netbox_authentik import resync

ACTOR_NAME = 'netbox authentik_resync'


class Command(BaseCommand):
    help = (
        'Re-apply the effective group mapping rules (configuration.py and NetBox) to every NetBox user linked to '
        'Authentik, from the Authentik groups recorded at their last sign-in or SCIM push, as their next sign-in '
        "would. Changes go to NetBox's change log. Users with no groups recorded yet are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument('--dry-run', action='store_true', help='Print what would change; change nothing.')
        parser.add_argument('--user', metavar='USERNAME', help='Only this NetBox user.')

    def handle(self, *args, dry_run=False, user=None, **options):
        if user is not None and not get_user_model().objects.filter(username=user).exists():
            raise CommandError(f"No NetBox user '{user}'.")
        summary = resync.resync(dry_run=dry_run, username=user, actor_name=ACTOR_NAME)
        for outcome in summary.changed:
            self.stdout.write(outcome.describe())
        for username in summary.no_groups_recorded:
            self.stdout.write(f'{username}: skipped, no Authentik groups recorded yet (at the next sign-in)')
        self.stdout.write(('Dry run: ' if dry_run else '') + summary.describe())
