#!/usr/bin/env bash
# Installs what berth's build and tests need on Debian 12 (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    busybox-static runc libseccomp-dev pkg-config python3 procps util-linux iproute2 docker-registry skopeo apache2-utils curl tar openssl tini nftables >/dev/null
# tini: its static build is the container init for --init (bound at /sbin/docker-init, as Docker does).
# docker-py: the engine tests drive the daemon with it as well as with the docker CLI.
python3 -m pip --version >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
python3 -m pip install --quiet 'docker==7.1.0' 2>/dev/null || python3 -m pip install --quiet --break-system-packages 'docker==7.1.0'
