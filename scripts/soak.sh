#!/usr/bin/env bash
# The soak: every broker at a fixed rate for a chosen time while faults are injected on a
# schedule (cuts, black holes, resets of broker and target connections, through fault
# proxies on 127.0.0.1). Prints RSS, open file descriptors and threads of the sluice process
# as it goes, then the final counts per pipe: sent, delivered, duplicates, lost.
#
#   scripts/soak.sh [--minutes 30] [--rate 20] [--fault-every 60] [--sample-every 10]
#
# Exit 1 if any message was lost. Brokers this script started are stopped at the end.
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
cargo build --release --quiet -p sluice -p sluice-tests --bins
SLUICE_LOG=${SLUICE_LOG:-warn} SLUICE_BIN=target/release/sluice target/release/soak "$@"
