#!/usr/bin/env bash
# Regenerate constraints.txt: the exact versions a fresh install of newsflow resolves today.
#
#   scripts/lock.sh        # about two minutes; then run scripts/test.sh before committing it
#
# pyproject.toml states what newsflow needs (lower bounds); constraints.txt pins what was tested.
# scripts/setup.sh and deploy/Dockerfile install with `-c constraints.txt`, so a release of a
# dependency made after the lock (faust-streaming's internals, which workers/stream/batches.py and
# faustfix.py rely on; spaCy and its model) reaches an install only through this script and the
# test run after it. The lock is resolved in a throwaway virtualenv with every extra the setup
# and the image install (dev, rocksdb), so that it holds no package left over in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip
# a copy of the project, so that the install writes no build/ or egg-info into the checkout
mkdir "$tmp/src"
cp -r pyproject.toml README.md workers "$tmp/src/"
"$tmp/venv/bin/python" -m pip install -q "$tmp/src[dev,rocksdb]"
{
  echo "# Exact versions of newsflow's dependencies, as tested (scripts/lock.sh; $("$tmp/venv/bin/python" --version),"
  echo "# $(date -u +%Y-%m-%d)). scripts/setup.sh and deploy/Dockerfile install with -c constraints.txt."
  # (freeze leaves out pip and the build tools itself; newsflow is the project, not a pin)
  "$tmp/venv/bin/python" -m pip freeze | grep -v -i -E '^newsflow(==| @)' | LC_ALL=C sort -f
} >constraints.txt
echo "lock: constraints.txt pins $(grep -c '==' constraints.txt) packages"
