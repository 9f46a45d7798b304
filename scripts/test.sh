#!/usr/bin/env bash
# The test suite (as root): unit tests and integration tests with real namespaces, mounts and
# cgroups. Spec-behaviour tests also run against runc when it is installed, so the two agree.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BERTH_TEST_RUNTIMES:-}" ]; then
    if command -v runc >/dev/null; then
        export BERTH_TEST_RUNTIMES=berth,runc
    else
        export BERTH_TEST_RUNTIMES=berth
    fi
fi
echo "runtimes under test: $BERTH_TEST_RUNTIMES"
# The release build of berth-oci (musl, static: scripts/build-release.sh) gets the standalone
# binary's checks too when it exists; CI builds it first.
if [ -z "${BERTH_OCI_RELEASE:-}" ] && [ -x target/release-static/berth-oci ]; then
    export BERTH_OCI_RELEASE="$PWD/target/release-static/berth-oci"
fi
cargo build --workspace --all-targets
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --lib --bins --tests --no-fail-fast -- \
    --test-threads="${BERTH_TEST_THREADS:-4}" 2>&1 | tee "$log" || status=$?
# One closing line over every test binary.
awk '/^test result:/ { p += $4; f += $6; s += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
