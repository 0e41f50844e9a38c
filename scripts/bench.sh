#!/usr/bin/env bash
# The benchmark: Sluice (release build) against a bare lapin consumer on the same RabbitMQ.
#   scripts/bench.sh [--messages N] [--size BYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
port=${SLUICE_RABBITMQ_PORT:-5673}
export SLUICE_RABBITMQ_URL=${SLUICE_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:$port/%2f}
scripts/rabbitmq.sh start
cargo build --release --quiet -p sluice -p sluice-tests --bins
SLUICE_BIN=target/release/sluice exec target/release/bench "$@"
