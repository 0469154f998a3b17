#!/usr/bin/env bash
# Install what tshm needs to build and test, from Debian 12's packages.
# Usage: scripts/deps.sh   (as root, or a user with sudo)
set -euo pipefail

PACKAGES=(
        build-essential cmake pkg-config clang valgrind
        # scripts/lint.sh (clang-format 14 and clang-tidy 14 on Debian 12).
        clang-format clang-tidy
        libuv1-dev libmsgpack-dev check uthash-dev
        # The CLI: the JSON header of .safetensors files.
        libjansson-dev
        # Mirrors between hosts (docs/remote.md): UCX moves the data ...
        libucx-dev
        # ... ucx_info shows the transports and devices UCX finds ...
        ucx-utils
        # ... libcrypto signs the peers' handshake (HMAC-SHA256) ...
        libssl-dev
        # ... and tests/remote joins two network namespaces with ip(8).
        iproute2
        python3 python3-numpy python3-dev python3-pytest python3-torch libdlpack-dev
        # The service tests (systemd-analyze, systemd-socket-activate), the man
        # pages, and building and checking the Debian packages (tests/service).
        systemd adduser strace scdoc man-db debhelper dh-python dpkg-dev lintian
        # Optional: tshm-bench's iceoryx comparison (skipped when missing).
        iceoryx libiceoryx-binding-c-dev
)

SUDO=
if [ "$(id -u)" -ne 0 ]; then
        SUDO=sudo
fi

missing=()
for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
                missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
        echo "deps: installing ${missing[*]}"
        $SUDO apt-get update -q
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
                "${missing[@]}"
else
        echo "deps: all ${#PACKAGES[@]} packages present"
fi
