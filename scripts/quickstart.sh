#!/usr/bin/env bash
# From a fresh machine (Debian 12, as root): install dependencies, build berth, make a busybox
# image from Debian's busybox-static, and run a container from it. The first `berth` command
# starts the daemon (socket /run/berth/berth.sock, data in /var/lib/berth); it keeps running
# for the commands that follow, and the real docker CLI works against it too:
#   DOCKER_HOST=unix:///run/berth/berth.sock docker ps
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build-release.sh >/dev/null
berth=target/release-static/berth
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,etc,tmp,root}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"
tar -C "$rootfs" -c . | "$berth" import - busybox:latest >/dev/null
"$berth" run --rm busybox sh -c 'echo "hello from $(hostname): pid $$, $(id)"'
"$berth" images
