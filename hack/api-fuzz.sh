#!/usr/bin/env bash
# Property-based API fuzzing of the three REST services with schemathesis,
# against the OpenAPI document each serves at GET /openapi.json
# (`make api-fuzz`; docs/decisions.md says why these options).
#
#   hack/api-fuzz.sh           fuzz the services already running on
#                              127.0.0.1:8081-8083 (`make run` in another
#                              terminal)
#   hack/api-fuzz.sh --stack   build devstack, start the whole system on a
#                              fresh data directory, fuzz it, stop it (also
#                              on failure); what `make api-fuzz` and CI run
#   hack/api-fuzz.sh --install only install schemathesis
#
# schemathesis is pinned with hashes in hack/api-fuzz/requirements.txt and
# installed into a virtualenv under .cache/api-fuzz/ (git-ignored); a stamp
# skips the install while the requirements and the Python are unchanged.
#
# Before fuzzing, the script signs up three fresh users and logs them in
# through the API, and creates two videos: schemathesis sends the first
# user's token (hack/api-fuzz/schemathesis.toml), so authenticated
# operations are exercised beyond 401, and half of watch-history's test
# cases name a video that exists. Logging out or deleting the account
# revokes the token it is called with, so those two operations run last,
# each alone with a token of its own.
#
# Every check schemathesis has runs, with deterministic generation and a
# bounded number of examples; junit reports land in
# .cache/api-fuzz/reports/. Any failure makes the script exit non-zero.
#
# Environment: VIDSTREAM_FUZZ_MAX_EXAMPLES overrides the examples per
# operation and phase; PYTHON picks the interpreter (default python3).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export NO_COLOR=1

cache="$root/.cache/api-fuzz"
venv="$cache/venv"
requirements="$root/hack/api-fuzz/requirements.txt"
config="$root/hack/api-fuzz/schemathesis.toml"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

user_url="http://127.0.0.1:8081"
video_url="http://127.0.0.1:8082"
history_url="http://127.0.0.1:8083"

log() { echo "api-fuzz: $*"; }

# --- schemathesis -------------------------------------------------------------

want_stamp() {
	{
		"$python" -c 'import sys; print(sys.version)'
		cat "$requirements"
	} | sha256sum | cut -d' ' -f1
}

install_schemathesis() {
	if [[ -f "$stamp" && "$(cat "$stamp")" == "$(want_stamp)" && -x "$venv/bin/schemathesis" ]]; then
		log "schemathesis up to date in ${venv#"$root"/}"
		return 0
	fi
	log "installing schemathesis into ${venv#"$root"/} ..."
	local t0=$SECONDS
	rm -rf "$venv"
	mkdir -p "$cache"
	if ! "$python" -m venv "$venv" 2>/dev/null; then
		# Debian's python3 has no venv module (ensurepip) without its package.
		rm -rf "$venv"
		if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
			log "python3 -m venv failed; installing python3-venv with apt"
			apt-get update -qq
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
			"$python" -m venv "$venv"
		else
			echo "api-fuzz: '$python -m venv' failed; install python3-venv" >&2
			return 1
		fi
	fi
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$requirements"
	"$venv/bin/schemathesis" --version
	want_stamp >"$stamp"
	log "installed in $((SECONDS - t0))s"
}

# --- the system under test ------------------------------------------------------

stack_pid=""
stack_data=""

start_stack() {
	local devstack="$root/.cache/devstack/bin/devstack"
	log "building devstack and the services (as make run does) ..."
	go build -o "$devstack" ./services/devstack
	# Jaeger and the services first, in the foreground: the first Jaeger
	# build takes minutes, which the readiness deadline below must not count.
	"$devstack" build -color never
	stack_data="$(mktemp -d)"
	trap stop_stack EXIT
	log "starting devstack on ${stack_data} (log: ${stack_data}/devstack.log)"
	# The embedded parts whatever the environment says, as the e2e test does.
	env -u KAFKA_BROKERS -u OTEL_EXPORTER_OTLP_ENDPOINT -u DEVSTACK_DATA -u DEVSTACK_ROOT \
		"$devstack" -data "$stack_data" -color never >"$stack_data/devstack.log" 2>&1 &
	stack_pid=$!
	local deadline=$((SECONDS + 120))
	until grep -q "vidstream is running" "$stack_data/devstack.log"; do
		if ! kill -0 "$stack_pid" 2>/dev/null; then
			echo "api-fuzz: devstack exited before the system was ready:" >&2
			tail -n 60 "$stack_data/devstack.log" >&2
			return 1
		fi
		if ((SECONDS > deadline)); then
			echo "api-fuzz: the system was not ready after 120s:" >&2
			tail -n 60 "$stack_data/devstack.log" >&2
			return 1
		fi
		sleep 0.5
	done
	local url
	for url in "$user_url" "$video_url" "$history_url"; do
		curl -fsS --max-time 5 "$url/readyz" >/dev/null
	done
	log "system ready"
}

