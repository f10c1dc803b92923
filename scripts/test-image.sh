#!/usr/bin/env bash
# Build newsflow's container image for real and run it, with podman (daemonless).
#
#   scripts/test-image.sh            # base (reused when made before), image, checks
#   NEWSFLOW_IMAGE_REBUILD=1 scripts/test-image.sh   # remake the base, build without cache
#
# 1. The base: Debian bookworm made here with mmdebstrap (public container registries may not be
#    reachable), imported as localhost/newsflow-base:bookworm-<recipe hash>. If this machine's pip
#    trusts an extra CA bundle (PIP_CERT or pip's global.cert: TLS-inspecting proxies), the base
#    gets that bundle and an /etc/pip.conf naming it, so that pip inside the build can download.
#    Such host specifics live here, never in deploy/Dockerfile.
# 2. The image: `podman build -f deploy/Dockerfile --build-arg BASE_IMAGE=<the base>` (the only
#    difference from a default build, which uses the official python image); build time printed.
# 3. Its size, what takes the space, and the budget below.
# 4. scripts/image_checks.py: the image's config against the manifests, then the worker container
#    run as Kubernetes and Compose run it against the broker, and `newsflow demo` in the image.
#
# Storage: podman's images, containers and volumes for this test live in the checkout
# (var/podman, or NEWSFLOW_PODMAN_STORE; every podman call here and in image_checks.py gets
# --root/--runroot/--tmpdir, from NEWSFLOW_PODMAN), never in the machine's /var/lib/containers. A clean checkout (CI) therefore makes the base and builds
# the image from nothing, and state left on the machine by an earlier, killed run (the first CI
# run of this test failed at once on a store it had not made) cannot break it. If a build on a
# reused base fails, the base is remade and the build tried once more.
#
# The broker: KAFKA_BOOTSTRAP_SERVERS if set, else the local one on 127.0.0.1:19092; if none is
# running, `newsflow kafka up` starts one, and it is stopped at the end.
# Needs podman, mmdebstrap (scripts/install-podman.sh installs them on Debian) and the project's
# virtualenv (scripts/setup.sh; or PYTHON=/path/to/python).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-.venv/bin/python}"
IMAGE="${NEWSFLOW_TEST_IMAGE:-localhost/newsflow:test}"
REBUILD="${NEWSFLOW_IMAGE_REBUILD:-0}"
# Today 490 MiB on the mmdebstrap base: the base 170 MiB (Debian's python3, apt, perl), newsflow's
# layers 320 MiB. Largest in the virtualenv: numpy 73 (with OpenBLAS), babel 36 (trafilatura's
# courlan), blis 35, spaCy 31, newsflow itself 15 (models, knowledge base), jsonschema-rs 15,
# en_core_web_sm 15, lxml 12, rocksdict 11. The budget leaves room for dependency updates and
# fails long before the 1,013 MiB of the first build.
BUDGET_MIB="${NEWSFLOW_IMAGE_BUDGET_MIB:-560}"
SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates,netbase,tzdata
LOGS=var/test-logs
mkdir -p "$LOGS"

for tool in podman mmdebstrap; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "test-image: '$tool' not found; scripts/install-podman.sh installs it (Debian)" >&2
        exit 1; }
done
[ -x "$PY" ] || { echo "test-image: no $PY; run scripts/setup.sh or set PYTHON" >&2; exit 1; }
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mib() { echo $(( ($1 + 524288) / 1048576 )); }

# --- 0. podman, on a store of this checkout's own ------------------------------------------------
# Images, containers and volumes in $STORE; podman's run-time state (mount counts, the "alive"
# marker that tells it whether the machine restarted) on tmpfs, so that it goes with a restart as
# podman expects. On machines where /run is an ordinary directory that survives, a killed run
# leaves state behind that makes the next podman fail at once.
STORE="$(realpath -m "${NEWSFLOW_PODMAN_STORE:-var/podman}")"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    RUNTIME="/dev/shm/newsflow-podman-$(printf '%s' "$STORE" | sha256sum | cut -c1-12)"
else
    RUNTIME="$STORE/runtime"
fi
mkdir -p "$STORE/storage" "$RUNTIME/run" "$RUNTIME/libpod"
export NEWSFLOW_PODMAN="podman --root $STORE/storage --runroot $RUNTIME/run --tmpdir $RUNTIME/libpod"
podman() { command podman --root "$STORE/storage" --runroot "$RUNTIME/run" --tmpdir "$RUNTIME/libpod" "$@"; }
if ! info="$(podman info --format '{{.Store.GraphDriverName}} {{.Store.GraphRoot}}' 2>&1)"; then
    echo "test-image: podman cannot start here:"
    echo "$info" | tail -n 20
    echo "test-image: FAILED (podman unusable; scripts/install-podman.sh writes the settings it needs)"
    exit 1
fi
echo "== podman: $(podman --version | awk '{print $3}'), store: $info"

