#!/usr/bin/env bash
# Install Prometheus and promtool from Debian's `prometheus` package, idempotently (for CI and dev).
#
# The rule tests (tests/unit/test_prometheus_rules.py) and the integration test that scrapes a
# live worker need `promtool` and `prometheus` on PATH. Already installed at a version that knows
# the rule syntax we use (promtool test rules with alert_rule_test, keep_firing_for is NOT used):
# nothing happens. Run as root or with sudo available.
set -euo pipefail

MIN_VERSION="2.33.0"  # promtool check config/rules + test rules with the fields deploy/ uses

version_of() {
    "$1" --version 2>&1 | sed -n 's/.*version \([0-9][0-9.]*\).*/\1/p' | head -n1
}

version_ge() {  # version_ge A B: A >= B
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    have="$(version_of promtool)"
    if [ -n "$have" ] && version_ge "$have" "$MIN_VERSION"; then
        echo "prometheus/promtool $have already installed"
        exit 0
    fi
    echo "promtool $have is older than $MIN_VERSION; upgrading" >&2
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "need root (or sudo) to apt-get install prometheus" >&2; exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps node-exporter and friends out; policy-rc.d-less containers
# may print a service start warning, which is harmless: we only need the binaries.
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null

have="$(version_of promtool)"
if [ -z "$have" ] || ! version_ge "$have" "$MIN_VERSION"; then
    echo "installed promtool '$have' is older than $MIN_VERSION" >&2
    exit 1
fi
# The Debian package starts a system service where systemd runs; we do not want it scraping.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    $SUDO systemctl stop prometheus || true
    $SUDO systemctl disable prometheus >/dev/null 2>&1 || true
fi
echo "prometheus/promtool $have installed"
