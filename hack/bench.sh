#!/usr/bin/env bash
# `make bench`: every system benchmark next to its baseline, in the same
# process, BENCH_ROUNDS times (separate processes, one round after the
# other, so that the machine's background load falls on every pair alike),
# then the table of medians, ratios and targets.
#
# Writes to BENCH_OUT (default .cache/bench):
#   raw.txt    every result, in Go benchmark format (benchstat reads it)
#   table.txt  the table `loadgen bench-table` prints from raw.txt
#
# Everything listens on 127.0.0.1 ephemeral ports: no fixed port, no lock.
# PostgreSQL rows run when VIDSTREAM_TEST_POSTGRES_URL is set, a real Kafka
# when VIDSTREAM_TEST_KAFKA_BROKERS is (as for the tests).
#
# Usage: hack/bench.sh    (BENCH_ROUNDS=3, BENCH_OUT=.cache/bench)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${BENCH_OUT:-$root/.cache/bench}"
rounds="${BENCH_ROUNDS:-3}"
mkdir -p "$out"
raw="$out/raw.txt"

echo "bench: building the benchmark binaries..."
go test -c -o "$out/bench.test" ./services/loadgen/bench
go test -c -o "$out/outbox.test" ./services/internal/outbox

{
	# Configuration lines, which benchstat keeps with the results.
	echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "go: $(go env GOVERSION)"
	echo "cpus: $(nproc)"
	echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "load-average-at-start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$raw"

# bench PKG-DIR BINARY PATTERN BENCHTIME
bench() {
	(cd "$root/$1" && "$2" -test.run '^$' -test.bench "$3" -test.benchtime "$4" -test.timeout 30m) | tee -a "$raw"
}

for ((round = 1; round <= rounds; round++)); do
	echo "bench: round $round of $rounds (load average $(cut -d' ' -f1 /proc/loadavg))"
	bench services/loadgen/bench "$out/bench.test" 'PutProgress' 5000x
	bench services/loadgen/bench "$out/bench.test" 'GetVideo' 20000x
	bench services/loadgen/bench "$out/bench.test" 'EventLatency' 20000x
	bench services/loadgen/bench "$out/bench.test" 'Processes' 1x
	bench services/internal/outbox "$out/outbox.test" 'Relay|BareWriter' 20000x
done
echo "load-average-at-end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw"

echo
go run ./services/loadgen bench-table "$raw" | tee "$out/table.txt"
echo
echo "bench: raw results in ${raw#"$root"/}, table in ${out#"$root"/}/table.txt"
