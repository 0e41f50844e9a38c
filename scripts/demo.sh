#!/usr/bin/env bash
# The demo: a local RabbitMQ (installed if absent), a sample function, `sluice` running
# examples/orders.yaml; messages go in, arrive at the function in batches as Lambda events,
# one poison message is retried and dead-lettered, and the metrics are shown.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${SLUICE_RABBITMQ_PORT:-5673}
function_port=${SLUICE_FUNCTION_PORT:-8787}
admin=127.0.0.1:${SLUICE_DEMO_ADMIN_PORT:-9595}
export SLUICE_RABBITMQ_PORT=$port SLUICE_FUNCTION_PORT=$function_port
export RABBITMQ_PASSWORD=guest
export SLUICE_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:$port/%2f

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

command -v curl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }

step "RabbitMQ"
scripts/rabbitmq.sh start

step "building sluice"
cargo build --quiet -p sluice -p sluice-tests --bins
bin=target/debug

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

step "sample function on 127.0.0.1:$function_port"
"$bin/sluice-demo" function --port "$function_port" &
pids+=($!)

step "validating and running examples/orders.yaml"
"$bin/sluice" validate examples/orders.yaml
"$bin/sluice-demo" publish --queue orders --count 0
SLUICE_LOG=${SLUICE_LOG:-warn,lapin=off} "$bin/sluice" run --admin-addr "$admin" examples/orders.yaml &
sluice_pid=$!
pids+=($sluice_pid)
for _ in $(seq 1 100); do
  curl -fsS "http://$admin/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

step "publishing 20 orders"
"$bin/sluice-demo" publish --queue orders --count 20

step "waiting until all 20 are settled"
for _ in $(seq 1 200); do
  acked=$(curl -fsS "http://$admin/metrics" | awk '/^sluice_acked_messages_total\{pipe="orders"\}/ {print $2}')
  [ "${acked:-0}" = 20 ] && break
  sleep 0.1
done

step "the pipe (/pipes/orders)"
curl -fsS "http://$admin/pipes/orders"; echo

step "metrics (/metrics)"
curl -fsS "http://$admin/metrics" | grep -E '^sluice_(source|target|acked|retried|dead_lettered)_[a-z_]+(_total)?\{|^sluice_pipe_up|^sluice_inflight' | grep -v '_bucket'

step "dead letters (orders-dlq)"
"$bin/sluice-demo" dead-letters --queue orders-dlq

step "stopping sluice (SIGTERM drains and exits 0)"
kill -TERM "$sluice_pid"
wait "$sluice_pid" && echo "sluice exited 0"
