#!/usr/bin/env bash
# Install (if missing), start, stop or check a private RabbitMQ node for Sluice's demo and tests.
#
#   scripts/rabbitmq.sh start    # idempotent: reuses a node that already answers
#   scripts/rabbitmq.sh stop
#   scripts/rabbitmq.sh status
#
# The node listens on 127.0.0.1 only, on its own ports, with its own data directory under
# $SLUICE_RUN_DIR/rabbitmq, so it never collides with a system RabbitMQ. Settings (environment):
#   SLUICE_RABBITMQ_PORT       AMQP port (default 5673)
#   SLUICE_RABBITMQ_STOMP_PORT STOMP plugin port (default 61623)
#   SLUICE_RUN_DIR             where data and logs go (default /tmp/sluice-run)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# Under /tmp, not the checkout: the broker runs as the rabbitmq user, which must reach it.
run_dir=${SLUICE_RUN_DIR:-/tmp/sluice-run}
base=$run_dir/rabbitmq
port=${SLUICE_RABBITMQ_PORT:-5673}
stomp_port=${SLUICE_RABBITMQ_STOMP_PORT:-61623}
dist_port=$((port + 20000))
node=sluice-$port@localhost

export RABBITMQ_NODENAME=$node
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$port
export RABBITMQ_DIST_PORT=$dist_port
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_MNESIA_BASE=$base/mnesia
export RABBITMQ_LOG_BASE=$base/log
export RABBITMQ_ENABLED_PLUGINS_FILE=$base/enabled_plugins
export RABBITMQ_CONFIG_FILE=$base/rabbitmq
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

log() { printf 'rabbitmq: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install() {
  command -v rabbitmq-server >/dev/null && return
  log "installing Debian's rabbitmq-server"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq rabbitmq-server >/dev/null
}

ping() { rabbitmq-diagnostics -n "$node" -q ping >/dev/null 2>&1; }

start() {
  install
  if port_open && ping; then
    log "node $node already up on 127.0.0.1:$port"
    return
  fi
  if port_open; then
    log "port $port is taken by something else; set SLUICE_RABBITMQ_PORT"
    exit 1
  fi
  mkdir -p "$base/mnesia" "$base/log"
  cat >"$base/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
stomp.listeners.tcp.1 = 127.0.0.1:$stomp_port
loopback_users.guest = true
log.file.level = warning
CONF
  echo '[rabbitmq_stomp].' >"$base/enabled_plugins"
  if id rabbitmq >/dev/null 2>&1; then chown -R rabbitmq:rabbitmq "$base"; fi
  log "starting node $node on 127.0.0.1:$port (data in $base)"
  rabbitmq-server -detached
  for _ in $(seq 1 120); do
    if port_open && ping; then
      rabbitmqctl -n "$node" -q await_startup >/dev/null 2>&1 || true
      log "ready"
      return
    fi
    sleep 0.5
  done
  log "did not start within 60s; see $base/log"
  tail -n 30 "$base"/log/*.log >&2 2>/dev/null || true
  exit 1
}

stop() {
  if ping; then
    rabbitmqctl -n "$node" -q stop >/dev/null 2>&1 || true
    log "stopped $node"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if port_open && ping; then log "up: $node on 127.0.0.1:$port"; else log "down"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