# --- 1. the base --------------------------------------------------------------------------------
host_ca="${PIP_CERT:-$("$PY" -m pip config get global.cert 2>/dev/null || true)}"
hooks=()
ca_sum=""
if [ -n "$host_ca" ] && [ -f "$host_ca" ]; then
    hooks+=(--customize-hook="upload $host_ca /etc/ssl/certs/ca-certificates.crt"
            --customize-hook='printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" >"$1/etc/pip.conf"')
    ca_sum="$(sha256sum "$host_ca" | cut -c1-16)"
fi
excludes=(--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
          --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
          --dpkgopt='path-exclude=/usr/share/locale/*')
recipe="$(printf '%s\n' "$SUITE" "$PACKAGES" "${excludes[@]}" "${hooks[@]}" "$ca_sum" | sha256sum | cut -c1-12)"
BASE="localhost/newsflow-base:$SUITE-$recipe"
make_base() {
    local work started
    work="$(mktemp -d)"
    echo "== base: mmdebstrap $SUITE ($PACKAGES)${ca_sum:+, with the CA bundle pip uses here}"
    started=$SECONDS
    if ! mmdebstrap --quiet --variant=minbase --include="$PACKAGES" "${excludes[@]}" "${hooks[@]}" \
            "$SUITE" "$work/rootfs.tar" >"$LOGS/image-base.log" 2>&1; then
        tail -n 20 "$LOGS/image-base.log"; rm -rf "$work"
        echo "test-image: FAILED making the base with mmdebstrap (log: $LOGS/image-base.log)"
        exit 1
    fi
    podman rmi --force "$BASE" >/dev/null 2>&1 || true
    podman import --quiet --change ENV=LANG=C.UTF-8 "$work/rootfs.tar" "$BASE" >/dev/null
    rm -rf "$work"
    echo "base: $BASE made in $(( SECONDS - started )) s"
}
base_reused=0
if [ "$REBUILD" = 1 ] || ! podman image exists "$BASE"; then
    make_base
else
    base_reused=1
    echo "== base: $BASE (made earlier in $STORE; NEWSFLOW_IMAGE_REBUILD=1 remakes it)"
fi

# --- 2. the image -------------------------------------------------------------------------------
build=(podman build --network=host --format docker --build-arg BASE_IMAGE="$BASE"
       -f deploy/Dockerfile -t "$IMAGE")
[ "$REBUILD" = 1 ] && build+=(--no-cache)
echo "== image: ${build[*]} ."
started=$SECONDS
if ! "${build[@]}" . >"$LOGS/image-build.log" 2>&1; then
    tail -n 40 "$LOGS/image-build.log"
    if [ "$base_reused" = 1 ]; then
        echo "test-image: the build failed on a base made earlier; remaking the base, building once more"
        make_base
        started=$SECONDS
        "${build[@]}" --no-cache . >"$LOGS/image-build.log" 2>&1 \
            || { tail -n 40 "$LOGS/image-build.log"
                 echo "test-image: build FAILED (full log: $LOGS/image-build.log)"; exit 1; }
    else
        echo "test-image: build FAILED (full log: $LOGS/image-build.log)"
        exit 1
    fi
fi
build_seconds=$(( SECONDS - started ))
grep -E '^(check_install|worker check):' "$LOGS/image-build.log" | sed 's/^/  build: /'
echo "build time: ${build_seconds} s (log: $LOGS/image-build.log)"

# --- 3. size ------------------------------------------------------------------------------------
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(podman image inspect --format '{{.Size}}' "$BASE")
layers=$(( size - base_size ))
echo "image size: $(mib "$size") MiB (base $(mib "$base_size") MiB, newsflow's layers $(mib "$layers") MiB); budget ${BUDGET_MIB} MiB"
echo "largest in /opt/venv (MiB):"
podman run --rm --health-interval=disable --network=host --entrypoint sh "$IMAGE" -c \
    'cd /opt/venv/lib/python3*/site-packages && du -sm * | sort -rn | head -n 12' 2>/dev/null | paste - - - - \
    | sed 's/^/  /'
size_ok=1
if [ "$(mib "$size")" -gt "$BUDGET_MIB" ]; then
    echo "FAIL  image size $(mib "$size") MiB is over the budget of ${BUDGET_MIB} MiB" >&2
    size_ok=0
else
    echo "PASS  image size within budget"
fi

# --- 4. run it ----------------------------------------------------------------------------------
started_kafka=0
stop_kafka() {
    if [ "$started_kafka" = 1 ]; then "$PY" -m workers.tools.cli kafka down >/dev/null; fi
}
if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ] && ! "$PY" -m workers.tools.cli kafka status >/dev/null 2>&1; then
    echo "== broker: none running; newsflow kafka up"
    "$PY" -m workers.tools.cli kafka up
    started_kafka=1
fi
trap stop_kafka EXIT
echo "== checks"
status=0
"$PY" scripts/image_checks.py --image "$IMAGE" || status=1
[ "$size_ok" = 1 ] || status=1
echo "test-image: build ${build_seconds} s, image $(mib "$size") MiB, $([ $status = 0 ] && echo 'every check passed' || echo 'FAILED')"
exit $status
