#!/usr/bin/env bash
# Runs a real single-node Apache Kafka 4.x broker (KRaft, broker+controller in
# one JVM) on 127.0.0.1:19092 for integration tests and local development.
#
# The broker is assembled from Maven Central (hack/kafka/pom.xml) into
# hack/kafka/lib; its data, logs and pid file live in .data/kafka (both
# git-ignored). Needs Java 17+ and Maven.
#
# Usage: hack/kafka.sh [start|stop|status|restart|clean|assemble]
#   start     assemble if needed, format storage if needed, start, wait until
#             ready; prints the bootstrap address (for
#             VIDSTREAM_TEST_KAFKA_BROKERS) on stdout. Does nothing but print
#             it if the broker already runs.
#   stop      stop the broker started by start (by pid) and wait for it.
#   status    say whether it runs (pid, RSS); exit 1 if not.
#   clean     stop, then delete the data directory (topics, offsets, logs).
#   assemble  only fetch the jars.
#
# Environment: KAFKA_DATA_DIR (default .data/kafka), KAFKA_HEAP (default 512m),
# KAFKA_PORT (default 19092), KAFKA_CONTROLLER_PORT (default 19093),
# KAFKA_START_TIMEOUT seconds (default 90), JAVA_HOME. Another data directory
# and other ports let a second broker run beside the first.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kdir="$root/hack/kafka"
lib="$kdir/lib"
data="${KAFKA_DATA_DIR:-$root/.data/kafka}"
heap="${KAFKA_HEAP:-512m}"
timeout="${KAFKA_START_TIMEOUT:-90}"
pidfile="$data/kafka.pid"
host=127.0.0.1
port="${KAFKA_PORT:-19092}"
controller_port="${KAFKA_CONTROLLER_PORT:-19093}"
bootstrap="$host:$port"
# Any valid base64url-encoded UUID; fixed so that re-formatting is reproducible.
cluster_id="dmlkc3RyZWFtLWthZmthMQ"

java="${JAVA_HOME:+$JAVA_HOME/bin/}java"

log() { echo "kafka: $*" >&2; }

assemble() {
	local stamp="$lib/.assembled-from"
	local want
	want="$(sha256sum "$kdir/pom.xml" | cut -d' ' -f1)"
	if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
		return 0
	fi
	log "assembling the broker's classpath from hack/kafka/pom.xml ..."
	local start=$SECONDS
	rm -rf "$lib"
	# (sed: Debian's Maven prints colour resets even in batch mode.)
	mvn -q -B -Dstyle.color=never -f "$kdir/pom.xml" dependency:copy-dependencies 2>&1 |
		sed 's/\x1b\[[0-9;]*m//g' >&2
	if ! compgen -G "$lib/kafka_2.13-*.jar" >/dev/null; then
		log "no kafka_2.13 jar in $lib after mvn" >&2
		exit 1
	fi
	echo "$want" >"$stamp"
	log "assembled $(find "$lib" -name '*.jar' | wc -l) jars in $((SECONDS - start))s"
}

