#!/usr/bin/env bash
# The release builds: target/release-static/berth (everything: the engine, the client, `berth
# oci`) and target/release-static/berth-oci (the runtime's command line alone, for runc's
# place). Both are static, with a static libseccomp, so each start skips the dynamic loader and
# shared-library mappings (0.4 ms per invocation here).
# Neither is position-independent (relocation-model=static, as Go builds runc and dockerd by
# default): a static-pie applies some 30 000 relocations at every exec and dirties the pages
# they land on, which cost 0.5 ms per `berth` invocation here (1.8 ms of the four runtime
# commands of a container's life). The price is that the binary's own code sits at a fixed
# address (no ASLR for it); the kernel still randomizes the stack, heap and mmaps.
# berth links glibc: the daemon's malloc matters, and glibc's kept the engine's figures
# (musl's made `run --rm` half again as slow; mimalloc made the idle daemon 120 MB).
# berth-oci links musl: it is a string of short processes, and glibc's static start-up asks the
# CPU for its features and cache sizes with some forty cpuid instructions, each a trap to the
# hypervisor on a virtual machine (an empty static glibc program: 0.29 ms of CPU here, musl:
# 0.04 ms). Without the musl target (rustup cannot fetch it), berth-oci is built against glibc.
# crt-static must not reach build scripts and proc macros, hence the explicit --target.
set -euo pipefail
cd "$(dirname "$0")/.."
arch="$(uname -m)"
multiarch="$(gcc -print-multiarch 2>/dev/null || echo "${arch}-linux-gnu")"
host="$(rustc -vV | sed -n 's/^host: //p')"
musl="${arch}-unknown-linux-musl"
if ! rustup target list --installed 2>/dev/null | grep -qx "$musl" &&
    ! rustup target add "$musl"; then
    echo "build-release: no $musl target; berth-oci is built against glibc" >&2
    musl="$host"
fi
# libseccomp-sys links from LIBSECCOMP_LIB_PATH. Debian's archive sits beside glibc's libc.a,
# which a musl link must not find on its search path: hand over a directory holding only it.
seccomp_dir="target/libseccomp-static"
mkdir -p "$seccomp_dir"
cp "/usr/lib/${multiarch}/libseccomp.a" "$seccomp_dir/"
export LIBSECCOMP_LINK_TYPE=static
export LIBSECCOMP_LIB_PATH="$PWD/$seccomp_dir"
export RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static"
cargo build --release -p berth --target "$host"
cargo build --release -p berth-oci --target "$musl"
mkdir -p target/release-static
# Replace rather than overwrite: a container created by the previous build may still be
# running it (a write would fail with ETXTBSY).
for bin in "$host/release/berth" "$musl/release/berth-oci"; do
    name="$(basename "$bin")"
    cp "target/$bin" "target/release-static/$name.new"
    mv "target/release-static/$name.new" "target/release-static/$name"
    echo "target/release-static/$name"
done
