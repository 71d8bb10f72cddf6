"""The live checks of `netbox authentik_check`, as data: a list of findings a command or a page can show."""

from .. import mapping_rules
from .authentik import authentik_findings
from .cache import metadata_cache_findings
from .findings import FetchError, Finding, error, ok, warning
from .local import configuration_findings, netbox_groups_finding, netbox_origin, registration_findings
from .provisioning import provisioning_findings

__all__ = ('FetchError', 'Finding', 'error', 'ok', 'run', 'warning')


def run(base_url=None, http=False, refresh=False):
    """Run every diagnostic in order; raises ValueError for an unusable base_url."""
    findings = configuration_findings()
    findings += registration_findings(*netbox_origin(base_url, http))
    findings += authentik_findings()
    findings += metadata_cache_findings(refresh)
    findings.append(netbox_groups_finding())
    findings += [Finding(*finding) for finding in mapping_rules.rule_findings()]
    findings += provisioning_findings()
    return findings
