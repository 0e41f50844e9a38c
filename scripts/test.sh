#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine with Rust: install and start the brokers the
# tests need (RabbitMQ, ActiveMQ, and moto as the SQS server), check formatting and lints,
# build the binaries, run every test.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -p sluice-core  # extra arguments go to `cargo test` (before its `--`)
#
# Brokers this script started are stopped at the end; set SLUICE_KEEP_BROKERS=1 to keep them
# (the next run reuses them).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/brokers.sh
source scripts/brokers.sh
# The official Lambda libraries and runtime clients the event and Lambda tests check against.
# shellcheck source=scripts/lambda-tools.sh
source scripts/lambda-tools.sh
# Prometheus, promtool and the schema validators the deployment files are checked with.
# shellcheck source=scripts/ops-tools.sh
source scripts/ops-tools.sh

# Large default thread stacks for the test processes too: the hostile-input tests publish AMQP
# header tables nested as deep as a frame allows, which lapin's own I/O thread writes
# recursively (sluice itself re-executes with this set; see bridge/src/stack.rs).
export RUST_MIN_STACK=${RUST_MIN_STACK:-268435456}

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo build --bins"
cargo build --workspace --bins --quiet
echo "== cargo test"
# Tests that need a broker are #[ignore]d so that a plain `cargo test` passes on a machine
# without brokers; here the brokers are up, so they run too.
cargo test --workspace "$@" -- --include-ignored
