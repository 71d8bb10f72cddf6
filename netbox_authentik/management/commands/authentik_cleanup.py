"""`netbox authentik_cleanup`: delete sign-in nonces no sign-in can use any more, and expired exchanged API tokens."""

from django.core.management.base import BaseCommand

from netbox_authentik import nonces
from netbox_authentik.exchange import issue


class Command(BaseCommand):
    help = (
        'Delete expired OpenID Connect sign-in nonces (social_django Association rows): those of sign-ins started '
        f'more than {nonces.NONCE_LIFETIME} s ago that never came back, and those written before netbox-authentik '
        "kept their time; with social-core 7 also those sign-ins' one-use states (social_django Nonce rows). "
        'Every new sign-in already deletes them; run this from cron after a quiet period, or '
        "once after upgrading. Expired sessions are cleared by NetBox's own housekeeping job. Also deletes the "
        'NetBox API tokens issued in exchange for Authentik tokens once expired, and their replay records once '
        'the Authentik token has expired too.'
    )

    def add_arguments(self, parser):
        parser.add_argument('--dry-run', action='store_true', help='Only count what would be deleted.')

    def handle(self, *args, dry_run=False, **options):
        rows, states = nonces.expired(), nonces.expired_states()
        tokens = issue.expired_tokens()
        if dry_run:
            self.stdout.write(f'{rows.count()} expired sign-in nonce(s) would be deleted.')
            if count := states.count():
                self.stdout.write(f'{count} expired sign-in state(s) would be deleted.')
            if count := tokens.count():
                self.stdout.write(f'{count} expired exchanged API token(s) would be deleted.')
            return
        deleted, _by_model = rows.delete()
        self.stdout.write(f'Deleted {deleted} expired sign-in nonce(s).')
        deleted, _by_model = states.delete()
        if deleted:
            self.stdout.write(f'Deleted {deleted} expired sign-in state(s).')
        deleted = tokens.count()
        if deleted:
            tokens.delete()
            self.stdout.write(f'Deleted {deleted} expired exchanged API token(s).')
        issue.expired_exchanges().delete()
