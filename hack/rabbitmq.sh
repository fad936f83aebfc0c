#!/usr/bin/env bash
# Runs a real RabbitMQ broker for integration tests and local development:
# Debian's `rabbitmq-server` package (installed if missing), as a node of its
# own ("vidstream@localhost") that listens on 127.0.0.1:15673 only, with its
# own Erlang port mapper port (14369) and distribution port (35673), so it
# never clashes with a broker started by the package's service on 5672.
#
# Its configuration, database, logs and Erlang cookie live in .data/rabbitmq
# (git-ignored). User "vidstream" (password "vidstream") owns the default
# virtual host. Never point it at data you want to keep.
#
# Usage: hack/rabbitmq.sh [start|stop|status|restart|url|clean]
#   start   install if needed, start, wait until it accepts AMQP connections;
#           prints the URL for VIDSTREAM_TEST_RABBITMQ_URL on stdout. Does
#           nothing but print it if the broker already runs.
#   stop    stop the broker and wait for it.
#   status  say whether it runs; exit 1 if not.
#   restart stop, then start (what the broker-restart tests do by hand).
#   url     print the URL.
#   clean   stop, then delete the data directory.
#
# Environment: RABBITMQ_DATA_DIR (default .data/rabbitmq), RABBITMQ_PORT
# (default 15673), RABBITMQ_START_TIMEOUT seconds (default 90). Needs root
# (apt-get; the broker then runs as the package's rabbitmq user) or an
# installed package.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${RABBITMQ_DATA_DIR:-$root/.data/rabbitmq}"
host=127.0.0.1
port="${RABBITMQ_PORT:-15673}"
epmd_port="${RABBITMQ_EPMD_PORT:-14369}"
dist_port=$((port + 20000))
node="vidstream@localhost"
user=vidstream
password=vidstream
timeout="${RABBITMQ_START_TIMEOUT:-90}"
url="amqp://$user:$password@$host:$port/"
bin=/usr/lib/rabbitmq/bin

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

log() { echo "rabbitmq: $*" >&2; }

install() {
	if [[ -x "$bin/rabbitmq-server" ]]; then
		return 0
	fi
	if ((EUID != 0)); then
		log "rabbitmq-server is not installed and installing it needs root (apt-get install rabbitmq-server)"
		exit 1
	fi
	log "installing Debian's rabbitmq-server package ..."
	local start=$SECONDS policy=/usr/sbin/policy-rc.d ours=""
	export DEBIAN_FRONTEND=noninteractive
	# The package's service would start a second broker on 5672 on every
	# interface: keep it from starting while the package installs.
	if [[ ! -e "$policy" ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		ours=1
	fi
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends rabbitmq-server >&2 || {
		[[ -n "$ours" ]] && rm -f "$policy"
		exit 1
	}
	[[ -n "$ours" ]] && rm -f "$policy"
	log "installed in $((SECONDS - start))s"
}

# as_broker CMD...: run CMD as the user the broker runs as (the package's
# rabbitmq user when we are root: its files must be owned by it), with the
# environment that names our node, ports and folders.
as_broker() {
	local envs=(
		HOME="$data"
		RABBITMQ_NODENAME="$node"
		RABBITMQ_NODE_IP_ADDRESS="$host"
		RABBITMQ_NODE_PORT="$port"
		RABBITMQ_DIST_PORT="$dist_port"
		ERL_EPMD_PORT="$epmd_port"
		ERL_EPMD_ADDRESS="$host"
		RABBITMQ_CONFIG_FILE="$data/rabbitmq.conf"
		RABBITMQ_ENABLED_PLUGINS_FILE="$data/enabled_plugins"
		RABBITMQ_MNESIA_BASE="$data/mnesia"
		RABBITMQ_LOG_BASE="$data/log"
		RABBITMQ_PID_FILE="$data/rabbitmq.pid"
		RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
	)
	if ((EUID == 0)); then
		runuser -u rabbitmq -- env "${envs[@]}" "$@"
	else
		env "${envs[@]}" "$@"
	fi
}

port_open() {
	(exec 3<>"/dev/tcp/$host/$1") 2>/dev/null
}

running_pid() {
	[[ -s "$data/rabbitmq.pid" ]] || return 1
	local pid
	pid="$(cat "$data/rabbitmq.pid")"
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q beam || return 1
	echo "$pid"
}

start() {
	if running_pid >/dev/null && port_open "$port"; then
		log "already running on $host:$port"
		echo "$url"
		return 0
	fi
	if port_open "$port"; then
		log "port $port is taken by another process; stop it or set RABBITMQ_PORT"
		exit 1
	fi
	install
	local t0=$SECONDS
	mkdir -p "$data/mnesia" "$data/log"
	cat >"$data/rabbitmq.conf" <<CONF
# Written by hack/rabbitmq.sh: a throw-away broker for tests.
listeners.tcp.1 = $host:$port
default_user = $user
default_pass = $password
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
# "guest" may only connect from loopback; "vidstream" too, in effect, since
# the only listener is on loopback.
loopback_users.$user = false
log.console = false
log.file.level = warning
CONF
	echo '[].' >"$data/enabled_plugins"
	if ((EUID == 0)); then
		chown -R rabbitmq:rabbitmq "$data"
	fi
	rm -f "$data/rabbitmq.pid"
	log "starting node $node on $host:$port ..."
	# setsid: the broker outlives this script and gets none of the caller's
	# terminal signals; stop it with `hack/rabbitmq.sh stop`.
	(close_fds; exec </dev/null >"$data/log/startup.log" 2>&1; as_broker setsid "$bin/rabbitmq-server") &
	local deadline=$((SECONDS + timeout))
	until as_broker "$bin/rabbitmqctl" -q -n "$node" await_startup --timeout 5 >/dev/null 2>&1 && port_open "$port"; do
		if ((SECONDS >= deadline)); then
			log "not ready after ${timeout}s; last lines of its log:"
			tail -n 30 "$data/log/startup.log" >&2 || true
			exit 1
		fi
		sleep 0.5
	done
	log "ready on $host:$port in $((SECONDS - t0))s"
	echo "$url"
}

stop() {
	if ! pid="$(running_pid)"; then
		# A node that failed to start may have left its port mapper behind.
		as_broker epmd -port "$epmd_port" -kill >/dev/null 2>&1 || true
		log "not running"
		return 0
	fi
	log "stopping pid $pid ..."
	as_broker "$bin/rabbitmqctl" -q -n "$node" shutdown >&2 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.3
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "still running after 60s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	# The node started its own port mapper on our port; it has no one left to serve.
	as_broker epmd -port "$epmd_port" -kill >/dev/null 2>&1 || true
	log "stopped"
}

status() {
	local pid
	if pid="$(running_pid)" && port_open "$port"; then
		echo "rabbitmq: running on $host:$port (pid $pid, $url)"
	else
		echo "rabbitmq: not running"
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
