"""Configuration problems: the system checks, logging them once per server process, and the live checks `netbox
authentik_check` runs, as data.

May use only the layers below it (tests/tools/layout.py): settings, logsafe, guide, signin/, links/, groups/,
exchange/, sessions/, access, pipeline, scim/.
"""

from ..groups import rules as mapping_rules
from .authentik import authentik_findings
from .cache import metadata_cache_findings
from .findings import FetchError, Finding, error, ok, warning
from .local import configuration_findings, netbox_groups_finding, netbox_origin, registration_findings

__all__ = ('FetchError', 'Finding', 'error', 'ok', 'run', 'warning')


def run(base_url=None, http=False, refresh=False):
    """Run every diagnostic in order; raises ValueError for an unusable base_url."""
    # Imported here: it reads the plugin's models, and the backend imports this folder (for the start-up
    # checks) even where the plugin is missing from PLUGINS, which must end in a message, not an import error.
    from .provisioning import provisioning_findings

    findings = configuration_findings()
    findings += registration_findings(*netbox_origin(base_url, http))
    findings += authentik_findings()
    findings += metadata_cache_findings(refresh)
    findings.append(netbox_groups_finding())
    findings += [Finding(*finding) for finding in mapping_rules.rule_findings()]
    findings += provisioning_findings()
    return findings
