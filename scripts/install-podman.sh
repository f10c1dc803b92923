#!/usr/bin/env bash
# Install a daemonless container engine for the image test (scripts/test-image.sh), idempotently:
# Debian's podman, runc, mmdebstrap (to make the base image locally), uidmap and fuse-overlayfs.
#
# Only on Debian/Ubuntu as root: anywhere else it says so and exits 0, and the test command then
# skips the image test because `podman` is absent (CI runs on Debian as root, so it runs there).
#
# It also writes the engine settings this kind of machine needs, to
# /etc/containers/containers.conf.d/50-newsflow.conf (a drop-in: an existing containers.conf is
# left alone):
#   runtime = "runc"             crun refuses hosts whose cgroups are a v1/v2 hybrid
#   cgroup_manager = "cgroupfs"  there is no systemd to ask for cgroups
#   default_ulimits              podman restates the host's limits for each container, and a
#                                host that forbids raising (or even restating) RLIMIT_NPROC
#                                refuses that; limits below the host's are accepted
set -euo pipefail

PACKAGES=(podman runc mmdebstrap uidmap fuse-overlayfs)
CONF_DIR=/etc/containers/containers.conf.d
CONF="$CONF_DIR/50-newsflow.conf"

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1 || [ ! -f /etc/debian_version ]; then
    if command -v podman >/dev/null 2>&1; then
        echo "install-podman: not Debian as root; using the podman already installed"
    else
        echo "install-podman: not Debian as root; skipped (the image test needs podman:" \
             "apt-get install ${PACKAGES[*]})"
    fi
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-podman: installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Soft limits first, then hard: below the host's own, which a container may always lower to.
nofile_hard="$(ulimit -Hn)"; nproc_hard="$(ulimit -Hu)"
limit() {  # limit WANTED HOST_HARD -> WANTED, or the host's hard limit when that is lower
    if [ "$2" = unlimited ] || [ "$2" -gt "$1" ]; then echo "$1"; else echo "$(( $2 - 1 ))"; fi
}
nofile="$(limit 16384 "$nofile_hard")"; nproc="$(limit 4096 "$nproc_hard")"

mkdir -p "$CONF_DIR"
want="$(cat <<EOF
# Written by newsflow's scripts/install-podman.sh (see its header for why each line is here).
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
)"
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$want" ]; then
    printf '%s\n' "$want" >"$CONF"
    echo "install-podman: wrote $CONF"
fi
echo "install-podman: $(podman --version), $(runc --version | head -n1), mmdebstrap $(mmdebstrap --version | awk '{print $2}')"
