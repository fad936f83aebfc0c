#!/bin/bash
# Entrypoint of the cluster's PostgreSQL image (hack/cluster-images.sh): what
# the chart relies on of the official image's docker-entrypoint.sh.
#
#   - arguments starting with "-" are postgres options: `postgres -c k=v ...`
#   - with an empty $PGDATA: initdb with superuser $POSTGRES_USER and password
#     $POSTGRES_PASSWORD, listening on every address, password
#     (scram-sha-256) authentication over TCP,
#     then /docker-entrypoint-initdb.d/*.sh (executable ones run, others are
#     sourced) and *.sql, against a server listening on its socket only
#   - then exec postgres in the foreground
set -Eeuo pipefail

if [[ "${1:-}" == -* ]]; then
	set -- postgres "$@"
fi
if [[ "$1" != postgres ]]; then
	exec "$@"
fi

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
	if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
		echo "docker-entrypoint.sh: POSTGRES_PASSWORD is not set; refusing to create a database without one" >&2
		exit 1
	fi
	mkdir -p "$PGDATA"
	chmod 700 "$PGDATA"
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		--auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
	printf '\n# Added by docker-entrypoint.sh: password authentication from anywhere.\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
	# Debian's default is localhost only; a server in a pod serves its Service.
	printf "\n# Added by docker-entrypoint.sh.\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
	export PGUSER="$POSTGRES_USER" PGPASSWORD="$POSTGRES_PASSWORD"
	if [[ "$POSTGRES_DB" != postgres ]]; then
		psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sh)
			if [[ -x "$f" ]]; then
				echo "docker-entrypoint.sh: running $f"
				"$f"
			else
				echo "docker-entrypoint.sh: sourcing $f"
				# shellcheck disable=SC1090
				. "$f"
			fi
			;;
		*.sql)
			echo "docker-entrypoint.sh: running $f"
			psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname "$POSTGRES_DB" -f "$f"
			;;
		esac
	done
	unset PGPASSWORD
	pg_ctl -D "$PGDATA" -m fast -w stop
	echo "docker-entrypoint.sh: database initialised"
fi

exec "$@"
