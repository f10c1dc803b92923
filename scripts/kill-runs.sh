#!/usr/bin/env bash
# Run the kill -9 test (tests/integration/test_reliability.py) N times in a row, default 10, and
# print each run's line (kills, repeats with the commit settings used) and a summary. NEWSFLOW_*
# variables reach the test's worker, e.g. Faust's old commit defaults:
#   NEWSFLOW_COMMIT_INTERVAL=2.8 NEWSFLOW_COMMIT_EVERY=10000 scripts/kill-runs.sh 3
#   scripts/kill-runs.sh [N]      PYTHON=/path/to/python to use another interpreter
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
py=${PYTHON:-.venv/bin/python}
logs=var/kill-runs; mkdir -p "$logs"
passed=0
for i in $(seq 1 "$n"); do
  log="$logs/run-$i.log"
  "$py" -m pytest tests/integration/test_reliability.py -k kill_9 -s -q -p no:cacheprovider >"$log" 2>&1
  code=$?
  [ $code -eq 0 ] && passed=$((passed + 1))
  echo "run $i: exit $code; $(grep -E '^kill -9' "$log" | tr '\n' ';') $(grep -E '^KILL-RUN' "$log")"
done
echo "$passed of $n runs passed (logs in $logs)"
[ "$passed" -eq "$n" ]
