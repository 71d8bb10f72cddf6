#!/usr/bin/env bash
# Two whole test runs at once, from two clones of this checkout, on one PostgreSQL and Redis: both must pass.
#
#   bash tests/tools/concurrent_runs.sh [pytest arguments for both runs]
#
# Each clone is a copy of the checkout's files (tracked and new, as they are now) in a temporary folder. Both
# share this checkout's .venv (or NBA_VENV) when there is one, else each creates its own. Their output goes
# to <folder>/run-a.log and run-b.log; the folder is removed when both pass.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
work="$(mktemp -d "${TMPDIR:-/tmp}/nba-concurrent.XXXXXX")"
for clone in a b; do
  mkdir -p "$work/$clone"
  # The tracked and new files as they are now, without local state (.venv, node_modules, .local).
  git ls-files --cached --others --exclude-standard -z | xargs -0 cp --parents -t "$work/$clone"
done
# The checkout's .venv when it has one: the clones import their own code (pytest puts the clone first).
if [ -z "${NBA_VENV:-}" ] && [ -x .venv/bin/python ]; then export NBA_VENV="$PWD/.venv"; fi
started=$(date +%s)
bash "$work/a/tests/run" "$@" >"$work/run-a.log" 2>&1 &
pid_a=$!
bash "$work/b/tests/run" "$@" >"$work/run-b.log" 2>&1 &
pid_b=$!
status_a=0 status_b=0
wait "$pid_a" || status_a=$?
wait "$pid_b" || status_b=$?
for clone in a b; do
  printf 'run %s: %s\n' "$clone" "$(grep -E '(passed|failed|error)' "$work/run-$clone.log" | tail -1)"
done
printf 'both runs took %ss together\n' "$(($(date +%s) - started))"
if [ "$status_a" != 0 ] || [ "$status_b" != 0 ]; then
  echo "A run failed (a: $status_a, b: $status_b); logs in $work" >&2
  exit 1
fi
rm -rf "$work"
