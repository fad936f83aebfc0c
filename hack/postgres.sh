#!/usr/bin/env bash
# Runs a real PostgreSQL server for integration tests and local development:
# Debian's `postgresql` package (installed if missing), in a dedicated cluster
# named "vidstream" that listens on 127.0.0.1:15432 only, so it never clashes
# with a default cluster on 5432 (same scheme as Kafka's 19092).
#
# Role "vidstream" (password "vidstream", CREATEDB, so a test suite can create a
# fresh database of its own) owns the database "vidstream_test".
#
# The cluster is tuned for tests, not for durability: fsync, synchronous_commit
# and full_page_writes are off. Never point it at data you want to keep.
#
# Usage: hack/postgres.sh [start|stop|status|url|destroy]
#   start   install if needed, create the cluster if needed, start it, wait until
#           it accepts connections, create role and database; prints the URL
#           for VIDSTREAM_TEST_POSTGRES_URL on stdout. Idempotent.
#   stop    stop the cluster.
#   status  say whether it runs; exit 1 if not.
#   url     print the URL.
#   destroy stop and delete the cluster with all its data.
#
# Environment: POSTGRES_PORT (default 15432), POSTGRES_CLUSTER (default
# vidstream), POSTGRES_START_TIMEOUT seconds (default 60). Needs root (apt-get) or an existing cluster you may control.
set -euo pipefail

cluster="${POSTGRES_CLUSTER:-vidstream}"
port="${POSTGRES_PORT:-15432}"
host=127.0.0.1
user=vidstream
password=vidstream
db=vidstream_test
timeout="${POSTGRES_START_TIMEOUT:-60}"
url="postgres://$user:$password@$host:$port/$db?sslmode=disable"

log() { echo "postgres: $*" >&2; }

# Newest installed server version (e.g. 15), or nothing.
server_version() {
	local d v=""
	for d in /usr/lib/postgresql/*/bin/postgres; do
		[[ -x "$d" ]] || continue
		d="${d#/usr/lib/postgresql/}"
		d="${d%%/*}"
		if [[ -z "$v" ]] || ((d > v)); then v="$d"; fi
	done
	echo "$v"
}

install() {
	if [[ -n "$(server_version)" ]] && command -v pg_ctlcluster >/dev/null; then
		return 0
	fi
	log "installing Debian's postgresql package ..."
	local start=$SECONDS
	export DEBIAN_FRONTEND=noninteractive
	# Do not create and start the default "main" cluster on 5432: we make our own.
	mkdir -p /etc/postgresql-common/createcluster.d
	echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/50-vidstream-no-main.conf
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends postgresql postgresql-client >&2
	log "installed in $((SECONDS - start))s"
}

psql_admin() {
	runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "$port" -d postgres "$@"
}

start() {
	install
	local ver t0=$SECONDS
	ver="$(server_version)"
	if [[ -z "$(cluster_field 1)" ]]; then
		log "creating cluster $ver/$cluster on $host:$port ..."
		pg_createcluster "$ver" "$cluster" -p "$port" -- --auth-local=peer --auth-host=scram-sha-256 >&2
		cat >"/etc/postgresql/$ver/$cluster/conf.d/vidstream-tests.conf" <<EOF
# Written by hack/postgres.sh: a throw-away server for tests.
listen_addresses = '$host'
port = $port
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
	fi
	if [[ "$(cluster_field 3)" != "$port" ]]; then
		log "cluster $cluster exists on port $(cluster_field 3), not $port; run '$0 destroy' first"
		exit 1
	fi
	if [[ "$(cluster_field 4)" != online* ]]; then
		if pg_isready -q -h "$host" -p "$port"; then
			log "another server already listens on $host:$port; stop it or set POSTGRES_PORT"
			exit 1
		fi
		log "starting cluster $ver/$cluster ..."
		# Debian's postgresql starts as the postgres user and needs its run dir.
		mkdir -p /var/run/postgresql
		chown postgres:postgres /var/run/postgresql
		pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" start >&2
	fi

	local deadline=$((SECONDS + timeout))
	until pg_isready -q -h "$host" -p "$port"; do
		if ((SECONDS >= deadline)); then
			log "not accepting connections after ${timeout}s; see /var/log/postgresql/postgresql-$ver-$cluster.log"
			tail -n 20 "/var/log/postgresql/postgresql-$ver-$cluster.log" >&2 || true
			exit 1
		fi
		sleep 0.3
	done

	psql_admin <<EOF
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN
    CREATE ROLE $user LOGIN CREATEDB PASSWORD '$password';
  ELSE
    ALTER ROLE $user LOGIN CREATEDB PASSWORD '$password';
  END IF;
END
\$\$;
-- Test databases are dropped WITH (FORCE), which must end other sessions on
-- them (autovacuum after a heavy test, a leaked pool); a non-superuser may
-- only do that with pg_signal_backend.
GRANT pg_signal_backend TO $user;
EOF
	if [[ "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]]; then
		psql_admin -c "CREATE DATABASE $db OWNER $user"
	fi
	# Prove the URL works as the tests will use it.
	PGPASSWORD="$password" psql -X -q -h "$host" -p "$port" -U "$user" -d "$db" -tA -c 'SELECT 1' >/dev/null
	log "ready on $host:$port in $((SECONDS - t0))s"
	echo "$url"
}

stop() {
	local ver
	ver="$(cluster_field 1)"
	if [[ -z "$ver" ]]; then
		log "no cluster $cluster"
		return 0
	fi
	if [[ "$(cluster_field 4)" == online* ]]; then
		pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" stop -m fast >&2
		log "stopped"
	else
		log "not running"
	fi
}

# cluster_field N: column N of pg_lsclusters for our cluster (1 version, 3 port, 4 status).
cluster_field() {
	command -v pg_lsclusters >/dev/null || return 0
	pg_lsclusters -h 2>/dev/null | awk -v c="$cluster" -v n="$1" '$2 == c {print $n}'
}

status() {
	if [[ "$(cluster_field 4)" == online* ]] && pg_isready -q -h "$host" -p "$port"; then
		echo "postgres: running on $host:$port ($url)"
	else
		echo "postgres: cluster $cluster not running"
		return 1
	fi
}

destroy() {
	local ver
	ver="$(cluster_field 1)"
	if [[ -n "$ver" ]]; then
		pg_dropcluster --stop "$ver" "$cluster" >&2
		log "dropped cluster $ver/$cluster"
	fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
status) status ;;
url) echo "$url" ;;
destroy) destroy ;;
*)
	echo "usage: $0 [start|stop|status|url|destroy]" >&2
	exit 2
	;;
esac
