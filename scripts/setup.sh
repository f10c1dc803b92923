#!/usr/bin/env bash
# Set up newsflow on a fresh machine: system packages it needs (Java 17+, Maven), a virtualenv
# in .venv with the project and its dev tools. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need_apt[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "setup: please install ${need_apt[*]} (Kafka needs Java 17+ and Maven)" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "setup: Python 3.11 or newer is required (found $("$PY" --version))" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.newsflow-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "setup: installing newsflow and its dependencies into .venv (a few minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade pip
  # the tested versions (constraints.txt, made by scripts/lock.sh)
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi
# The story stage's compiled parts (native/, Rust): a few seconds when built
# before, about a minute the first time (crates from crates.io). Without cargo, as root on Debian,
# Debian's current Rust (cargo-web; bookworm's plain cargo is 1.63) is installed first.
have_cargo() { command -v cargo >/dev/null 2>&1 || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; }
if ! have_cargo && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing Rust (Debian's cargo-web) with apt-get"
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cargo-web \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cargo || true
fi
if have_cargo; then
  scripts/build-native.sh .venv/bin/python
else
  echo "setup: cargo not found, so newsflow_native is not built: the story stage will run its" \
       "compiled parts in Python (the same decisions, slower). Install Rust (rustup, or" \
       "Debian's cargo-web) and run scripts/build-native.sh." >&2
fi
echo "setup: done. Try: .venv/bin/newsflow --help"
