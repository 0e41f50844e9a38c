#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine with Rust: install and start the brokers the
# tests need (RabbitMQ, ActiveMQ, and moto as the SQS server), check formatting and lints,
# build the binaries, run every test.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -p sluice-core  # extra arguments go to `cargo test`
#
# Brokers this script started are stopped at the end; set SLUICE_KEEP_BROKERS=1 to keep them
# (the next run reuses them).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/brokers.sh
source scripts/brokers.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo build --bins"
cargo build --workspace --bins --quiet
echo "== cargo test"
cargo test --workspace "$@"
