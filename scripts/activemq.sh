#!/usr/bin/env bash
# Install (if missing), start, stop or check a private ActiveMQ broker for Sluice's tests.
#
#   scripts/activemq.sh start    # idempotent: reuses a broker that already answers
#   scripts/activemq.sh stop
#   scripts/activemq.sh status
#
# The broker runs Debian's `activemq` package in the foreground JVM with its own activemq.xml:
# OpenWire on 127.0.0.1:61616 and STOMP on 127.0.0.1:61613, no JMX, a private KahaDB under
# $SLUICE_RUN_DIR/activemq. Like a stock ActiveMQ (and Amazon MQ), it has no broker-side
# redelivery: a STOMP NACK is a poison ack and the message goes to ActiveMQ.DLQ. Settings:
#   SLUICE_ACTIVEMQ_PORT        OpenWire port (default 61616)
#   SLUICE_ACTIVEMQ_STOMP_PORT  STOMP port (default 61613)
#   SLUICE_RUN_DIR              where data and logs go (default /tmp/sluice-run)
#   SLUICE_ACTIVEMQ_USERS       "user:password,..." turns authentication on (default: off)
#   SLUICE_ACTIVEMQ_SSL_PORT    adds OpenWire over TLS on this port, with a self-signed
#                               certificate for localhost and 127.0.0.1 (its PEM is written to
#                               $SLUICE_RUN_DIR/activemq/broker.pem for clients to trust)
# The OpenWire tests compile a small JMS program with the package's jars, so a JDK is
# installed too. XStream and Jettison go on the broker's classpath, as they are in the Apache
# distribution's lib/optional (Debian's package leaves them out): ActiveMQ's STOMP transport
# needs them to hand over map messages, such as the statistics plugin's answers that Sluice
# reads for the backlog.
set -euo pipefail

run_dir=${SLUICE_RUN_DIR:-/tmp/sluice-run}
base=$run_dir/activemq
port=${SLUICE_ACTIVEMQ_PORT:-61616}
stomp_port=${SLUICE_ACTIVEMQ_STOMP_PORT:-61613}

log() { printf 'activemq: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install() {
  command -v activemq >/dev/null && command -v javac >/dev/null &&
    [ -f /usr/share/java/xstream.jar ] && [ -f /usr/share/java/jettison.jar ] && return
  log "installing Debian's activemq, XStream, Jettison and a JDK"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq activemq libxstream-java \
    libjettison-java default-jdk-headless >/dev/null
}

# <sslContext> and the TLS connector for SLUICE_ACTIVEMQ_SSL_PORT, with a keystore made once.
ssl_context() {
  [ -n "${SLUICE_ACTIVEMQ_SSL_PORT:-}" ] || return 0
  if [ ! -f "$base/conf/broker.ks" ]; then
    keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 \
      -dname "CN=localhost" -ext "SAN=dns:localhost,ip:127.0.0.1" \
      -keystore "$base/conf/broker.ks" -storepass sluice-test -keypass sluice-test -noprompt 2>/dev/null
    keytool -exportcert -rfc -alias broker -keystore "$base/conf/broker.ks" \
      -storepass sluice-test -file "$base/broker.pem" 2>/dev/null
  fi
  echo "    <sslContext><sslContext keyStore=\"file:$base/conf/broker.ks\" keyStorePassword=\"sluice-test\"/></sslContext>"
}

ssl_connector() {
  [ -n "${SLUICE_ACTIVEMQ_SSL_PORT:-}" ] || return 0
  echo "      <transportConnector name=\"ssl\" uri=\"ssl://127.0.0.1:$SLUICE_ACTIVEMQ_SSL_PORT\"/>"
}