running_pid() {
	[[ -f "$pidfile" ]] || return 1
	local pid
	pid="$(cat "$pidfile")"
	[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
	# Guard against a recycled pid: it must be our JVM.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
	echo "$pid"
}

port_open() {
	(exec 3<>"/dev/tcp/$host/$1") 2>/dev/null
}

java_run() {
	# shellcheck disable=SC2086 # JVM options are word-split on purpose.
	"$java" $jvm_opts -cp "$lib/*" "$@"
}

jvm_opts="-Xms$heap -Xmx$heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
-Djava.awt.headless=true -Dlog4j2.configurationFile=$kdir/log4j2.xml -Dkafka.logs.dir=$data/logs"

start() {
	local pid
	if pid="$(running_pid)"; then
		log "already running (pid $pid)"
		wait_ready "$pid"
		echo "$bootstrap"
		return 0
	fi
	if port_open "$port" || port_open "$controller_port"; then
		log "port $port or $controller_port is taken by another process; stop it first" >&2
		exit 1
	fi
	command -v "$java" >/dev/null || { log "java not found (set JAVA_HOME)"; exit 1; }
	assemble

	local t0=$SECONDS
	mkdir -p "$data/logs"
	{
		cat "$kdir/server.properties"
		echo
		echo "# Added by hack/kafka.sh (later keys override earlier ones)"
		echo "log.dirs=$data/kraft-logs"
		if [[ "$port:$controller_port" != "19092:19093" ]]; then
			echo "controller.quorum.bootstrap.servers=$host:$controller_port"
			echo "listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$controller_port"
			echo "advertised.listeners=PLAINTEXT://$host:$port"
		fi
	} >"$data/server.properties"

	if [[ ! -f "$data/kraft-logs/meta.properties" ]]; then
		log "formatting storage in ${data#"$root"/}/kraft-logs ..."
		java_run kafka.tools.StorageTool format -t "$cluster_id" -c "$data/server.properties" --standalone >&2
	fi

	log "starting broker on $bootstrap (heap $heap) ..."
	# Readiness is read from this run's log only.
	for f in "$data/logs/server.log" "$data/logs/kafka.out"; do
		[[ -f "$f" ]] && mv -f "$f" "$f.previous"
	done
	rm -f "$pidfile"
	# setsid: the broker outlives this script and gets none of the caller's
	# terminal signals; stop it with `hack/kafka.sh stop`. The shell writes its
	# own pid, which exec hands on to the JVM.
	# shellcheck disable=SC2016,SC2086
	setsid bash -c 'echo $$ >"$1"; shift; exec "$@" </dev/null' kafka "$pidfile" \
		"$java" $jvm_opts -cp "$lib/*" kafka.Kafka "$data/server.properties" \
		>"$data/logs/kafka.out" 2>&1 &
	local deadline=$((SECONDS + 10))
	until [[ -s "$pidfile" ]]; do
		if ((SECONDS >= deadline)); then
			log "the broker did not start"
			exit 1
		fi
		sleep 0.1
	done
	pid="$(cat "$pidfile")"
	wait_ready "$pid"
	log "ready on $bootstrap in $((SECONDS - t0))s (pid $pid, RSS $(rss "$pid"))"
	echo "$bootstrap"
}

# wait_ready PID: bounded wait until the broker logged that it started and
# accepts connections.
wait_ready() {
	local pid="$1" deadline=$((SECONDS + timeout))
	while ((SECONDS < deadline)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "the broker exited during start-up; last lines of its logs:"
			tail -n 30 "$data/logs/kafka.out" >&2 || true
			tail -n 30 "$data/logs/server.log" >&2 || true
			rm -f "$pidfile"
			exit 1
		fi
		if grep -qs 'Kafka Server started' "$data/logs/server.log" && port_open "$port"; then
			return 0
		fi
		sleep 0.5
	done
	log "not ready after ${timeout}s; last lines of its log:"
	tail -n 30 "$data/logs/server.log" >&2 || true
	exit 1
}

rss() {
	awk '/^VmRSS/ {printf "%d MiB", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo "?"
}

stop() {
	local pid
	if ! pid="$(running_pid)"; then
		log "not running"
		rm -f "$pidfile"
		return 0
	fi
	log "stopping pid $pid ..."
	kill -TERM "$pid"
	local deadline=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.5
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "still running after 60s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 1
	fi
	rm -f "$pidfile"
	log "stopped"
}

status() {
	local pid
	if pid="$(running_pid)"; then
		echo "kafka: running on $bootstrap (pid $pid, RSS $(rss "$pid"))"
	else
		echo "kafka: not running"
		return 1
	fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
restart) stop && start ;;
status) status ;;
clean)
	stop
	rm -rf "$data"
	log "removed ${data#"$root"/}"
	;;
assemble) assemble ;;
*)
	echo "usage: $0 [start|stop|status|restart|clean|assemble]" >&2
	exit 2
	;;
esac
