#!/usr/bin/env bash
# Install (if missing), start, stop or check a local SQS-compatible server (moto) for Sluice's
# tests and benchmark.
#
#   scripts/sqs.sh start    # idempotent: reuses a server that already answers
#   scripts/sqs.sh stop
#   scripts/sqs.sh status
#
# moto is pinned and installed from PyPI into its own virtual environment under
# $SLUICE_RUN_DIR/moto-venv, so nothing touches the system Python. The server keeps everything
# in memory and listens on 127.0.0.1 only. Settings (environment):
#   SLUICE_SQS_PORT   port (default 4566)
#   SLUICE_RUN_DIR    where the virtual environment, pid and log go (default /tmp/sluice-run)
set -euo pipefail

moto_version=5.2.5
run_dir=${SLUICE_RUN_DIR:-/tmp/sluice-run}
venv=$run_dir/moto-venv
port=${SLUICE_SQS_PORT:-4566}
pidfile=$run_dir/moto-$port.pid
logfile=$run_dir/moto-$port.log

log() { printf 'sqs: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

install() {
  if [ -x "$venv/bin/moto_server" ] &&
    "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
    return
  fi
  log "installing moto[server]==$moto_version into $venv"
  mkdir -p "$run_dir"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version"
}

start() {
  install
  if port_open; then
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "moto already up on 127.0.0.1:$port"
      return
    fi
    log "port $port is taken by something else; set SLUICE_SQS_PORT"
    exit 1
  fi
  log "starting moto on 127.0.0.1:$port"
  nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 60); do
    if port_open; then
      log "ready"
      return
    fi
    sleep 0.25
  done
  log "did not start within 15s; see $logfile"
  tail -n 30 "$logfile" >&2 || true
  exit 1
}

stop() {
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
    log "stopped"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if port_open; then log "up on 127.0.0.1:$port"; else log "down"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
