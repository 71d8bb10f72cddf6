"""No test empties a whole Redis database: runs, CI jobs and demos share one (tests/tools/isolation.py)."""

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# cache.clear() and FLUSHDB/FLUSHALL empty the whole Redis database, other runs' keys included.
FLUSHES = re.compile(r'\bcache\.clear\(\)|\.flushdb\(|\.flushall\(|\bFLUSHDB\b|\bFLUSHALL\b')


def test_no_test_empties_a_whole_redis_database():
    offenders = [
        f'{path.name}:{number}'
        for path in sorted(TESTS.glob('test_*.py'))
        if path.name != Path(__file__).name
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if FLUSHES.search(line)
    ]
    assert offenders == [], "clear only this run's keys: cache.delete_pattern('*') (its key prefix)"
