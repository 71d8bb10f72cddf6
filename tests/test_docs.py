"""The guide holds together: links between the README and docs/ resolve (anchors included), every page is in the
site's navigation, `mkdocs build --strict` passes, and NetBox's Help buttons open pages that exist.

The code blocks of the README and of every page are checked by tests/test_readme.py.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from netbox_authentik import guide
from netbox_authentik.models import GroupMapping

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / 'docs'
PAGES = sorted(DOCS.glob('*.md'))
DOCUMENTS = [REPO / 'README.md', REPO / 'CONTRIBUTING.md', *PAGES]
# PyPI's project page: pyproject.toml's readme, shown on the package index, not a page of the site.
NOT_IN_SITE = {'pypi.md'}

FENCED_BLOCK = re.compile(r'^```.*?^```', re.S | re.M)
INLINE_CODE = re.compile(r'`[^`\n]*`')
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
HEADING = re.compile(r'^(#{1,6}) +(.+?) *#*$', re.M)


def github_anchor(heading):
    """The anchor GitHub (and mkdocs.yml's slugify) gives a heading: lower case, punctuation dropped, '-' for spaces."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading)  # a link's text only
    text = text.replace('`', '').replace('*', '').lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(path):
    """Every anchor of a Markdown file, a repeated heading numbered as GitHub does (-1, -2, ...)."""
    found = set()
    for match in HEADING.finditer(FENCED_BLOCK.sub('', path.read_text())):
        anchor = github_anchor(match.group(2))
        number, unique = 0, anchor
        while unique in found:
            number += 1
            unique = f'{anchor}-{number}'
        found.add(unique)
    return found


def broken_links(document):
    """The relative links of `document` whose file or anchor does not exist, as (target, reason)."""
    text = INLINE_CODE.sub('', FENCED_BLOCK.sub('', document.read_text()))
    broken = []
    for target in LINK.findall(text):
        if re.match(r'^[a-z][a-z0-9+.-]*:', target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition('#')
        linked = (document.parent / unquote(path_part)).resolve() if path_part else document
        if not linked.exists():
            broken.append((target, 'no such file'))
        elif anchor and (linked.suffix != '.md' or anchor not in anchors(linked)):
            broken.append((target, f'no heading with the anchor #{anchor} in {linked.name}'))
    return broken


@pytest.mark.parametrize('document', DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_relative_link_resolves_with_its_anchor(document):
    assert broken_links(document) == []


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / 'other.md').write_text('# Other\n\n## Who may write rules\n\n## Who may write rules\n')
    page = tmp_path / 'page.md'
    page.write_text(
        '# Page\n\n## Settings\n\n'
        '[ok](#settings) [ok](other.md#who-may-write-rules) [ok](other.md#who-may-write-rules-1) '
        '[gone](missing.md) [typo](other.md#who-may-write-rule) [here](#setting) `[code](nowhere.md)`\n'
        '```sh\n[in a block](nowhere.md)\n```\n'
    )
    assert broken_links(page) == [
        ('missing.md', 'no such file'),
        ('other.md#who-may-write-rule', 'no heading with the anchor #who-may-write-rule in other.md'),
        ('#setting', 'no heading with the anchor #setting in page.md'),
    ]


def test_anchors_are_githubs():
    assert github_anchor("Changes to users in NetBox's change log") == 'changes-to-users-in-netboxs-change-log'
    assert github_anchor('`netbox authentik_check`') == 'netbox-authentik_check'
    assert github_anchor('The classic /opt/netbox layout') == 'the-classic-optnetbox-layout'
    assert github_anchor('Try it and test it: two commands') == 'try-it-and-test-it-two-commands'


def test_the_readme_links_every_page_of_the_guide():
    readme = REPO / 'README.md'
    linked = {(readme.parent / target.partition('#')[0]).resolve() for target in LINK.findall(readme.read_text())}
    assert {page.resolve() for page in PAGES if page.name not in NOT_IN_SITE} <= linked


def site_configuration():
    # mkdocs.yml names a Python function for the slugs (a !!python tag); only its nav and exclusions are read here.
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor('tag:yaml.org,2002:python/', lambda loader, suffix, node: None)
    return yaml.load((REPO / 'mkdocs.yml').read_text(), Loader=Loader)  # noqa: S506 (SafeLoader subclass)


def test_every_page_is_in_the_site_navigation_once():
    configuration = site_configuration()
    in_nav = [page for entry in configuration['nav'] for page in entry.values()]
    assert sorted(in_nav) == sorted(page.name for page in PAGES if page.name not in NOT_IN_SITE)
    assert configuration['exclude_docs'].split() == sorted(NOT_IN_SITE)


@pytest.mark.skipif(
    importlib.util.find_spec('material') is None,
    reason="MkDocs with the Material theme is not installed (pip install -e '.[docs]'; NetBox 4.7 brings it)",
)
def test_mkdocs_builds_the_site_strictly(tmp_path):
    done = subprocess.run(
        [sys.executable, '-m', 'mkdocs', 'build', '--strict', '--site-dir', str(tmp_path / 'site')],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, 'NO_MKDOCS_2_WARNING': 'true'},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'WARNING' not in done.stderr, done.stderr
    assert (tmp_path / 'site' / 'groups' / 'index.html').is_file()
    assert not (tmp_path / 'site' / 'pypi').exists()


def local_page(url):
    """docs/<page> and the anchor that a guide URL points at."""
    assert url.startswith(guide.DOCS_URL), url
    page, _, anchor = url.removeprefix(guide.DOCS_URL).partition('#')
    return DOCS / page, anchor


@pytest.mark.parametrize('url', [guide.GROUP_MAPPING_PAGE, guide.IDENTITY_LINK_PAGE, GroupMapping().docs_url])
def test_help_buttons_open_a_page_and_heading_of_the_guide(url):
    page, anchor = local_page(url)
    assert page.is_file(), page
    assert anchor in anchors(page), (anchor, sorted(anchors(page)))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ('edit_page', 'url'),
    [
        ('/plugins/authentik/group-mappings/add/', guide.GROUP_MAPPING_PAGE),
        ('/plugins/authentik/associations/add/', guide.IDENTITY_LINK_PAGE),
    ],
)
def test_netboxs_help_button_on_the_edit_pages_opens_the_guide(client, edit_page, url):
    from users.models import User

    client.force_login(User.objects.create_user('root', is_superuser=True))
    page = client.get(edit_page).content.decode()
    assert f'href="{url}"' in page
    assert '/static/docs/models/' not in page  # NetBox's own model documentation has no page for these


def quick_start_configuration():
    """The Python block of the README's quick start, step 2."""
    step = (REPO / 'README.md').read_text().split('**2. Configure**', 1)[1]
    return re.search(r'```python\n(.*?)```', step, re.S).group(1)


def test_quick_start_replaces_lines_netboxs_example_configuration_has(tmp_path):
    # `netbox setup` copies NetBox's example configuration verbatim: the file the quick start edits.
    netbox_example = Path(importlib.util.find_spec('netbox').origin).parent / 'configuration_example.py'
    lines = netbox_example.read_text().splitlines()
    block = quick_start_configuration().splitlines()
    readme = (REPO / 'README.md').read_text()
    edited, replaced = [], []
    for line in lines:
        # The README names the lines to replace; each must be in NetBox's file exactly as written there.
        if line in ('PLUGINS = []', "REMOTE_AUTH_BACKEND = 'netbox.authentication.RemoteUserBackend'"):
            assert f'`{line}`' in readme
            name = line.split(' = ')[0]
            edited.append(next(new for new in block if new.startswith(f'{name} = ')))
            replaced.append(name)
        else:
            edited.append(line)
    assert replaced == ['PLUGINS', 'REMOTE_AUTH_BACKEND']  # both found in NetBox's file, each once
    rest = [line for line in block if not line.startswith(('PLUGINS = ', 'REMOTE_AUTH_BACKEND = '))]
    namespace = {}
    exec(compile('\n'.join(edited + rest), 'configuration.py', 'exec'), namespace)  # noqa: S102 (NetBox's own file)
    assert namespace['PLUGINS'] == ['netbox_authentik']
    assert namespace['REMOTE_AUTH_BACKEND'] == 'netbox_authentik.backends.AuthentikOIDCAuth'
    assert namespace['PLUGINS_CONFIG']['netbox_authentik']['superuser_groups'] == ['netbox-admins']


def check_ids_in_code():
    code = ''.join(path.read_text() for path in (REPO / 'netbox_authentik').rglob('*.py'))
    return set(re.findall(r'netbox_authentik\.[EWI]\d{3}', code))


def test_every_setting_has_a_row_in_the_configuration_reference():
    from netbox_authentik.settings import SETTINGS

    rows = set(re.findall(r'^\| `(\w+)` \|', (DOCS / 'configuration.md').read_text(), re.M))
    assert set(SETTINGS) - rows == set()


def test_every_check_id_has_a_row_in_the_operations_page():
    ids = check_ids_in_code()
    rows = set(re.findall(r'^\| `(netbox_authentik\.[EWI]\d{3})` \|', (DOCS / 'operations.md').read_text(), re.M))
    assert ids, 'no check id found in diagnostics/checks.py'
    assert ids - rows == set()
