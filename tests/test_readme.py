"""The README's snippets an admin copies into configuration.py are valid."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / 'README.md'

SHOW_INFO = '''
import logging, logging.config
logging.config.dictConfig(LOGGING)
logging.getLogger('netbox_authentik.pipeline').info('Synced Authentik groups for alice')
'''


def test_logging_snippet_is_valid_python_and_shows_the_plugins_info_lines():
    section = README.read_text().split('\n## Logging\n', 1)[1]
    snippet = re.search(r'```python\n(.*?)```', section, re.S).group(1)
    result = subprocess.run([sys.executable, '-c', snippet + SHOW_INFO], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == 'Synced Authentik groups for alice\n'
