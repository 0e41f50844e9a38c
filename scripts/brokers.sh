# Sourced by scripts that need every broker (test.sh, soak.sh): the brokers' addresses for the
# tests, each broker installed and started if it is not up, and the ones started here stopped
# when the calling script exits (unless SLUICE_KEEP_BROKERS=1; the next run reuses them).
port=${SLUICE_RABBITMQ_PORT:-5673}
export SLUICE_RABBITMQ_URL=${SLUICE_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:$port/%2f}
export SLUICE_RABBITMQ_NODE=${SLUICE_RABBITMQ_NODE:-sluice-$port@localhost}
export SLUICE_SQS_URL=${SLUICE_SQS_URL:-http://127.0.0.1:${SLUICE_SQS_PORT:-4566}}

started_brokers=()
for broker in rabbitmq activemq sqs; do
  if ! "scripts/$broker.sh" status 2>/dev/null; then started_brokers+=("$broker"); fi
  "scripts/$broker.sh" start
done
stop_started_brokers() {
  if [ "${SLUICE_KEEP_BROKERS:-0}" != 1 ]; then
    for b in "${started_brokers[@]}"; do "scripts/$b.sh" stop || true; done
  fi
}
trap stop_started_brokers EXIT