stop_stack() {
	local rc=$?
	set +e
	if [[ -n "$stack_pid" ]] && kill -0 "$stack_pid" 2>/dev/null; then
		log "stopping devstack"
		kill -TERM "$stack_pid"
		local i
		for ((i = 0; i < 600; i++)); do
			kill -0 "$stack_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$stack_pid" 2>/dev/null; then
			echo "api-fuzz: devstack still running after 60s; killing it" >&2
			kill -KILL "$stack_pid"
			rc=1
		fi
		wait "$stack_pid" 2>/dev/null
		grep -E "stopped (watch-history|video|user|jaeger|kafka)" "$stack_data/devstack.log" | sed 's/^/  /'
	fi
	if ((rc != 0)) && [[ -f "$stack_data/devstack.log" ]]; then
		echo "api-fuzz: devstack log (last 80 lines):"
		tail -n 80 "$stack_data/devstack.log"
	fi
	[[ -n "$stack_data" ]] && rm -rf "$stack_data"
	exit "$rc"
}

# --- test data through the API ------------------------------------------------

# json_field FIELD: the named member of the JSON object on stdin.
json_field() { "$python" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# post URL TOKEN BODY: POST a JSON body and print the response body; fails,
# saying why, on any status but 201.
post() {
	local auth=() out status
	[[ -n "$2" ]] && auth=(-H "Authorization: Bearer $2")
	out="$(curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' "${auth[@]}" -d "$3" -w '\n%{http_code}' "$1")"
	status="${out##*$'\n'}"
	if [[ "$status" != 201 ]]; then
		echo "api-fuzz: POST $1: status $status: ${out%$'\n'*}" >&2
		if [[ "$status" == 429 ]]; then
			echo "api-fuzz: logins from this address are throttled after failed ones (an earlier fuzz run of this system); fuzz a fresh one with hack/api-fuzz.sh --stack, or restart make run on an empty data directory" >&2
		fi
		return 1
	fi
	echo "${out%$'\n'*}"
}

# new_token NAME: sign up a fresh user and log in; prints the session token.
new_token() {
	local email password
	email="api-fuzz-$1-$(date +%s%N)@example.com"
	password="fuzz-$RANDOM-$RANDOM-password"
	post "$user_url/v1/users" "" "{\"email\":\"$email\",\"password\":\"$password\",\"display_name\":\"api-fuzz $1\"}" >/dev/null
	post "$user_url/v1/sessions" "" "{\"email\":\"$email\",\"password\":\"$password\"}" | json_field token
}

# --- fuzzing ------------------------------------------------------------------

failed=()

# fuzz NAME URL TOKEN [schemathesis run options...]
fuzz() {
	local name="$1" url="$2" token="$3" t0=$SECONDS rc=0
	shift 3
	echo
	log "== $name: $url/openapi.json"
	VIDSTREAM_FUZZ_TOKEN="$token" "$venv/bin/schemathesis" --config-file "$run_config" run \
		--no-color --report junit --report-junit-path "$cache/reports/$name.xml" \
		"${max_examples[@]}" "$@" "$url/openapi.json" || rc=$?
	if ((rc == 0)); then
		log "== $name: ok ($((SECONDS - t0))s)"
	else
		log "== $name: FAILED with exit code $rc ($((SECONDS - t0))s)"
		failed+=("$name")
	fi
}

main() {
	local mode="${1:-}"
	case "$mode" in
	"" | --stack | --install) ;;
	*)
		echo "usage: hack/api-fuzz.sh [--stack | --install]" >&2
		exit 2
		;;
	esac
	local t0=$SECONDS
	install_schemathesis
	[[ "$mode" == --install ]] && return 0
	if [[ "$mode" == --stack ]]; then
		start_stack
	fi

	local token logout_token delete_token video_ids=() i
	token="$(new_token main)"
	logout_token="$(new_token logout)"
	delete_token="$(new_token delete)"
	for i in 1 2; do
		video_ids+=("$(post "$video_url/v1/videos" "$token" \
			"{\"title\":\"api-fuzz movie $i\",\"kind\":\"movie\",\"duration_seconds\":600}" | json_field id)")
	done
	log "signed up three users, created videos ${video_ids[*]}"

	mkdir -p "$cache/reports"
	run_config="$cache/schemathesis.toml"
	{
		cat "$config"
		echo
		echo "[dictionaries.video-ids]"
		printf 'values = ["%s", "%s"]\n' "${video_ids[@]}"
	} >"$run_config"
	max_examples=()
	if [[ -n "${VIDSTREAM_FUZZ_MAX_EXAMPLES:-}" ]]; then
		max_examples=(--max-examples "$VIDSTREAM_FUZZ_MAX_EXAMPLES")
	fi

	# watch-history before video, whose fuzzing may delete those videos.
	fuzz watch-history "$history_url" "$token"
	fuzz video "$video_url" "$token"
	fuzz user "$user_url" "$token" \
		--exclude-operation-id deleteCurrentUser --exclude-operation-id deleteCurrentSession
	fuzz user-logout "$user_url" "$logout_token" --include-operation-id deleteCurrentSession
	fuzz user-delete "$user_url" "$delete_token" --include-operation-id deleteCurrentUser

	echo
	if ((${#failed[@]} > 0)); then
		log "FAILED: ${failed[*]} ($((SECONDS - t0))s; reports in ${cache#"$root"/}/reports)"
		return 1
	fi
	log "all services passed ($((SECONDS - t0))s)"
}

main "$@"
