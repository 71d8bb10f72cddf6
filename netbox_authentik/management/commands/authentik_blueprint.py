"""`netbox authentik_blueprint`: print the Authentik blueprint for this NetBox.

The blueprint itself is written by netbox_authentik/blueprint/; this command parses arguments and prints.
"""

from django.core.management.base import BaseCommand, CommandError

from netbox_authentik.blueprint.build import BlueprintError, Options, blueprint_text
from netbox_authentik.blueprint.entries import SIGNING_CHOICES
from netbox_authentik.diagnostics.local import netbox_origin


class Command(BaseCommand):
    help = (
        'Print an Authentik blueprint that creates or updates the OAuth2/OpenID provider and the application '
        'NetBox signs in through (and with --scim the SCIM provider, with --groups the groups the mapping rules '
        "name, with --restrict a binding that lets only those groups in). Apply it in Authentik's "
        'Customization > Blueprints or with `ak apply_blueprint`. The client secret is left out unless '
        '--include-secrets is given.'
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            '--url',
            metavar='URL',
            help="NetBox's address as people's browsers reach it, e.g. https://netbox.example.com (BASE_PATH is "
            'added from configuration.py; giving it here too is fine). Default: https:// + ALLOWED_HOSTS[0].',
        )
        parser.add_argument('--http', action='store_true', help='Without --url: NetBox is served over plain http.')
        parser.add_argument(
            '--signing',
            choices=SIGNING_CHOICES,
            default='rs256',
            help="rs256 (default): Authentik's self-signed certificate or --signing-key; es256: the ECDSA key pair "
            'named by --signing-key; hs256: no key, id_tokens signed with the client secret.',
        )
        parser.add_argument('--signing-key', metavar='NAME', help='The name of the key pair in Authentik.')
        parser.add_argument(
            '--invalidation-flow',
            metavar='SLUG',
            help='The flow Authentik runs at logout. Default: default-invalidation-flow (ends the Authentik '
            'session) while logout_at_authentik is on, else default-provider-invalidation-flow.',
        )
        parser.add_argument('--name', default='NetBox', help="The application's name in Authentik (default NetBox).")
        parser.add_argument('--icon', metavar='URL', help="The application's icon in Authentik (optional).")
        parser.add_argument('--scim', action='store_true', help='Add the SCIM provider (token from NETBOX_SCIM_TOKEN).')
        parser.add_argument('--groups', action='store_true', help='Add the Authentik groups the mapping rules name.')
        parser.add_argument(
            '--restrict',
            action='store_true',
            help='Only members of required_groups (or, without it, of the mapped groups) may open the application.',
        )
        parser.add_argument(
            '--include-secrets',
            action='store_true',
            help="Write NetBox's client secret into the file, so that Authentik uses it: protect the file.",
        )

    def handle(self, *args, **options):
        try:
            origin = netbox_origin(options['url'], options['http'])
        except ValueError as problem:
            raise CommandError(
                f'--url {options["url"]!r}: give the scheme and host, with BASE_PATH or without, '
                'e.g. https://netbox.example.com.'
            ) from problem
        if origin is None:
            raise CommandError(
                "NetBox's address is unknown: ALLOWED_HOSTS[0] is not a host name. "
                'Pass --url https://netbox.example.com.'
            )
        chosen = Options(
            name=options['name'],
            signing=options['signing'],
            signing_key=options['signing_key'],
            invalidation_flow=options['invalidation_flow'],
            scim=options['scim'],
            groups=options['groups'],
            restrict=options['restrict'],
            include_secrets=options['include_secrets'],
            icon=options['icon'],
        )
        try:
            self.stdout.write(blueprint_text(origin, chosen), ending='')
        except BlueprintError as problem:
            raise CommandError(str(problem)) from problem
