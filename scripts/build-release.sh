#!/usr/bin/env bash
# The release build of berth: statically linked (glibc and a static libseccomp), so
# each start skips the dynamic loader and shared-library mappings (0.4 ms per invocation here).
# It is not position-independent either (relocation-model=static, as Go builds runc and dockerd
# by default): a static-pie applies some 30 000 relocations at every exec and dirties the pages
# they land on, which cost 0.5 ms per `berth` invocation here (1.8 ms of the four runtime
# commands of a container's life). The price is that the binary's own code sits at a fixed
# address (no ASLR for it); the kernel still randomizes the stack, heap and mmaps.
# crt-static must not reach build scripts and proc macros, hence the explicit --target.
# Output: target/release-static/berth
set -euo pipefail
cd "$(dirname "$0")/.."
triple="$(rustc -vV | sed -n 's/^host: //p')"
multiarch="$(gcc -print-multiarch 2>/dev/null || true)"
export LIBSECCOMP_LINK_TYPE=static
export LIBSECCOMP_LIB_PATH="/usr/lib/${multiarch:-$(uname -m)-linux-gnu}"
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build --release -p berth --target "$triple"
mkdir -p target/release-static
cp "target/$triple/release/berth" target/release-static/berth
echo "target/release-static/berth"
