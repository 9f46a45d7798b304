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
cargo build --workspace --all-targets
cargo test --workspace -- --test-threads="${BERTH_TEST_THREADS:-4}"
