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

port=${SLUICE_RABBITMQ_PORT:-5673}
export SLUICE_RABBITMQ_URL=${SLUICE_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:$port/%2f}
export SLUICE_RABBITMQ_NODE=${SLUICE_RABBITMQ_NODE:-sluice-$port@localhost}
export SLUICE_SQS_URL=${SLUICE_SQS_URL:-http://127.0.0.1:${SLUICE_SQS_PORT:-4566}}

started=()
for broker in rabbitmq activemq sqs; do
  if ! "scripts/$broker.sh" status 2>/dev/null; then started+=("$broker"); fi
  "scripts/$broker.sh" start
done
cleanup() {
  if [ "${SLUICE_KEEP_BROKERS:-0}" != 1 ]; then
    for b in "${started[@]}"; do "scripts/$b.sh" stop || true; done
  fi
}
trap cleanup EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo build --bins"
cargo build --workspace --bins --quiet
echo "== cargo test"
cargo test --workspace "$@"
