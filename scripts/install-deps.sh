#!/usr/bin/env bash
# Installs what berth's build and tests need on Debian 12 (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    busybox-static runc libseccomp-dev pkg-config python3 procps util-linux iproute2 docker-registry skopeo >/dev/null
