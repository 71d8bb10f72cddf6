"""`netbox authentik_check`: check the configuration against the live Authentik, one line per check.

The checks themselves are in netbox_authentik/diagnostics/; this command parses arguments and prints.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from netbox_authentik import diagnostics

SYMBOLS = {'ok': '✓', 'error': '✗', 'warning': '!', 'info': '→'}


class Command(BaseCommand):
    help = (
        "Check NetBox's Authentik configuration against the live Authentik: discovery, issuer, signing keys, "
        'scopes, claims, logout and clock; print the URIs to register in Authentik. Prints one line per check '
        "(✓ passed, ! warning, ✗ failed, → to do) and exits 1 when a check failed. NetBox's address for the "
        'URIs comes from --base-url, else from the first CSRF_TRUSTED_ORIGINS entry, else from the first host '
        'name in ALLOWED_HOSTS (not *, .domain or, while another is listed, a loopback address) with https, or '
        'http with --http. It also compares the discovery document and JWKS NetBox has cached '
        'with what Authentik serves now; --refresh replaces the cached copies.'
    )
    # The command reports configuration errors itself; Django's checks would stop it before it says more.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            '--base-url',
            metavar='URL',
            help="NetBox's address as people's browsers reach it, e.g. https://netbox.example.com "
            '(scheme and host; BASE_PATH is added from configuration.py).',
        )
        parser.add_argument(
            '--http',
            action='store_true',
            help='With the address taken from ALLOWED_HOSTS: NetBox is served over plain http.',
        )
        parser.add_argument(
            '--json',
            action='store_true',
            dest='as_json',
            help='Print a JSON list of {check, status, message, hint} instead of lines.',
        )
        parser.add_argument(
            '--refresh',
            action='store_true',
            help="Drop NetBox's cached Authentik discovery document and JWKS (shared by all workers) "
            'and cache what Authentik serves now, e.g. right after changing its signing key.',
        )

    def handle(self, *args, base_url=None, http=False, as_json=False, refresh=False, **options):
        try:
            findings = diagnostics.run(base_url, http, refresh)
        except ValueError as problem:
            raise CommandError(str(problem)) from problem
        if as_json:
            self.stdout.write(json.dumps([finding._asdict() for finding in findings], indent=2, ensure_ascii=False))
        else:
            for finding in findings:
                self.stdout.write(self.render(finding))
        failed = sum(finding.status == 'error' for finding in findings)
        warned = sum(finding.status == 'warning' for finding in findings)
        if failed:
            raise CommandError(f'{failed} check(s) failed, {warned} warning(s).', returncode=1)
        if not as_json:
            self.stdout.write(f'All checks passed, {warned} warning(s).')

    def render(self, finding):
        line = f'{SYMBOLS[finding.status]} {finding.check}: {finding.message}'
        if finding.hint:
            line += f' — {finding.hint}'
        if not self.stdout.isatty():
            return line
        style = {'ok': self.style.SUCCESS, 'error': self.style.ERROR, 'warning': self.style.WARNING}
        return style.get(finding.status, str)(line)
