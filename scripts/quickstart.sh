#!/usr/bin/env bash
# From a fresh machine: install dependencies, build berth, make a busybox bundle, run it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -p berth
bundle=$(mktemp -d)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in sh echo hostname id cat ls; do ln -s busybox "$bundle/rootfs/bin/$applet"; done
mkdir -p "$bundle/rootfs/"{proc,sys,dev,tmp,etc}
( cd "$bundle" && "$OLDPWD/target/release/berth" oci spec )
# Make the default spec non-interactive and run a command that shows the isolation.
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["sh", "-c", "echo hello from $(hostname), pid $$, uid $(id -u)"]
json.dump(spec, open(path, "w"))
PY
target/release/berth oci run --bundle "$bundle" "quickstart-$$"
