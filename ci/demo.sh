#!/usr/bin/env bash
# The main job, end to end on a real Kamailio (fresh Debian, root): installs
# Kamailio and the tools, builds kmemdbg, and runs it on the packaged binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
cargo build --release --quiet
kmemdbg=target/release/kmemdbg
echo "== kmemdbg inspect"
"$kmemdbg" inspect
echo "== kmemdbg verify --memdebug"
"$kmemdbg" verify --memdebug
