#!/usr/bin/env bash
# The benchmark: Sluice (release build) against the broker's own ceiling.
#   scripts/bench.sh [--messages N] [--size BYTES] [--rounds R] [--prefetch P] [--transient]  # RabbitMQ
#   scripts/bench.sh --broker sqs [--messages N] [--rounds R]                    # SQS (moto)
#   scripts/bench.sh --broker activemq [--messages N] [--size BYTES] [--rounds R] # ActiveMQ, STOMP
#   scripts/bench.sh --broker openwire [--messages N] [--size BYTES] [--rounds R] # ActiveMQ, OpenWire
#   scripts/bench.sh --broker lambda [--messages N] [--workers W] [--rounds R]   # runtime_api vs http
#   scripts/bench.sh --replicas 3 [--broker B] [--messages N] [--rounds R]       # 1..3 replicas on one queue
#   scripts/bench.sh --pipes 1000 [--broker B] [--busy 10] [--messages M]      # many pipes, one process
#   scripts/bench.sh --latency [--rates 1000,10000] [--seconds S]               # publish-to-function time
#   scripts/bench.sh --matcher                                                    # filter patterns
#   scripts/bench.sh --filter [--events N] [--only GROUP] [--geometry-first]   # Sluice's matcher beside quamina
set -euo pipefail
cd "$(dirname "$0")/.."
port=${SLUICE_RABBITMQ_PORT:-5673}
export SLUICE_RABBITMQ_URL=${SLUICE_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:$port/%2f}
export SLUICE_SQS_URL=${SLUICE_SQS_URL:-http://127.0.0.1:${SLUICE_SQS_PORT:-4566}}
if [[ " $* " == *" --filter "* ]]; then
  exec cargo bench --quiet -p sluice-tests --bench filter -- "$@"
elif [[ " $* " == *" --matcher "* ]]; then
  :
elif [[ " $* " == *" --broker sqs "* ]]; then
  scripts/sqs.sh start
elif [[ " $* " == *" --broker activemq "* || " $* " == *" --broker openwire "* ]]; then
  scripts/activemq.sh start
else
  scripts/rabbitmq.sh start
fi
cargo build --release --quiet -p sluice -p sluice-tests -p sluice-lambda-fn --bins
SLUICE_BIN=target/release/sluice exec target/release/bench "$@"
