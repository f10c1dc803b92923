#!/usr/bin/env bash
# Build newsflow's compiled story parts (native/: a Rust extension module made with PyO3, for the
# document frequencies, TF-IDF weighing, cosines and rankings) and install the module into a
# Python's site-packages as newsflow_native.
#   scripts/build-native.sh [PYTHON]     (default: .venv/bin/python)
# Needs cargo: rustup's (built here with 1.95) or Debian's cargo-web (the image builds with
# bookworm's, 1.96). The crates come from crates.io at the versions in native/Cargo.lock, chosen
# to declare Rust 1.63 or newer (not built here with a toolchain that old). Without the module
# newsflow still runs: the story stage then runs these parts in Python (the same decisions,
# slower), and says so in its log.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
command -v cargo >/dev/null || {
  echo "build-native: cargo not found (install Rust: rustup, or Debian's cargo)" >&2; exit 1; }
cargo build --quiet --release --locked --manifest-path native/Cargo.toml
dest=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
# abi3: one build serves CPython 3.11 and newer; the name tells the interpreter so.
install -m 0644 native/target/release/libnewsflow_native.so "$dest/newsflow_native.abi3.so"
"$PY" -c 'import newsflow_native; newsflow_native.DocFreq()'
echo "build-native: newsflow_native installed in $dest"
