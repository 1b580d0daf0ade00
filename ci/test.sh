#!/usr/bin/env bash
# Runs every kmemdbg test on a fresh Debian machine (root): installs the real
# Kamailio, sipp and build tools, fetches Debian's Kamailio source packages,
# then runs fmt, clippy and the whole test suite against them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
bash ci/fetch-sources.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
# One test thread per core: tests that build Kamailio run make -jN themselves.
cargo test --all-targets --no-fail-fast -- --test-threads="${KMEMDBG_TEST_THREADS:-$(nproc)}"
