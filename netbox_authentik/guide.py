"""Where the plugin's guide lives, for the Help buttons of NetBox's edit pages."""

# The guide's pages as GitHub shows them: docs/ in the repository, plain Markdown (MkDocs builds the same
# pages into a site). Anchors are GitHub's, which the MkDocs build uses too (mkdocs.yml).
DOCS_URL = 'https://github.com/netbox-authentik/netbox-authentik/blob/main/docs/'


def docs_url(page, anchor=''):
    """The address of docs/<page>, at the heading `anchor` when one is given."""
    return f'{DOCS_URL}{page}#{anchor}' if anchor else f'{DOCS_URL}{page}'


GROUP_MAPPING_PAGE = docs_url('groups.md', 'group-mapping-rules-in-netbox')
IDENTITY_LINK_PAGE = docs_url('links.md', 'linking-users-and-authentik-identities')
