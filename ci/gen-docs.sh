#!/usr/bin/env bash
# Rewrites the generated parts of the command reference from the built binary:
# the `kmemdbg NAME --help` block at the end of every docs/commands/NAME.md,
# the list of pages and `kmemdbg --help` in docs/commands/README.md. A new
# subcommand gets a page (its one-line purpose and its help): describe it
# above the generated block. Hand-written text outside the blocks is kept.
#
# The generator is tests/docs.rs itself (KMEMDBG_GEN_DOCS=1), so what it
# writes is exactly what the test checks. Refused when CI is set.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${CI:-}" ]; then
    echo "ci/gen-docs.sh: refused when CI is set (CI checks the docs, it never rewrites them)" >&2
    exit 2
fi
KMEMDBG_GEN_DOCS=1 cargo test --quiet --test docs -- --test-threads=1 every_subcommand_has_a_page
# Then every docs check (README size, flags in examples, docs/json.md against real output).
cargo test --quiet --test docs
git status --short -- docs/commands