# <plugins>: the statistics plugin (tests ask it whether a queue is empty), for
# SLUICE_ACTIVEMQ_USERS ActiveMQ's simple authentication, one group for all, and for
# SLUICE_ACTIVEMQ_READABLE authorization (see below).
plugins() {
  echo "    <plugins><statisticsBrokerPlugin/>"
  if [ -n "${SLUICE_ACTIVEMQ_USERS:-}" ]; then
    echo "      <simpleAuthenticationPlugin><users>"
    local pair
    for pair in ${SLUICE_ACTIVEMQ_USERS//,/ }; do
      echo "        <authenticationUser username=\"${pair%%:*}\" password=\"${pair#*:}\" groups=\"users\"/>"
    done
    echo "      </users></simpleAuthenticationPlugin>"
  fi
  if [ -n "${SLUICE_ACTIVEMQ_READABLE:-}" ]; then
    # Users may read only the queues SLUICE_ACTIVEMQ_READABLE names (an ActiveMQ wildcard);
    # they may write and administer every destination. Entries add up, so the catch-all
    # entry grants reading to a group nobody is in.
    echo "      <authorizationPlugin><map><authorizationMap><authorizationEntries>"
    echo "        <authorizationEntry queue=\">\" read=\"admins\" write=\"users\" admin=\"users\"/>"
    echo "        <authorizationEntry queue=\"$SLUICE_ACTIVEMQ_READABLE\" read=\"users\"/>"
    echo "        <authorizationEntry topic=\">\" read=\"users\" write=\"users\" admin=\"users\"/>"
    echo "      </authorizationEntries><tempDestinationAuthorizationEntry>"
    echo "        <tempDestinationAuthorizationEntry read=\"users\" write=\"users\" admin=\"users\"/>"
    echo "      </tempDestinationAuthorizationEntry></authorizationMap></map></authorizationPlugin>"
  fi
  echo "    </plugins>"
}

# The broker's JVM (a child of the activemq shell wrapper): found by its private config path.
jvm_pid() { pgrep -f -- "-Dactivemq.conf=$base/conf" | head -n 1; }

start() {
  install
  if port_open "$stomp_port" && port_open "$port"; then
    if [ -n "$(jvm_pid)" ]; then
      log "broker already up (openwire $port, stomp $stomp_port)"
      return
    fi
    log "ports $port/$stomp_port are taken by something else; set SLUICE_ACTIVEMQ_PORT/_STOMP_PORT"
    exit 1
  fi
  mkdir -p "$base/conf" "$base/data"
  cp /etc/activemq/instances-available/main/log4j2.properties "$base/conf/" 2>/dev/null || true
  cat >"$base/conf/activemq.xml" <<XML
<beans xmlns="http://www.springframework.org/schema/beans"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
       http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" brokerName="sluice"
          dataDirectory="$base/data">
    <persistenceAdapter>
      <kahaDB directory="$base/data/kahadb"/>
    </persistenceAdapter>
$(plugins)
$(ssl_context)
    <transportConnectors>
$(ssl_connector)
      <transportConnector name="openwire" uri="tcp://127.0.0.1:$port"/>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:$stomp_port"/>
    </transportConnectors>
  </broker>
</beans>
XML
  log "starting on 127.0.0.1 (openwire $port, stomp $stomp_port; data in $base)"
  ACTIVEMQ_USER=root ACTIVEMQ_CONF="$base/conf" ACTIVEMQ_DATA="$base/data" \
    ACTIVEMQ_PIDFILE="$base/amq.pid" ACTIVEMQ_OPTS="-Xms128M -Xmx256M" \
    ACTIVEMQ_USER_CLASSPATH=/usr/share/java/xstream.jar:/usr/share/java/jettison.jar \
    nohup activemq console "xbean:file:$base/conf/activemq.xml" >"$base/activemq.log" 2>&1 &
  local wrapper=$!
  for _ in $(seq 1 120); do
    kill -0 "$wrapper" 2>/dev/null || break
    if port_open "$stomp_port" && port_open "$port"; then
      log "ready"
      return
    fi
    sleep 0.5
  done
  log "did not start within 60s; see $base/activemq.log"
  tail -n 30 "$base/activemq.log" >&2 || true
  exit 1
}

stop() {
  local pid
  pid=$(jvm_pid || true)
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if port_open "$stomp_port" && [ -n "$(jvm_pid)" ]; then log "up (stomp $stomp_port)"; else log "down"; exit 1; fi ;;
  pid) jvm_pid ;;
  *) echo "usage: $0 start|stop|status|pid" >&2; exit 2 ;;
esac
