"""`netbox authentik_migrate_oidc`: move the generic OIDC backend's links to the authentik backend."""

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from social_django.models import UserSocialAuth

from netbox_authentik.links import linking

GENERIC_PROVIDER = 'oidc'


class Command(BaseCommand):
    help = (
        "Move the links of NetBox's generic OpenID Connect backend (provider 'oidc') to this plugin's "
        f"'{linking.PROVIDER}' backend, keeping uid, user and extra_data, so that people keep their NetBox "
        'account when the backend changes. A dry run that prints the counts, unless --apply; --apply moves '
        "them in one transaction. A uid already linked under 'authentik', or a user already linked under "
        "'authentik' to another identity, is a conflict: that link is reported and left as it is."
    )

    def add_arguments(self, parser):
        parser.add_argument('--apply', action='store_true', help='Move the links (default: only report).')
        parser.add_argument(
            '--from-provider',
            default=GENERIC_PROVIDER,
            metavar='NAME',
            help=f"The provider name to move links from (default: '{GENERIC_PROVIDER}').",
        )

    def handle(self, *args, apply=False, from_provider=GENERIC_PROVIDER, **options):
        target = linking.PROVIDER
        if from_provider == target:
            raise CommandError(f"--from-provider must differ from '{target}'.")
        try:
            with transaction.atomic():
                moves, conflicts = self.plan(from_provider, target)
                for link, taken in conflicts:
                    if taken.uid == link.uid:
                        same = 'the same user' if taken.user_id == link.user_id else f"NetBox user '{taken.user}'"
                        reason = (
                            f"uid {link.uid} ('{from_provider}' link of NetBox user '{link.user}') is already "
                            f"linked under '{target}' to {same}"
                        )
                    else:
                        reason = (
                            f"NetBox user '{link.user}' is already linked under '{target}' to identity "
                            f"{taken.uid}; moving its '{from_provider}' link (uid {link.uid}) would give it two"
                        )
                    self.stdout.write(self.style.WARNING(f'Conflict: {reason}; skipped, both links left as they are.'))
                if options['verbosity'] >= 2:
                    for link in moves:
                        self.stdout.write(f"Move: uid {link.uid} of NetBox user '{link.user}'.")
                if apply and moves:
                    # update() keeps uid, user, extra_data and even `modified` as they are.
                    UserSocialAuth.objects.filter(pk__in=[link.pk for link in moves]).update(provider=target)
        except IntegrityError as error:
            raise CommandError(
                f"A uid was linked under '{target}' meanwhile; nothing was moved. Run the command again."
            ) from error
        summary = (
            f"{len(moves)} link(s) {'moved' if apply else 'to move'} from '{from_provider}' to '{target}'; "
            f'{len(conflicts)} conflict(s) skipped.'
        )
        if apply:
            self.stdout.write(self.style.SUCCESS(summary))
        else:
            self.stdout.write(summary)
            self.stdout.write(self.style.WARNING('Dry run: nothing was changed. Run again with --apply to move them.'))

    def plan(self, source, target):
        """Return (links to move, [(link, the target link holding its uid)]); locks the source links."""
        links = list(
            UserSocialAuth.objects.select_related('user')
            .select_for_update(of=('self',))
            .filter(provider=source)
            .order_by('pk')
        )
        taken = {
            link.uid: link
            for link in UserSocialAuth.objects.select_related('user').filter(
                provider=target, uid__in=[link.uid for link in links]
            )
        }
        # A user with an identity under the target already would end up with two: one person each.
        linked_users = {
            link.user_id: link
            for link in UserSocialAuth.objects.filter(
                provider=target, user__in={link.user_id for link in links}
            ).order_by('-pk')
        }
        moves, conflicts = [], []
        for link in links:
            blocker = taken.get(link.uid) or linked_users.get(link.user_id)
            if blocker is None:
                moves.append(link)
            else:
                conflicts.append((link, blocker))
        return moves, conflicts
