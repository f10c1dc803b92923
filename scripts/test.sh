#!/usr/bin/env bash
# Run every test: lint, types, unit, agent, integration (real Kafka, real Prometheus), deploy
# validation, and the container image built and run for real (scripts/test-image.sh, when podman
# is there; scripts/install-podman.sh installs it on Debian as root). Installs what it needs; the
# Kafka broker is started once by the test session itself (`newsflow kafka up`) and stopped at
# the end.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1
[ -x scripts/install-prometheus.sh ] && { scripts/install-prometheus.sh || exit 1; }
[ -x scripts/install-deploy-tools.sh ] && { scripts/install-deploy-tools.sh || exit 1; }
[ -x scripts/install-podman.sh ] && { scripts/install-podman.sh || exit 1; }

status=0
echo "== ruff"; .venv/bin/ruff check workers tests || status=1
echo "== mypy"; .venv/bin/mypy workers || status=1
echo "== pytest"
.venv/bin/pytest "$@"
code=$?
if [ $code -eq 5 ]; then echo "pytest collected no tests: that is a failure here" >&2; code=1; fi
[ $code -ne 0 ] && status=$code
if command -v podman >/dev/null 2>&1; then
    echo "== image (scripts/test-image.sh)"
    scripts/test-image.sh || status=1
else
    echo "== image: skipped, podman is not installed (scripts/install-podman.sh, Debian as root)"
fi
exit $status
