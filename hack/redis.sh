#!/usr/bin/env bash
# Runs a real Redis server for integration tests and local development:
# Debian's `redis-server` package (installed if missing) on 127.0.0.1:16379
# only, so it never clashes with the package's own server on 6379. Nothing is
# persisted (no RDB snapshots, no AOF): the cache invalidation it carries is
# ephemeral by design. Its config, log and pid file live in .data/redis
# (git-ignored).
#
# Usage: hack/redis.sh [start|stop|status|restart|url|clean]
#   start   install if needed, start, wait until it answers PING; prints the
#           URL for VIDSTREAM_TEST_REDIS_URL on stdout. Does nothing but print
#           it if the server already runs.
#   stop    stop the server and wait for it.
#   status  say whether it runs; exit 1 if not.
#   restart stop, then start.
#   url     print the URL.
#   clean   stop, then delete the data directory.
#
# Environment: REDIS_DATA_DIR (default .data/redis), REDIS_PORT (default
# 16379), REDIS_START_TIMEOUT seconds (default 30). Needs root (apt-get) or
# an installed package.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${REDIS_DATA_DIR:-$root/.data/redis}"
host=127.0.0.1
port="${REDIS_PORT:-16379}"
timeout="${REDIS_START_TIMEOUT:-30}"
pidfile="$data/redis.pid"
url="redis://$host:$port/0"

# close_fds: close every file descriptor but stdin/stdout/stderr in this
# (sub)shell, so a server started from it never holds a lock (flock) or pipe
# of the shell that started it.
close_fds() {
	local fd n
	for fd in /proc/"$BASHPID"/fd/*; do
		n="${fd##*/}"
		if ((n > 2)); then eval "exec $n>&-" 2>/dev/null || true; fi
	done
}

log() { echo "redis: $*" >&2; }

install() {
	if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
		return 0
	fi
	if ((EUID != 0)); then
		log "redis-server is not installed and installing it needs root (apt-get install redis-server)"
		exit 1
	fi
	log "installing Debian's redis-server package ..."
	local start=$SECONDS policy=/usr/sbin/policy-rc.d ours=""
	export DEBIAN_FRONTEND=noninteractive
	# Keep the package's service (6379) from starting while it installs.
	if [[ ! -e "$policy" ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		ours=1
	fi
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends redis-server redis-tools >&2 || {
		[[ -n "$ours" ]] && rm -f "$policy"
		exit 1
	}
	[[ -n "$ours" ]] && rm -f "$policy"
	log "installed in $((SECONDS - start))s"
}

ping() {
	[[ "$(redis-cli -h "$host" -p "$port" ping 2>/dev/null)" == PONG ]]
}

running_pid() {
	[[ -s "$pidfile" ]] || return 1
	local pid
	pid="$(cat "$pidfile")"
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server || return 1
	echo "$pid"
}

start() {
	if running_pid >/dev/null && ping; then
		log "already running on $host:$port"
		echo "$url"
		return 0
	fi
	if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
		log "port $port is taken by another process; stop it or set REDIS_PORT"
		exit 1
	fi
	install
	local t0=$SECONDS
	mkdir -p "$data"
	cat >"$data/redis.conf" <<CONF
# Written by hack/redis.sh: a throw-away server for tests.
bind $host
port $port
protected-mode yes
daemonize no
pidfile $pidfile
dir $data
logfile $data/redis.log
save ""
appendonly no
maxmemory 64mb
CONF
	rm -f "$pidfile"
	log "starting on $host:$port ..."
	# setsid: the server outlives this script; stop it with `hack/redis.sh stop`.
	(close_fds; exec </dev/null >/dev/null 2>&1; setsid redis-server "$data/redis.conf") &
	local deadline=$((SECONDS + timeout))
	until running_pid >/dev/null && ping; do
		if ((SECONDS >= deadline)); then
			log "not ready after ${timeout}s; last lines of its log:"
			tail -n 20 "$data/redis.log" >&2 || true
			exit 1
		fi
		sleep 0.2
	done
	log "ready on $host:$port in $((SECONDS - t0))s"
	echo "$url"
}

stop() {
	local pid
	if ! pid="$(running_pid)"; then
		log "not running"
		return 0
	fi
	log "stopping pid $pid ..."
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 30))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "still running after 30s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	log "stopped"
}

status() {
	local pid
	if pid="$(running_pid)" && ping; then
		echo "redis: running on $host:$port (pid $pid, $url)"
	else
		echo "redis: not running"
		return 1
	fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
restart) stop && start ;;
status) status ;;
url) echo "$url" ;;
clean)
	stop
	rm -rf "$data"
	log "removed ${data#"$root"/}"
	;;
*)
	echo "usage: $0 [start|stop|status|restart|url|clean]" >&2
	exit 2
	;;
esac
