"""The built wheel, installed (not editable) into a fresh virtualenv with NetBox, works as the README says."""

import os
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.tools import database, isolation

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def run(*arguments, **kwargs):
    done = subprocess.run([str(argument) for argument in arguments], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f'{arguments}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}'
    return done


def test_wheel_installs_into_a_fresh_netbox_venv_and_passes_the_smoke_test(tmp_path):
    started = time.monotonic()
    # pip's cache serves NetBox's and the plugin's dependencies: no download after the first run.
    run(sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps', '--wheel-dir', tmp_path / 'dist', REPO)
    (wheel,) = (tmp_path / 'dist').glob('netbox_authentik-*.whl')
    run(sys.executable, '-m', 'venv', tmp_path / 'venv')
    python = tmp_path / 'venv' / 'bin' / 'python'
    run(python, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', wheel, f'netbox=={version("netbox")}')

    # The console script for API tokens is installed with the wheel and starts.
    script = run(tmp_path / 'venv' / 'bin' / 'netbox-authentik-token', '--help')
    assert 'usage: netbox-authentik-token' in script.stdout

    name = database.clone(f'nba_wheel_{isolation.run_id()}')
    try:
        smoke = run(
            python,
            REPO / 'tests' / 'tools' / 'smoke.py',
            '--target',
            tmp_path / 'netbox',
            '--database',
            name,
            '--requests',
            cwd=tmp_path,
            env={**os.environ, 'PYTHONPATH': ''},
        )
    finally:
        database.drop(name)

    assert f'{tmp_path}/venv/lib/' in smoke.stdout  # the installed wheel, not the checkout
    assert 'login page shows the Authentik button' in smoke.stdout
    assert 'smoke test passed' in smoke.stdout
    print(f'wheel built, installed and smoke-tested in {time.monotonic() - started:.0f}s')
